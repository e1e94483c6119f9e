/**
 * Writing a file so that a crash or a full disk never leaves half of it: the
 * data goes to a temporary name beside the target, which is then renamed
 * over it (atomic on one file system).
 *
 * @module
 */
import { dirname } from "node:path";

/**
 * Writes `data` to `path` atomically, creating its directory; on failure the
 * temporary file is removed and the error rethrown (the previous `path`, if
 * any, is untouched). The temporary name is unique to the call, so threads
 * of one process (which share a pid) may write the same path at once: the
 * last rename wins, whole.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { writeFileAtomic } from "./files.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/run/history.csv`, "epoch,acc\r\n");
 * assertEquals(await Deno.readTextFile(`${dir}/run/history.csv`), "epoch,acc\r\n");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID()}`;
  try {
    await Deno.mkdir(dirname(path), { recursive: true });
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

/**
 * Rebuilds `winograd.wasm` from `winograd.as.ts` with the AssemblyScript
 * compiler (npm `assemblyscript`, pinned to {@link ASC_VERSION}).
 *
 * Run: `deno run -A lib/kernels/winograd/build.ts` (writes winograd.wasm), or
 * with `--out FILE` to write elsewhere (the equality test does that). The
 * compiler runs with `--no-config --no-lock`, so the project's deno.json and
 * deno.lock are left alone; it comes from Deno's global npm cache.
 *
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";

/** The exact `assemblyscript` npm version the committed binary was built with. */
export const ASC_VERSION = "0.28.20";

/** Compiler flags: SIMD, the backend's memory imported, no runtime, -O3. */
export const ASC_FLAGS = [
  "-O3",
  "--noAssert",
  "--runtime",
  "stub",
  "--importMemory",
  "--noExportMemory",
  "--enable",
  "simd",
] as const;

/** Path of the AssemblyScript source. */
export const SOURCE = fromFileUrl(new URL("./winograd.as.ts", import.meta.url));
/** Path of the committed binary. */
export const BINARY = fromFileUrl(new URL("./winograd.wasm", import.meta.url));

/**
 * Compiles {@link SOURCE} into `out` (default {@link BINARY}).
 *
 * @throws {Error} when the compiler cannot be run or fails.
 */
export async function build(out: string = BINARY): Promise<void> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-config",
      "--no-lock",
      "-A",
      `npm:assemblyscript@${ASC_VERSION}/asc`,
      SOURCE,
      ...ASC_FLAGS,
      "-o",
      out,
    ],
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(
      `asc failed (exit ${code}): ${new TextDecoder().decode(stderr)}`,
    );
  }
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--out");
  const out = i >= 0 ? Deno.args[i + 1] : BINARY;
  await build(out);
  console.log(`wrote ${out}`);
}

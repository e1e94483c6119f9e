/**
 * Tests of lib/files.ts: an atomic write replaces the file whole, and a
 * failed one leaves the previous file and no temporary file.
 *
 * Run: deno test --allow-read --allow-write tests/files_test.ts
 */
import { assertEquals, assertRejects } from "@std/assert";
import { join } from "node:path";
import { writeFileAtomic } from "../lib/files.ts";

Deno.test("writeFileAtomic writes, replaces, and on failure leaves the previous file", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "sub", "report.html");
  await writeFileAtomic(path, "first");
  await writeFileAtomic(path, new TextEncoder().encode("second"));
  assertEquals(await Deno.readTextFile(path), "second");
  // A directory where the temporary file's rename must land: the write fails.
  const blocked = join(dir, "blocked");
  await Deno.mkdir(join(blocked, "x"), { recursive: true });
  await assertRejects(() => writeFileAtomic(blocked, "data"));
  assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
    "blocked",
    "sub",
  ]);
  assertEquals([...Deno.readDirSync(join(dir, "sub"))].map((e) => e.name), [
    "report.html",
  ]);
  await Deno.remove(dir, { recursive: true });
});

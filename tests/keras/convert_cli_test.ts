/**
 * `deno task convert` chains the three formats with identical predictions,
 * `deno task predict --model` reads each, and bad arguments or files get one
 * clear line.
 *
 * Run: deno test --allow-read --allow-write --allow-env --allow-run tests/keras/convert_cli_test.ts
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import { join } from "node:path";
import { denoTask, trainedModel } from "../helpers.ts";

const task = denoTask;

Deno.test("convert: directory → .h5 → .keras → directory, predictions identical", async () => {
  const { dir } = await trainedModel();
  const tmp = await Deno.makeTempDir();
  const chain = [dir, join(tmp, "a.h5"), join(tmp, "b.keras"), join(tmp, "c")];
  for (let i = 1; i < chain.length; i++) {
    const run = await task("convert", chain[i - 1], chain[i]);
    assertEquals(run.code, 0, run.errors.join("\n"));
    assertStringIncludes(run.stdout, `Converted ${chain[i - 1]} → ${chain[i]}`);
  }
  const outputs = [];
  for (const model of chain) {
    const run = await task(
      "predict",
      "--model",
      model,
      "--json",
      "--count",
      "20",
    );
    assertEquals(run.code, 0, run.errors.join("\n"));
    outputs.push(JSON.parse(run.stdout));
  }
  for (const out of outputs.slice(1)) {
    assertEquals(out, outputs[0], "the same predictions and probabilities");
  }
  await Deno.remove(tmp, { recursive: true });
});

Deno.test("convert and predict --model: bad arguments and files, one clear line", async () => {
  const tmp = await Deno.makeTempDir();
  const notH5 = join(tmp, "notes.h5");
  await Deno.writeTextFile(notH5, "hello");
  const cases: [string[], number, string][] = [
    [
      ["convert", "only-one"],
      2,
      "error: convert takes two paths, IN and OUT; got 1",
    ],
    [["convert", "--fast", "a", "b"], 2, "error: unknown flag '--fast'"],
    [
      ["convert", notH5, join(tmp, "x.keras")],
      1,
      `error: ${notH5}: not an HDF5 file (no HDF5 signature)`,
    ],
    [
      ["predict", "--model", notH5],
      1,
      `error: ${notH5}: not an HDF5 file (no HDF5 signature)`,
    ],
  ];
  for (const [args, code, first] of cases) {
    const run = await task(...args);
    assertEquals(run.code, code, args.join(" "));
    assertEquals(run.errors[0], first, args.join(" "));
  }
  assertEquals(
    [...Deno.readDirSync(tmp)].map((e) => e.name),
    ["notes.h5"],
    "no partial output",
  );
  await Deno.remove(tmp, { recursive: true });
});

/**
 * `deno task predict` on pictures (`--image`, `--show`) and as JSON
 * (`--json`, in both modes), with the test's trained model; bad pictures
 * and flags give one clear line.
 *
 * Run: deno test --allow-read --allow-write --allow-env --allow-run tests/predict_cli_test.ts
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { denoTask, trainedModel } from "./helpers.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SAMPLES = join(ROOT, "notebooks", "sample_digits");

const predict = (...args: string[]) => denoTask("predict", ...args);

const { dir } = await trainedModel();

Deno.test("--image DIR: one line per picture, most sample digits read right", async () => {
  const run = await predict("--model-dir", dir, "--image", SAMPLES);
  assertEquals(run.code, 0, run.errors.join("\n"));
  const lines = run.stdout.trim().split("\n");
  assertEquals(lines.length, 10);
  let right = 0;
  for (const line of lines) {
    const m = line.match(
      /^(.+digit_(\d)\.(?:png|jpg)): (\d) \(p=(\d\.\d\d); then (\d) (\d\.\d\d), (\d) (\d\.\d\d)\)$/,
    );
    if (!m) throw new Error(`unexpected line: ${line}`);
    if (m[2] === m[3]) right++;
    assert(Number(m[4]) >= Number(m[6]) && Number(m[6]) >= Number(m[8]), line);
  }
  assert(right >= 8, `${right}/10 sample digits read right:\n${run.stdout}`);
});

Deno.test("--image twice and --show: the 28x28 the model sees, as shading", async () => {
  const run = await predict(
    "--model-dir",
    dir,
    "--image",
    join(SAMPLES, "digit_7.png"),
    "--image",
    join(SAMPLES, "digit_4.jpg"),
    "--show",
  );
  assertEquals(run.code, 0, run.errors.join("\n"));
  const lines = run.stdout.split("\n");
  assertMatch(lines[0], /digit_7\.png: \d \(p=/);
  assertMatch(lines[29], /digit_4\.jpg: \d \(p=/);
  assert(lines.slice(1, 29).some((l) => l.includes("@")), "no shading");
});

Deno.test("--json: one line, images, classes and ten probabilities each", async () => {
  const run = await predict("--model-dir", dir, "--image", SAMPLES, "--json");
  assertEquals(run.code, 0, run.errors.join("\n"));
  assertEquals(run.stdout.trim().split("\n").length, 1);
  const out = JSON.parse(run.stdout);
  assertEquals(Object.keys(out), [
    "images",
    "classes",
    "classNames",
    "probabilities",
  ]);
  assertEquals(out.classNames, [..."0123456789"], "an MNIST model's digits");
  assertEquals(out.images.length, 10);
  assertEquals(out.classes.length, 10);
  for (const [i, p] of (out.probabilities as number[][]).entries()) {
    assertEquals(p.length, 10);
    assert(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-3);
    assertEquals(p.indexOf(Math.max(...p)), out.classes[i]);
  }
});

Deno.test("--json in MNIST mode: start, labels, classes, probabilities", async () => {
  const run = await predict(
    "--model-dir",
    dir,
    "--json",
    "--start",
    "3",
    "--count",
    "4",
  );
  assertEquals(run.code, 0, run.errors.join("\n"));
  const out = JSON.parse(run.stdout);
  assertEquals(Object.keys(out), [
    "start",
    "labels",
    "classes",
    "classNames",
    "probabilities",
  ]);
  assertEquals(out.start, 3);
  assertEquals(out.labels, [1, 9, 2, 1]);
  assertEquals(out.probabilities.length, 4);
});

Deno.test("bad pictures and flags: one clear line naming the file or flag", async () => {
  const tmp = await Deno.makeTempDir();
  const gif = join(tmp, "seven.gif.png");
  await Deno.writeFile(gif, new TextEncoder().encode("GIF89a......"));
  const blank = join(tmp, "blank.png");
  const { encode } = await import("fast-png");
  await Deno.writeFile(
    blank,
    encode({
      width: 8,
      height: 8,
      data: new Uint8Array(64).fill(255),
      channels: 1,
    }),
  );
  const cases: [string[], number, string][] = [
    [
      ["--image", join(tmp, "missing.png")],
      1,
      `error: ${join(tmp, "missing.png")}: no such file or directory`,
    ],
    [
      ["--image", gif],
      1,
      `error: ${gif}: not a PNG or JPEG picture (looks like GIF): use PNG or JPEG`,
    ],
    [["--image", blank], 1, `error: ${blank}: no digit found`],
    [["--show"], 2, "error: --show needs --image"],
    [["--image"], 2, "error: Option '--image <value>' argument missing"],
  ];
  for (const [args, code, first] of cases) {
    const run = await predict("--model-dir", dir, ...args);
    assertEquals(run.code, code, `${args.join(" ")}: ${run.errors.join("\n")}`);
    assertEquals(run.errors[0], first, args.join(" "));
  }
  await Deno.remove(tmp, { recursive: true });
});

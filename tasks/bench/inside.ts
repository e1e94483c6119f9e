/**
 * `deno task bench-inside`: how long one digit's explanations take on the
 * WASM backend (one thread: the backend runs without threads): `explain()`
 * (saliency + Grad-CAM in one pass, what the drawing page calls), and
 * `saliency()`, `gradCam()`, SmoothGrad (25 samples) and `occlusion()` apart.
 * Prints the median and the 90th percentile of `--runs` timed calls after
 * five untimed ones, and the process's CPU time per call
 * (`process.cpuUsage()`: on a machine shared with other work, wall time
 * counts the waits for a core, CPU time does not).
 *
 * @module
 */
import process from "node:process";
import {
  digitInputs,
  explain,
  gradCam,
  initBackend,
  loadMnist,
  loadModel,
  occlusion,
  saliency,
} from "../../lib/mod.ts";
import {
  MODEL_DIR_FLAG,
  modelDir,
  parseFlags,
  runTask,
  usage,
} from "../flags.ts";

/**
 * The flags of `deno task bench-inside`, as `parseFlags` reads them.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseFlags } from "../flags.ts";
 * import { SPEC } from "./inside.ts";
 * assertEquals(parseFlags(["--help"], SPEC), "help");
 * ```
 */
export const SPEC = {
  "model-dir": MODEL_DIR_FLAG,
  runs: {
    type: "int",
    min: 1,
    max: 10_000,
    default: 50,
    help: "timed calls of each",
  },
} as const;
/**
 * What `deno task bench-inside --help` prints.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { USAGE } from "./inside.ts";
 * assert(USAGE.startsWith("Usage: deno task bench-inside [flags]"));
 * ```
 */
export const USAGE = usage(
  "bench-inside",
  "Times one digit's explanations (saliency + Grad-CAM, SmoothGrad, occlusion) on one thread.",
  SPEC,
);

/** This process's user + system CPU time so far, in ms. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** Median and 90th percentile of `runs` timed calls of `f`, and CPU ms per call. */
function time(f: () => void, runs: number): [number, number, number] {
  for (let i = 0; i < 5; i++) f();
  const ms: number[] = [];
  const cpu = cpuMs();
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    f();
    ms.push(performance.now() - t);
  }
  const cpuPerCall = (cpuMs() - cpu) / runs;
  ms.sort((a, b) => a - b);
  return [
    cpuPerCall,
    ms[Math.floor(runs / 2)],
    ms[Math.min(runs - 1, Math.floor(runs * 0.9))],
  ];
}

async function main(): Promise<void> {
  const flags = parseFlags(Deno.args, SPEC);
  if (flags === "help") return console.log(USAGE);
  const runs = flags.runs!;
  await initBackend();
  const model = await loadModel(modelDir(flags["model-dir"]));
  const digit = digitInputs((await loadMnist()).test, [0]);
  const rows: [string, () => void, number][] = [
    ["saliency + Grad-CAM (explain)", () => explain(model, digit), runs],
    ["saliency", () => saliency(model, digit), runs],
    ["Grad-CAM", () => gradCam(model, digit), runs],
    [
      "SmoothGrad, 25 samples",
      () => saliency(model, digit, { smoothGrad: true }),
      Math.max(1, Math.ceil(runs / 10)),
    ],
    [
      "occlusion, 6x6 patch, stride 2",
      () => occlusion(model, digit),
      Math.max(1, Math.ceil(runs / 10)),
    ],
  ];
  console.log(`one digit, one thread (wasm): median, p90, CPU time per call`);
  for (const [name, f, n] of rows) {
    const [cpu, median, p90] = time(f, n);
    console.log(
      `${name.padEnd(32)} ${median.toFixed(1).padStart(7)} ms  ${
        p90.toFixed(1).padStart(7)
      } ms  ${cpu.toFixed(1).padStart(7)} ms CPU  (${n} runs)`,
    );
  }
}

if (import.meta.main) await runTask(main, USAGE);

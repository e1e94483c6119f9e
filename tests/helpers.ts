/**
 * Shared fixtures of the tests: real MNIST (cached once), a trained model
 * (trained once per test process), a silent sink, seeded values, a tolerance
 * check.
 */
import { assert, assertEquals } from "@std/assert";
import type * as tf from "@tensorflow/tfjs";
import {
  buildModel,
  type Dataset,
  initBackend,
  loadMnist,
  type ProgressSink,
  saveModel,
  train,
} from "../lib/mod.ts";

let mnist: Promise<Dataset> | undefined;

/** Initialises the wasm backend and loads real MNIST once per test file. */
export async function realMnist(): Promise<Dataset> {
  await initBackend();
  mnist ??= loadMnist();
  return await mnist;
}

/** A progress sink that shows nothing. */
export const silent: ProgressSink = { intervalMs: Infinity, write() {} };

/** Every weight of a model as plain arrays, for exact comparisons. */
export function weightsOf(
  model: {
    getWeights(): { dataSync(): Float32Array | Int32Array | Uint8Array }[];
  },
): number[][] {
  return model.getWeights().map((w) => Array.from(w.dataSync()));
}

/** The largest |a − b| over every weight of two `weightsOf` results. */
export function maxWeightDiff(a: number[][], b: number[][]): number {
  let worst = 0;
  a.forEach((w, i) =>
    w.forEach((v, j) => worst = Math.max(worst, Math.abs(v - b[i][j])))
  );
  return worst;
}

/** Deterministic values in [-1, 1) (a small LCG, seeded). */
export function values(size: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  let s = (seed * 2654435761) >>> 0;
  for (let i = 0; i < size; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** Asserts `actual` matches `expected` to 1e-4 of the larger of 1, max |expected|. */
export function assertClose(
  actual: { shape: number[]; data: Float32Array },
  expected: { shape: number[]; data: Float32Array },
  what: string,
): void {
  assertEquals(actual.shape, expected.shape, `${what}: shape`);
  let scale = 1;
  for (const v of expected.data) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const d = Math.abs(actual.data[i] - expected.data[i]);
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
  }
  assert(
    worst <= 1e-4 * scale,
    `${what}: max |actual - cpu| = ${worst} > ${1e-4 * scale}`,
  );
}

/** What {@linkcode trainedModel} returns. */
export interface TrainedModel {
  /** The model, trained (do not dispose it: it is shared). */
  model: tf.LayersModel;
  /** A directory where it is saved in the TF.js Layers format. */
  dir: string;
  /** Its accuracy on the 10,000 test images. */
  testAcc: number;
}

let trained: Promise<TrainedModel> | undefined;

/**
 * The tutorial's model trained once per test process (seed 2, one epoch on
 * the first 16,384 training images: about 0.96 test accuracy in about 20 s),
 * saved to a temporary directory. Tests that need a model that really
 * recognises digits share it instead of training their own.
 */
export function trainedModel(): Promise<TrainedModel> {
  trained ??= (async () => {
    const data = await realMnist();
    const model = buildModel({ seed: 2 });
    const { history } = await train(model, data, {
      seed: 2,
      limit: 16_384,
      sink: silent,
      verbose: false,
    });
    const dir = await saveModel(
      model,
      `${await Deno.makeTempDir({ prefix: "mnist_cnn_trained_" })}/model`,
    );
    return { model, dir, testAcc: history[0].val_acc };
  })();
  return trained;
}

/** What {@linkcode denoTask} returns. */
export interface TaskRun {
  /** The exit code. */
  code: number;
  /** Everything printed on stdout. */
  stdout: string;
  /** The lines printed on stderr, without `deno task`'s own "Task …" echo. */
  errors: string[];
}

/** Runs `deno task <args>` in the repository root and collects its output. */
export async function denoTask(...args: string[]): Promise<TaskRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", ...args],
    cwd: new URL("..", import.meta.url),
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    errors: decoder.decode(out.stderr).split("\n").filter((l) =>
      l.trim() && !l.startsWith("Task ")
    ),
  };
}

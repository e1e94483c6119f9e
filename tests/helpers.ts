/**
 * Shared fixtures of the tests: real MNIST (cached once), a trained model
 * (trained once per change of lib/ and kept in `data/test_cache/`), a silent
 * sink, seeded values, a tolerance check, the cpu backend as a reference.
 */
import { assert, assertEquals } from "@std/assert";
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  buildModel,
  type Dataset,
  initBackend,
  loadMnist,
  loadModel,
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

/**
 * `data` with its test split cut to its first `count` examples, for tests
 * that train but do not read the test figures: `train()` evaluates on the
 * test split once at its end even without per-epoch validation, and 10,000
 * images take seconds.
 */
export function smallTest(data: Dataset, count = 64): Dataset {
  return {
    ...data,
    test: {
      ...data.test,
      images: data.test.images.subarray(0, count * 784),
      labels: data.test.labels.subarray(0, count),
      count,
    },
  };
}

/** A progress sink that shows nothing. */
export const silent: ProgressSink = { intervalMs: Infinity, write() {} };

/** `train()` options that print nothing and skip validation after each epoch. */
export const quiet = {
  sink: silent,
  verbose: false,
  validation: false,
} as const;

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

/**
 * `fn`'s result on tfjs's `cpu` backend (the independent reference), back on
 * `wasm` afterwards, whether or not it throws.
 */
export async function onCpu<T>(fn: () => T | Promise<T>): Promise<T> {
  await tf.setBackend("cpu");
  try {
    return await fn();
  } finally {
    await tf.setBackend("wasm");
  }
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

/** Where {@linkcode trainedModel} keeps its model between test files. */
const CACHE = fileURLToPath(new URL("../data/test_cache/", import.meta.url));
/** What the cached model was trained with. */
const TRAINING = { seed: 2, limit: 16_384 };

/**
 * A key for everything the trained model depends on: every file under lib/
 * (sources and kernel binaries), deno.lock, the Deno version and
 * {@linkcode TRAINING}. Any change to them trains a new model.
 */
async function trainingKey(): Promise<string> {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const files: string[] = [join(root, "deno.lock")];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile) files.push(path);
    }
  };
  await walk(join(root, "lib"));
  files.sort();
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [
    encoder.encode(JSON.stringify({ deno: Deno.version.deno, ...TRAINING })),
  ];
  for (const file of files) {
    parts.push(encoder.encode(`\0${file.slice(root.length)}\0`));
    parts.push(await Deno.readFile(file));
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) all.set(part, (at += part.length) - part.length);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(digest.slice(0, 8), (b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/**
 * Trains the tutorial's model into `cached` (with `test_acc.json` beside its
 * files), written under another name and renamed into place, so that a test
 * file running beside this one sees either no model or a whole one.
 */
async function trainInto(cached: string): Promise<void> {
  const data = await realMnist();
  const model = buildModel({ seed: TRAINING.seed });
  const { history } = await train(model, data, {
    ...TRAINING,
    sink: silent,
    verbose: false,
  });
  await Deno.mkdir(CACHE, { recursive: true });
  const staging = await Deno.makeTempDir({ dir: CACHE, prefix: "staging_" });
  await saveModel(model, join(staging, "model"));
  await Deno.writeTextFile(
    join(staging, "test_acc.json"),
    JSON.stringify(history[0].val_acc),
  );
  model.dispose();
  try {
    await Deno.rename(staging, cached);
  } catch {
    // Another test file trained the same model first: keep theirs.
    await Deno.remove(staging, { recursive: true });
  }
  // Models of older sources are never read again, nor are the staging
  // directories of runs killed while training (an hour old).
  for await (const entry of Deno.readDir(CACHE)) {
    const path = join(CACHE, entry.name);
    const stale = entry.name.startsWith("trained_")
      ? path !== cached
      : entry.name.startsWith("staging_") &&
        Date.now() - ((await Deno.stat(path)).mtime?.getTime() ?? 0) > 3.6e6;
    if (stale) await Deno.remove(path, { recursive: true }).catch(() => {});
  }
}

/**
 * The tutorial's model trained on the first 16,384 training images (seed 2,
 * one epoch: about 0.96 test accuracy), loaded from a copy of its saved
 * directory. Tests that need a model that really recognises digits share it
 * instead of training their own.
 *
 * It is trained once per change of lib/ and kept under `data/test_cache/`
 * (keyed by a hash of lib/, deno.lock and the Deno version), so the test
 * files of a run share one training instead of one each. Each test process
 * gets its own copy of the saved files, free to write beside.
 */
export function trainedModel(): Promise<TrainedModel> {
  trained ??= (async () => {
    await initBackend();
    const cached = join(CACHE, `trained_${await trainingKey()}`);
    try {
      await Deno.stat(join(cached, "test_acc.json"));
    } catch {
      await trainInto(cached);
    }
    const dir = join(
      await Deno.makeTempDir({ prefix: "mnist_cnn_trained_" }),
      "model",
    );
    await Deno.mkdir(dir);
    for await (const entry of Deno.readDir(join(cached, "model"))) {
      await Deno.copyFile(
        join(cached, "model", entry.name),
        join(dir, entry.name),
      );
    }
    const testAcc = JSON.parse(
      await Deno.readTextFile(join(cached, "test_acc.json")),
    );
    return { model: await loadModel(dir), dir, testAcc };
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

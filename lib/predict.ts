/**
 * Class predictions, like the tutorial's `mnist_cnn_predict.py`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { IMAGE_PIXELS, type Split, toTensors } from "./data.ts";
import {
  FORWARD_BATCH,
  forwardRange,
  forwardRangeAsync,
} from "./engine/forward.ts";
import { defaultThreads, WorkerPool } from "./engine/pool.ts";
import { Interrupted, UsageError } from "./errors.ts";
import { watchInterrupts } from "./interrupt/mod.ts";
import { INPUT_SHAPE } from "./model.ts";

/** Which samples to predict. */
export interface PredictOptions {
  /** First sample; default 0. */
  start?: number;
  /** Number of samples; default 10 (the tutorial's first ten). */
  count?: number;
  /** Samples per forward pass; default 128 (a small WASM heap). */
  batchSize?: number;
}

/** {@linkcode PredictOptions} and the operation an interrupt names. */
interface NamedPredictOptions extends PredictOptions {
  /** Named in the {@linkcode Interrupted} error; default the function's name. */
  operation?: string;
}

/** Predicted classes with the model's ten probabilities for each input. */
export interface Prediction {
  /** The predicted class of each input (argmax of the softmax). */
  classes: number[];
  /** The ten probabilities of each input. */
  probabilities: number[][];
}

/**
 * Runs the model on `[n, 28, 28, 1]` images in batches; yields each batch's
 * probabilities and frees them. `beforeBatch(done)` runs before each batch
 * and may throw to stop the pass (an interrupt).
 */
function* probabilityBatches(
  model: tf.LayersModel,
  count: number,
  batchSize: number,
  batch: (start: number, count: number) => tf.Tensor,
  beforeBatch: (done: number) => void,
): Generator<{ n: number; probs: tf.Tensor }> {
  // Models read from Keras files may take the picture as [28, 28] or [784].
  const inputShape = model.inputs[0].shape.slice(1) as number[];
  for (let s = 0; s < count; s += batchSize) {
    beforeBatch(s);
    const n = Math.min(batchSize, count - s);
    const xs = batch(s, n);
    const probs = tf.tidy(() =>
      model.predict(xs.reshape([n, ...inputShape]), {
        batchSize: n,
      }) as tf.Tensor
    );
    tf.dispose(xs);
    try {
      yield { n, probs };
    } finally {
      tf.dispose(probs);
    }
  }
}

/** Appends a batch's rows of probabilities (and their argmax) to `out`. */
function addRows(out: Prediction, values: ArrayLike<number>, n: number): void {
  const k = values.length / n;
  for (let i = 0; i < n; i++) {
    const row = Array.from({ length: k }, (_, j) => values[i * k + j]);
    out.probabilities.push(row);
    out.classes.push(row.indexOf(Math.max(...row)));
  }
}

/** Throws {@linkcode Interrupted} before a batch once an interrupt arrived. */
function stopPredicting(operation: string, count: number) {
  const watch = watchInterrupts();
  return {
    beforeBatch(done: number) {
      if (watch.requested) {
        throw new Interrupted(
          operation,
          `stopped after ${done} of ${count} images; nothing was kept`,
        );
      }
    },
    close: () => watch.close(),
  };
}

/**
 * Runs the model on `[n, 28, 28, 1]` images in batches; frees them. Stops
 * with {@linkcode Interrupted} before a batch once an interrupt arrived.
 */
function predictBatches(
  operation: string,
  model: tf.LayersModel,
  count: number,
  batchSize: number,
  batch: (start: number, count: number) => tf.Tensor,
): Prediction {
  const out: Prediction = { classes: [], probabilities: [] };
  const stop = stopPredicting(operation, count);
  try {
    const batches = probabilityBatches(
      model,
      count,
      batchSize,
      batch,
      stop.beforeBatch,
    );
    for (const { n, probs } of batches) addRows(out, probs.dataSync(), n);
  } finally {
    stop.close();
  }
  return out;
}

/** {@linkcode predictBatches} with async reads (every backend, `webgpu` too). */
async function predictBatchesAsync(
  operation: string,
  model: tf.LayersModel,
  count: number,
  batchSize: number,
  batch: (start: number, count: number) => tf.Tensor,
): Promise<Prediction> {
  const out: Prediction = { classes: [], probabilities: [] };
  const stop = stopPredicting(operation, count);
  try {
    const batches = probabilityBatches(
      model,
      count,
      batchSize,
      batch,
      stop.beforeBatch,
    );
    for (const { n, probs } of batches) addRows(out, await probs.data(), n);
  } finally {
    stop.close();
  }
  return out;
}

/**
 * The model's classes and ten probabilities for 28×28 inputs (784 values in
 * [0, 1] each, as `toMnistInput` makes them from a picture).
 *
 * @throws {UsageError} when an input does not hold 784 values.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, initBackend, predictInputs } from "./mod.ts";
 * await initBackend();
 * const { classes, probabilities } = predictInputs(buildModel(), [new Float32Array(784)]);
 * assertEquals(classes.length, 1);
 * assertEquals(probabilities[0].length, 10);
 * ```
 */
export function predictInputs(
  model: tf.LayersModel,
  inputs: Float32Array[],
  options: { batchSize?: number } = {},
): Prediction {
  return predictBatches(
    "predictInputs",
    model,
    ...inputSource(inputs, options),
  );
}

/**
 * {@linkcode predictInputs} with async reads: it runs on every backend,
 * `webgpu` included.
 *
 * @throws {UsageError} when an input does not hold 784 values.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, initBackend, predictInputsAsync } from "./mod.ts";
 * await initBackend();
 * const { probabilities } = await predictInputsAsync(buildModel(), [
 *   new Float32Array(784),
 * ]);
 * assertEquals(probabilities[0].length, 10);
 * ```
 */
export function predictInputsAsync(
  model: tf.LayersModel,
  inputs: Float32Array[],
  options: { batchSize?: number } = {},
): Promise<Prediction> {
  return predictBatchesAsync(
    "predictInputs",
    model,
    ...inputSource(inputs, options),
  );
}

type BatchSource = [
  count: number,
  batchSize: number,
  batch: (start: number, count: number) => tf.Tensor,
];

function inputSource(
  inputs: Float32Array[],
  options: { batchSize?: number },
): BatchSource {
  for (const [i, input] of inputs.entries()) {
    if (input.length !== IMAGE_PIXELS) {
      throw new UsageError(
        `input ${i} holds ${input.length} values; a 28x28 input holds ${IMAGE_PIXELS}`,
      );
    }
  }
  return [
    inputs.length,
    options.batchSize ?? FORWARD_BATCH,
    (start, n) => {
      const data = new Float32Array(n * IMAGE_PIXELS);
      for (let i = 0; i < n; i++) data.set(inputs[start + i], i * IMAGE_PIXELS);
      return tf.tensor4d(data, [n, ...INPUT_SHAPE]);
    },
  ];
}

function splitSource(split: Split, options: PredictOptions): BatchSource {
  const start = options.start ?? 0;
  const count = options.count ?? 10;
  checkRange(split, start, count);
  return [
    count,
    options.batchSize ?? FORWARD_BATCH,
    (s, n) => {
      const { xs, ys } = toTensors(split, { start: start + s, count: n });
      ys.dispose();
      return xs;
    },
  ];
}

/**
 * Like {@linkcode predictClasses}, with the ten probabilities of each sample.
 *
 * @throws {UsageError} when the range is outside the set.
 */
export function predictProbabilities(
  model: tf.LayersModel,
  split: Split,
  options: NamedPredictOptions = {},
): Prediction {
  return predictBatches(
    options.operation ?? "predictProbabilities",
    model,
    ...splitSource(split, options),
  );
}

/**
 * {@linkcode predictProbabilities} with async reads: it runs on every
 * backend, `webgpu` included.
 *
 * @throws {UsageError} when the range is outside the set.
 * @example
 * ```ts ignore
 * // Needs the MNIST files and a saved model.
 * import { initBackend, loadMnist, loadModel, predictProbabilitiesAsync } from "./mod.ts";
 * await initBackend("webgpu");
 * const mnist = await loadMnist();
 * const { classes } = await predictProbabilitiesAsync(await loadModel(), mnist.train);
 * console.log(classes.join(" ")); // 5 0 4 1 9 2 1 3 1 4
 * ```
 */
export function predictProbabilitiesAsync(
  model: tf.LayersModel,
  split: Split,
  options: NamedPredictOptions = {},
): Promise<Prediction> {
  return predictBatchesAsync(
    options.operation ?? "predictProbabilities",
    model,
    ...splitSource(split, options),
  );
}

function checkRange(split: Split, start: number, count: number): void {
  if (
    !Number.isInteger(start) || !Number.isInteger(count) || start < 0 ||
    count < 1 || start + count > split.count
  ) {
    throw new UsageError(
      `cannot predict samples ${start}..${
        start + count - 1
      }: the set has ${split.count}`,
    );
  }
}

/**
 * Returns the predicted class (argmax of the softmax) of each sample of
 * `split` in `[start, start + count)`.
 *
 * @example
 * ```ts ignore
 * // ignored: needs a trained model in models/mnist_cnn (deno task train)
 * import { assertEquals } from "@std/assert";
 * import { initBackend, loadMnist, loadModel, predictClasses } from "./mod.ts";
 * await initBackend();
 * const mnist = await loadMnist();
 * const model = await loadModel();
 * assertEquals(predictClasses(model, mnist.train).join(" "), "5 0 4 1 9 2 1 3 1 4");
 * ```
 */
export function predictClasses(
  model: tf.LayersModel,
  split: Split,
  options: PredictOptions = {},
): number[] {
  const start = options.start ?? 0;
  const count = options.count ?? 10;
  checkRange(split, start, count);
  const stop = stopPredicting("predictClasses", count);
  try {
    const { classes } = forwardRange(model, split, {
      start,
      count,
      batchSize: options.batchSize,
      mode: "classes",
    }, stop.beforeBatch);
    return Array.from(classes);
  } finally {
    stop.close();
  }
}

/**
 * {@linkcode predictClasses} with async reads: it runs on every backend,
 * `webgpu` included.
 *
 * @throws {UsageError} when the range is outside the set.
 * @example
 * ```ts ignore
 * // Needs the MNIST files and a saved model.
 * import { initBackend, loadMnist, loadModel, predictClassesAsync } from "./mod.ts";
 * await initBackend("webgpu");
 * const mnist = await loadMnist();
 * console.log((await predictClassesAsync(await loadModel(), mnist.train)).join(" "));
 * ```
 */
export async function predictClassesAsync(
  model: tf.LayersModel,
  split: Split,
  options: PredictOptions = {},
): Promise<number[]> {
  const start = options.start ?? 0;
  const count = options.count ?? 10;
  checkRange(split, start, count);
  const stop = stopPredicting("predictClasses", count);
  try {
    const { classes } = await forwardRangeAsync(model, split, {
      start,
      count,
      batchSize: options.batchSize,
      mode: "classes",
    }, stop.beforeBatch);
    return Array.from(classes);
  } finally {
    stop.close();
  }
}

/**
 * {@linkcode predictClasses} on every core: the samples are split over
 * `threads` threads (this one and worker threads started for the call, or
 * those of `options.pool`, which saves their start-up when predicting
 * often).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, initBackend, loadMnist, predictClasses } from "./mod.ts";
 * import { predictClassesParallel } from "./predict.ts";
 * await initBackend();
 * const mnist = await loadMnist();
 * const model = buildModel({ seed: 1 });
 * const all = await predictClassesParallel(model, mnist.test, { count: 500, threads: 2 });
 * assertEquals(all, predictClasses(model, mnist.test, { count: 500 }));
 * ```
 */
export async function predictClassesParallel(
  model: tf.LayersModel,
  split: Split,
  options: PredictOptions & { threads?: number; pool?: WorkerPool } = {},
): Promise<number[]> {
  const start = options.start ?? 0, count = options.count ?? 10;
  checkRange(split, start, count);
  const threads = options.pool?.threads ?? options.threads ?? defaultThreads();
  // The threads are the wasm engine's; another backend predicts on its own.
  if (tf.getBackend() !== "wasm") {
    return predictClassesAsync(model, split, options);
  }
  if (threads <= 1) return predictClasses(model, split, options);
  const pool = options.pool ?? await WorkerPool.create(model, { threads });
  // Only a pool of its own is stopped at an interrupt: a caller's pool would
  // be left with busy workers.
  const stop = options.pool
    ? undefined
    : stopPredicting("predictClassesParallel", count);
  try {
    const { classes } = await pool.forward(split, {
      start,
      count,
      batchSize: options.batchSize,
      mode: "classes",
    }, stop?.beforeBatch);
    return Array.from(classes);
  } finally {
    if (!options.pool) pool.dispose();
    stop?.close();
  }
}

/**
 * Class predictions, like the tutorial's `mnist_cnn_predict.py`. Every
 * function is async: it reads the model's output with the async API, which
 * every backend allows and the `webgpu` backend requires.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { IMAGE_PIXELS, type Split, toTensors } from "./data.ts";
import { FORWARD_BATCH, forwardRangeAsync } from "./engine/forward.ts";
import { WorkerPool } from "./engine/pool.ts";
import { checkWholeNumber, Interrupted, UsageError } from "./errors.ts";
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
 * Runs the model on `[n, 28, 28, 1]` images in batches, reading each batch
 * with the async API (every backend allows it, `webgpu` only so); frees them.
 * Stops with {@linkcode Interrupted} before a batch once an interrupt arrived.
 */
async function predictBatches(
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
 * [0, 1] each, as `toMnistInput` makes them from a picture), on every backend.
 *
 * @throws {UsageError} when an input does not hold 784 values.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, initBackend, predictInputs } from "./mod.ts";
 * await initBackend();
 * const { classes, probabilities } = await predictInputs(buildModel(), [
 *   new Float32Array(784),
 * ]);
 * assertEquals(classes.length, 1);
 * assertEquals(probabilities[0].length, 10);
 * ```
 */
export async function predictInputs(
  model: tf.LayersModel,
  inputs: Float32Array[],
  options: { batchSize?: number } = {},
): Promise<Prediction> {
  return await predictBatches(
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
 * Like {@linkcode predictClasses}, with the ten probabilities of each sample,
 * on every backend.
 *
 * @throws {UsageError} when the range is outside the set.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, initBackend, predictProbabilities } from "./mod.ts";
 * await initBackend();
 * const split = {
 *   images: new Uint8Array(2 * 784),
 *   labels: new Uint8Array(2),
 *   count: 2,
 *   rows: 28,
 *   cols: 28,
 * } as const;
 * const { probabilities } = await predictProbabilities(buildModel(), split, { count: 2 });
 * assertEquals(probabilities.map((p) => p.length), [10, 10]);
 * ```
 */
export async function predictProbabilities(
  model: tf.LayersModel,
  split: Split,
  options: NamedPredictOptions = {},
): Promise<Prediction> {
  return await predictBatches(
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
 * `split` in `[start, start + count)`, on every backend. On `wasm` with
 * `threads` of 2 or more (or a `pool`), the samples are split over that many
 * threads: this one and worker threads started for the call, or those of
 * `pool`, which saves their start-up when predicting often.
 *
 * @throws {UsageError} when the range is outside the set.
 * @example
 * ```ts ignore
 * // ignored in CI: loads real MNIST; covered by tests/engine/pool_test.ts, "predictClasses and evaluate on two threads or a pool agree with one thread"
 * import { assertEquals } from "@std/assert";
 * import { buildModel, initBackend, loadMnist, predictClasses } from "./mod.ts";
 * await initBackend();
 * const mnist = await loadMnist();
 * const model = buildModel({ seed: 1 });
 * const two = await predictClasses(model, mnist.test, { count: 500, threads: 2 });
 * assertEquals(two, await predictClasses(model, mnist.test, { count: 500 }));
 * ```
 */
export async function predictClasses(
  model: tf.LayersModel,
  split: Split,
  options: PredictOptions & { threads?: number; pool?: WorkerPool } = {},
): Promise<number[]> {
  const start = options.start ?? 0, count = options.count ?? 10;
  checkRange(split, start, count);
  const threads = options.pool?.threads ?? options.threads ?? 1;
  checkWholeNumber("threads", threads, { min: 1, max: 256 });
  const range = {
    start,
    count,
    batchSize: options.batchSize,
    mode: "classes",
  } as const;
  // The threads are the wasm engine's; another backend predicts on its own.
  if (tf.getBackend() !== "wasm" || threads <= 1) {
    const stop = stopPredicting("predictClasses", count);
    try {
      const { classes } = await forwardRangeAsync(
        model,
        split,
        range,
        stop.beforeBatch,
      );
      return Array.from(classes);
    } finally {
      stop.close();
    }
  }
  const pool = options.pool ?? await WorkerPool.create(model, { threads });
  // Only a pool of its own is stopped at an interrupt: a caller's pool would
  // be left with busy workers.
  const stop = options.pool
    ? undefined
    : stopPredicting("predictClasses", count);
  try {
    const { classes } = await pool.forward(split, range, stop?.beforeBatch);
    return Array.from(classes);
  } finally {
    if (!options.pool) pool.dispose();
    stop?.close();
  }
}

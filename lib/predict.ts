/**
 * Class predictions, like the tutorial's `mnist_cnn_predict.py`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { IMAGE_PIXELS, type MnistSplit, toTensors } from "./data.ts";
import { FORWARD_BATCH, forwardRange } from "./engine/forward.ts";
import { defaultThreads, WorkerPool } from "./engine/pool.ts";
import { UsageError } from "./errors.ts";
import { INPUT_SHAPE } from "./model.ts";

/** Which samples to predict. */
export interface PredictOptions {
  /** First sample; default 0. */
  start?: number;
  /** Number of samples; default 10 (the tutorial's first ten). */
  count?: number;
  /** Samples per forward pass; default 256 (a small WASM heap). */
  batchSize?: number;
}

/** Predicted classes with the model's ten probabilities for each input. */
export interface Prediction {
  /** The predicted class of each input (argmax of the softmax). */
  classes: number[];
  /** The ten probabilities of each input. */
  probabilities: number[][];
}

/** Runs the model on `[n, 28, 28, 1]` images in batches; frees them. */
function predictBatches(
  model: tf.LayersModel,
  count: number,
  batchSize: number,
  batch: (start: number, count: number) => tf.Tensor,
): Prediction {
  const classes: number[] = [];
  const probabilities: number[][] = [];
  for (let s = 0; s < count; s += batchSize) {
    const n = Math.min(batchSize, count - s);
    const xs = batch(s, n);
    // Models read from Keras files may take the picture as [28, 28] or [784].
    const inputShape = model.inputs[0].shape.slice(1) as number[];
    const probs = tf.tidy(() =>
      model.predict(xs.reshape([n, ...inputShape]), { batchSize }) as tf.Tensor
    );
    const values = probs.dataSync();
    const k = values.length / n;
    for (let i = 0; i < n; i++) {
      const row = Array.from(values.subarray(i * k, (i + 1) * k));
      probabilities.push(row);
      classes.push(row.indexOf(Math.max(...row)));
    }
    tf.dispose([xs, probs]);
  }
  return { classes, probabilities };
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
  for (const [i, input] of inputs.entries()) {
    if (input.length !== IMAGE_PIXELS) {
      throw new UsageError(
        `input ${i} holds ${input.length} values; a 28x28 input holds ${IMAGE_PIXELS}`,
      );
    }
  }
  return predictBatches(
    model,
    inputs.length,
    options.batchSize ?? FORWARD_BATCH,
    (start, n) => {
      const data = new Float32Array(n * IMAGE_PIXELS);
      for (let i = 0; i < n; i++) data.set(inputs[start + i], i * IMAGE_PIXELS);
      return tf.tensor4d(data, [n, ...INPUT_SHAPE]);
    },
  );
}

/**
 * Like {@linkcode predictClasses}, with the ten probabilities of each sample.
 *
 * @throws {UsageError} when the range is outside the set.
 */
export function predictProbabilities(
  model: tf.LayersModel,
  split: MnistSplit,
  options: PredictOptions = {},
): Prediction {
  const start = options.start ?? 0;
  const count = options.count ?? 10;
  checkRange(split, start, count);
  return predictBatches(
    model,
    count,
    options.batchSize ?? FORWARD_BATCH,
    (s, n) => {
      const { xs, ys } = toTensors(split, { start: start + s, count: n });
      ys.dispose();
      return xs;
    },
  );
}

function checkRange(split: MnistSplit, start: number, count: number): void {
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
  split: MnistSplit,
  options: PredictOptions = {},
): number[] {
  const start = options.start ?? 0;
  const count = options.count ?? 10;
  checkRange(split, start, count);
  const { classes } = forwardRange(model, split, {
    start,
    count,
    batchSize: options.batchSize,
    mode: "classes",
  });
  return Array.from(classes);
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
  split: MnistSplit,
  options: PredictOptions & { threads?: number; pool?: WorkerPool } = {},
): Promise<number[]> {
  const start = options.start ?? 0, count = options.count ?? 10;
  checkRange(split, start, count);
  const threads = options.pool?.threads ?? options.threads ?? defaultThreads();
  if (threads <= 1) return predictClasses(model, split, options);
  const pool = options.pool ?? await WorkerPool.create(model, { threads });
  try {
    const { classes } = await pool.forward(split, {
      start,
      count,
      batchSize: options.batchSize,
      mode: "classes",
    });
    return Array.from(classes);
  } finally {
    if (!options.pool) pool.dispose();
  }
}

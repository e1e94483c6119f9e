/**
 * Class predictions, like the tutorial's `mnist_cnn_predict.py`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type MnistSplit, toTensors } from "./data.ts";
import { UsageError } from "./errors.ts";

/** Which samples to predict. */
export interface PredictOptions {
  /** First sample; default 0. */
  start?: number;
  /** Number of samples; default 10 (the tutorial's first ten). */
  count?: number;
  /** Samples per forward pass; default 1000. */
  batchSize?: number;
}

/**
 * Returns the predicted class (argmax of the softmax) of each sample of
 * `split` in `[start, start + count)`.
 *
 * @example
 * ```ts
 * import { initBackend, loadMnist, loadModel, predictClasses } from "./mod.ts";
 * await initBackend();
 * const mnist = await loadMnist();
 * const model = await loadModel();
 * console.log(predictClasses(model, mnist.train).join(" ")); // 5 0 4 1 9 2 1 3 1 4
 * ```
 */
export function predictClasses(
  model: tf.LayersModel,
  split: MnistSplit,
  options: PredictOptions = {},
): number[] {
  const start = options.start ?? 0;
  const count = options.count ?? 10;
  const batchSize = options.batchSize ?? 1000;
  if (
    !Number.isInteger(start) || !Number.isInteger(count) || start < 0 ||
    count < 1 ||
    start + count > split.count
  ) {
    throw new UsageError(
      `cannot predict samples ${start}..${
        start + count - 1
      }: the set has ${split.count}`,
    );
  }
  const classes: number[] = [];
  for (let s = start; s < start + count; s += batchSize) {
    const { xs, ys } = toTensors(split, {
      start: s,
      count: Math.min(batchSize, start + count - s),
    });
    const argmax = tf.tidy(() =>
      (model.predict(xs, { batchSize }) as tf.Tensor).argMax(-1)
    );
    classes.push(...argmax.dataSync());
    tf.dispose([xs, ys, argmax]);
  }
  return classes;
}

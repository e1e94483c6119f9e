/**
 * Gradient steps: a batch of real MNIST samples in, gradients out, and their
 * application with the model's optimizer.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { gatherBatch, type MnistSplit } from "../data.ts";
import { setDropoutKeys } from "./dropout.ts";
import { augmentImages, type AugmentOptions } from "./augment.ts";

/** What keys a training step's random numbers: dropout and augmentation. */
export interface StepKeys {
  /** The run's seed. */
  seed: number;
  /** The epoch (0-based). */
  epoch: number;
  /** Factors of the random transforms of each sample; none when absent. */
  augment?: Required<AugmentOptions>;
}

/** Gradients of one batch (or one shard of a batch). */
export interface BatchGradients {
  /** Summed loss over the samples; NaN when the loss or a gradient is not finite. */
  loss: number;
  /** Number of samples classified correctly. */
  correct: number;
  /** Gradients of the mean loss, in the order of `model.trainableWeights`. */
  grads: tf.Tensor[];
}

/**
 * Forward and backward pass of `model` on the samples `ids` of `split`, with
 * the dropout masks (and, with `keys.augment`, each sample's random
 * rotation, shift and zoom) keyed by (seed, epoch, sample). Applies nothing.
 */
export function computeGradients(
  model: tf.LayersModel,
  split: MnistSplit,
  ids: ArrayLike<number>,
  keys: StepKeys,
): BatchGradients {
  const batch = gatherBatch(split, ids);
  const { ys } = batch;
  let { xs } = batch;
  if (keys.augment) {
    const pixels = augmentImages(
      split.images,
      split.rows,
      split.cols,
      ids,
      keys.augment,
      keys,
    );
    xs.dispose();
    xs = tf.tensor4d(pixels, [ids.length, split.rows, split.cols, 1]);
  }
  setDropoutKeys(model, { ...keys, ids });
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  let correct: tf.Scalar | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const probs = model.apply(xs, { training: true }) as tf.Tensor2D;
    correct = tf.keep(tf.sum(tf.metrics.categoricalAccuracy(ys, probs)));
    return tf.mean(tf.metrics.categoricalCrossentropy(ys, probs));
  }, vars);
  const ordered = vars.map((v) => grads[v.name]);
  // The loss clips probabilities, so a NaN weight can leave it finite while
  // the gradients are NaN: check both (a NaN or ±Inf anywhere makes the sum so).
  const check = tf.tidy(() =>
    tf.addN([value, ...ordered.map((g) => tf.sum(g))])
  );
  const finite = Number.isFinite(check.dataSync()[0]);
  const loss = finite ? value.dataSync()[0] * ids.length : NaN;
  const hits = correct!.dataSync()[0];
  tf.dispose([xs, ys, value, correct!, check]);
  return { loss, correct: hits, grads: ordered };
}

/** Runs gradient steps: on this thread, or split over worker threads. */
export interface StepRunner {
  /**
   * Computes the gradients of one batch and, when its loss is finite, applies
   * them with the model's optimizer. Returns the summed loss and hits.
   */
  step(
    ids: Uint32Array,
    keys: StepKeys,
  ): Promise<{ loss: number; correct: number }>;
  /**
   * Evaluates the current weights on `split` on every thread the runner
   * holds (mean loss and accuracy, as `evaluate` returns them); absent where
   * the runner has no threads of its own.
   */
  evaluate?(split: MnistSplit): Promise<{ loss: number; acc: number }>;
  /**
   * Brings what the runner keeps outside the model (the optimizer state of
   * threads) back into `model.optimizer`, before it is saved or read.
   */
  sync?(): void;
  /** Frees what the runner holds (worker threads), after a last `sync`. */
  dispose(): void;
}

/** Applies gradients ordered as `model.trainableWeights` with its optimizer. */
export function applyGradients(
  model: tf.LayersModel,
  grads: tf.Tensor[],
): void {
  const named: tf.NamedTensorMap = {};
  model.trainableWeights.forEach((w, i) =>
    named[(w.read() as tf.Variable).name] = grads[i]
  );
  model.optimizer.applyGradients(named);
}

/** A {@linkcode StepRunner} on the calling thread. */
export function localRunner(
  model: tf.LayersModel,
  split: MnistSplit,
): StepRunner {
  return {
    step(ids, keys) {
      const { loss, correct, grads } = computeGradients(
        model,
        split,
        ids,
        keys,
      );
      if (Number.isFinite(loss)) applyGradients(model, grads);
      tf.dispose(grads);
      return Promise.resolve({ loss, correct });
    },
    dispose() {},
  };
}

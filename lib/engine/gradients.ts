/**
 * Gradient steps: a batch of real MNIST samples in, gradients out, and their
 * application with the model's optimizer.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { gatherBatch, type Split } from "../data.ts";
import { setDropoutKeys } from "./dropout.ts";
import { forwardRangeAsync } from "./forward.ts";
import { augmentImages, type AugmentOptions } from "./augment.ts";
import { applyTraining } from "./fused_training.ts";

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

/** The tensors of one batch's pass, before they are read. */
interface PassTensors {
  /** Mean loss. */
  value: tf.Scalar;
  /** Hits. */
  correct: tf.Scalar;
  /** Loss plus every gradient's sum: finite only if all of them are. */
  check: tf.Tensor;
  /** Gradients of the mean loss, in the order of `model.trainableWeights`. */
  grads: tf.Tensor[];
}

function gradientPass(
  model: tf.LayersModel,
  split: Split,
  ids: ArrayLike<number>,
  keys: StepKeys,
): PassTensors {
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
    const probs = applyTraining(model, xs) as tf.Tensor2D;
    correct = tf.keep(tf.sum(tf.metrics.categoricalAccuracy(ys, probs)));
    return tf.mean(tf.metrics.categoricalCrossentropy(ys, probs));
  }, vars);
  const ordered = vars.map((v) => grads[v.name]);
  // The loss clips probabilities, so a NaN weight can leave it finite while
  // the gradients are NaN: check both (a NaN or ±Inf anywhere makes the sum so).
  const check = tf.tidy(() =>
    tf.addN([value, ...ordered.map((g) => tf.sum(g))])
  );
  tf.dispose([xs, ys]);
  return { value, correct: correct!, check, grads: ordered };
}

function readPass(
  pass: PassTensors,
  [check, value, correct]: ArrayLike<number>[],
  samples: number,
): BatchGradients {
  const finite = Number.isFinite(check[0]);
  tf.dispose([pass.value, pass.correct, pass.check]);
  return {
    loss: finite ? value[0] * samples : NaN,
    correct: correct[0],
    grads: pass.grads,
  };
}

/**
 * Forward and backward pass of `model` on the samples `ids` of `split`, with
 * the dropout masks (and, with `keys.augment`, each sample's random
 * rotation, shift and zoom) keyed by (seed, epoch, sample). Applies nothing. Reads
 * the loss synchronously: on the `webgpu` backend use
 * {@linkcode computeGradientsAsync}.
 */
export function computeGradients(
  model: tf.LayersModel,
  split: Split,
  ids: ArrayLike<number>,
  keys: StepKeys,
): BatchGradients {
  const pass = gradientPass(model, split, ids, keys);
  const read = [pass.check, pass.value, pass.correct].map((t) => t.dataSync());
  return readPass(pass, read, ids.length);
}

/**
 * {@linkcode computeGradients} reading the loss with the async API, as every
 * backend allows (the `webgpu` backend only so).
 */
export async function computeGradientsAsync(
  model: tf.LayersModel,
  split: Split,
  ids: ArrayLike<number>,
  keys: StepKeys,
): Promise<BatchGradients> {
  const pass = gradientPass(model, split, ids, keys);
  const read = await Promise.all(
    [pass.check, pass.value, pass.correct].map((t) => t.data()),
  );
  return readPass(pass, read, ids.length);
}

/**
 * Copies float32 `tensors` one after another into `into` from offset 0. On
 * the wasm backend each is read in place, as a view of the WASM heap (no
 * copy of its own, so no garbage: a step's gradients are 4.8 MB); elsewhere
 * with `dataSync`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend.ts";
 * import { copyOut } from "./gradients.ts";
 * await initBackend();
 * const into = new Float32Array(5);
 * const ts = [tf.tensor1d([1, 2]), tf.tensor2d([[3, 4, 5]])];
 * copyOut(ts, into);
 * assertEquals(Array.from(into), [1, 2, 3, 4, 5]);
 * tf.dispose(ts);
 * ```
 */
export function copyOut(tensors: tf.Tensor[], into: Float32Array): void {
  const backend = tf.backend();
  const wasm = tf.getBackend() === "wasm"
    ? backend as unknown as BackendWasm
    : undefined;
  let offset = 0;
  for (const t of tensors) {
    const values = wasm && t.dtype === "float32"
      ? wasm.typedArrayFromHeap(t)
      : t.dataSync();
    into.set(values as Float32Array, offset);
    offset += t.size;
  }
}

/**
 * One thread's share of a data-parallel step: the gradients of samples `ids`
 * into `into` (zeros for an empty share, which a batch smaller than the
 * threads leaves), and their summed loss and hits. A non-finite loss leaves
 * `into` as it was: the step is not applied.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, initBackend } from "../mod.ts";
 * import { flatSizes } from "./flat_weights.ts";
 * import { gradientsInto } from "./gradients.ts";
 * await initBackend();
 * const images = Uint8Array.from({ length: 2 * 784 }, (_, i) => i % 251);
 * const train = { images, labels: new Uint8Array([3, 7]), count: 2, rows: 28, cols: 28 } as const;
 * const model = buildModel({ seed: 1 });
 * const into = new Float32Array(flatSizes(model).trainable).fill(7);
 * const keys = { seed: 1, epoch: 0 };
 * assertEquals(gradientsInto(model, train, [], keys, into), { loss: 0, correct: 0 });
 * assertEquals(into.every((g) => g === 0), true);
 * gradientsInto(model, train, [0, 1], keys, into);
 * assertEquals(into.some((g) => g !== 0), true);
 * ```
 */
export function gradientsInto(
  model: tf.LayersModel,
  split: Split,
  ids: ArrayLike<number>,
  keys: StepKeys,
  into: Float32Array,
): { loss: number; correct: number } {
  if (ids.length === 0) {
    into.fill(0);
    return { loss: 0, correct: 0 };
  }
  const { loss, correct, grads } = computeGradients(model, split, ids, keys);
  if (Number.isFinite(loss)) copyOut(grads, into);
  tf.dispose(grads);
  return { loss, correct };
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
   * the runner has no threads of its own. `beforeBatch` runs before each
   * batch of this thread (it may throw to stop).
   */
  evaluate?(
    split: Split,
    beforeBatch?: (done: number) => void,
  ): Promise<{ loss: number; acc: number }>;
  /**
   * Brings what the runner keeps outside the model (the optimizer state of
   * threads, the last update's weights) back into `model.optimizer` and the
   * model, before either is saved or read.
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

/**
 * A {@linkcode StepRunner} on the calling thread, with tfjs's kernels of the
 * active backend: every read is async, so it runs on `webgpu` too.
 */
export function localRunner(
  model: tf.LayersModel,
  split: Split,
): StepRunner {
  return {
    async step(ids, keys) {
      const { loss, correct, grads } = await computeGradientsAsync(
        model,
        split,
        ids,
        keys,
      );
      if (Number.isFinite(loss)) applyGradients(model, grads);
      tf.dispose(grads);
      return { loss, correct };
    },
    async evaluate(split) {
      const { loss, correct } = await forwardRangeAsync(model, split, {
        start: 0,
        count: split.count,
        mode: "evaluate",
      });
      return { loss: loss / split.count, acc: correct / split.count };
    },
    dispose() {},
  };
}

/**
 * Gradient steps: a batch of real MNIST samples in, gradients out, and their
 * application with the model's optimizer.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { gatherBatch, type MnistSplit } from "../data.ts";
import { setDropoutKeys } from "./dropout.ts";

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
 * the dropout masks keyed by (seed, epoch, sample). Applies nothing.
 */
export function computeGradients(
  model: tf.LayersModel,
  split: MnistSplit,
  ids: ArrayLike<number>,
  keys: { seed: number; epoch: number },
): BatchGradients {
  const { xs, ys } = gatherBatch(split, ids);
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

/** Runs gradient steps: on this thread, or split over worker threads. */
export interface StepRunner {
  /**
   * Computes the gradients of one batch and, when its loss is finite, applies
   * them with the model's optimizer. Returns the summed loss and hits.
   */
  step(
    ids: Uint32Array,
    keys: { seed: number; epoch: number },
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

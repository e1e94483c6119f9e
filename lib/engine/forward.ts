/**
 * The forward pass over a range of a data set, in batches: summed loss and
 * hits (evaluation) or the predicted classes. One loop serves `evaluate`,
 * `predictClasses` and the threads of {@linkcode WorkerPool}.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { gatherBatch, type MnistSplit } from "../data.ts";

/**
 * Samples per forward pass by default. Small enough that the WASM heap, which
 * never shrinks, stays small (a batch of 1,000 grows it by about 300 MB:
 * conv2's output alone is 1000×24×24×64 floats), large enough to keep the
 * kernels busy.
 */
export const FORWARD_BATCH = 256;

/** What {@linkcode forwardRange} computes, on which samples. */
export interface ForwardOptions {
  /** First sample. */
  start: number;
  /** Number of samples. */
  count: number;
  /** Samples per forward pass; default {@linkcode FORWARD_BATCH}. */
  batchSize?: number;
  /** `"evaluate"`: summed loss and hits; `"classes"`: the argmax classes. */
  mode: "evaluate" | "classes";
}

/** What {@linkcode forwardRange} returns. */
export interface ForwardResult {
  /** Summed categorical cross-entropy (0 in `"classes"` mode). */
  loss: number;
  /** Samples classified correctly (0 in `"classes"` mode). */
  correct: number;
  /** Predicted class of each sample (empty in `"evaluate"` mode). */
  classes: Int32Array;
}

/**
 * Runs `model` on samples `start .. start+count` of `split`, in batches.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { initBackend } from "../backend.ts";
 * import { buildModel } from "../model.ts";
 * import { forwardRange } from "./forward.ts";
 * await initBackend();
 * const split = {
 *   images: new Uint8Array(3 * 784),
 *   labels: new Uint8Array([0, 1, 2]),
 *   count: 3,
 *   rows: 28,
 *   cols: 28,
 * } as const;
 * const model = buildModel({ seed: 1 });
 * const { classes } = forwardRange(model, split, { start: 1, count: 2, mode: "classes" });
 * assertEquals(classes.length, 2);
 * const { loss } = forwardRange(model, split, { start: 0, count: 3, mode: "evaluate" });
 * assertEquals(Number.isFinite(loss), true);
 * ```
 */
export function forwardRange(
  model: tf.LayersModel,
  split: MnistSplit,
  options: ForwardOptions,
): ForwardResult {
  const { start, count, mode } = options;
  const batchSize = options.batchSize ?? FORWARD_BATCH;
  const classes = new Int32Array(mode === "classes" ? count : 0);
  const inputShape = model.inputs[0].shape.slice(1) as number[];
  let loss = 0, correct = 0;
  for (let s = start; s < start + count; s += batchSize) {
    const n = Math.min(batchSize, start + count - s);
    const { xs, ys } = gatherBatch(
      split,
      Uint32Array.from({ length: n }, (_, i) => s + i),
    );
    // Models read from Keras files may take the picture as [28, 28] or [784].
    const predict = () =>
      model.predict(xs.reshape([n, ...inputShape]), {
        batchSize: n,
      }) as tf.Tensor2D;
    if (mode === "classes") {
      const argmax = tf.tidy(() => predict().argMax(-1));
      classes.set(argmax.dataSync() as Int32Array, s - start);
      tf.dispose(argmax);
    } else {
      const sums = tf.tidy(() => {
        const probs = predict();
        return tf.stack([
          tf.sum(tf.metrics.categoricalCrossentropy(ys, probs)),
          tf.sum(tf.metrics.categoricalAccuracy(ys, probs)),
        ]);
      });
      const [l, c] = sums.dataSync();
      loss += l;
      correct += c;
      tf.dispose(sums);
    }
    tf.dispose([xs, ys]);
  }
  return { loss, correct, classes };
}

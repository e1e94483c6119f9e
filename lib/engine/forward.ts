/**
 * The forward pass over a range of a data set, in batches: summed loss and
 * hits (evaluation) or the predicted classes. One loop serves `evaluate`,
 * `predictClasses` and the threads of the worker pool.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { gatherBatch, type Split } from "../data.ts";

/**
 * Samples per forward pass by default. Small enough that the WASM heap, which
 * never shrinks, stays small (a batch of 1,000 grows it by about 300 MB:
 * conv2's output alone is 1000×24×24×64 floats), large enough to keep the
 * kernels busy.
 */
export const FORWARD_BATCH = 128;

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

/** One batch's output, to be read: the argmax classes or [loss sum, hits]. */
interface ForwardBatch {
  /** Offset of the batch from `start`. */
  offset: number;
  /** What to read. */
  out: tf.Tensor;
}

function* forwardBatches(
  model: tf.LayersModel,
  split: Split,
  options: ForwardOptions,
  beforeBatch?: (done: number) => void,
): Generator<ForwardBatch> {
  const { start, count, mode } = options;
  const batchSize = options.batchSize ?? FORWARD_BATCH;
  const inputShape = model.inputs[0].shape.slice(1) as number[];
  for (let s = start; s < start + count; s += batchSize) {
    const n = Math.min(batchSize, start + count - s);
    beforeBatch?.(s - start);
    const { xs, ys } = gatherBatch(
      split,
      Uint32Array.from({ length: n }, (_, i) => s + i),
    );
    const out = tf.tidy(() => {
      // Models read from Keras files may take the picture as [28, 28] or [784].
      const probs = model.predict(xs.reshape([n, ...inputShape]), {
        batchSize: n,
      }) as tf.Tensor2D;
      return mode === "classes" ? probs.argMax(-1) : tf.stack([
        tf.sum(tf.metrics.categoricalCrossentropy(ys, probs)),
        tf.sum(tf.metrics.categoricalAccuracy(ys, probs)),
      ]);
    });
    tf.dispose([xs, ys]);
    try {
      yield { offset: s - start, out };
    } finally {
      tf.dispose(out);
    }
  }
}

function emptyResult(options: ForwardOptions): ForwardResult {
  return {
    loss: 0,
    correct: 0,
    classes: new Int32Array(options.mode === "classes" ? options.count : 0),
  };
}

function addBatch(
  result: ForwardResult,
  options: ForwardOptions,
  offset: number,
  values: ArrayLike<number>,
): void {
  if (options.mode === "classes") {
    result.classes.set(values, offset);
  } else {
    result.loss += values[0];
    result.correct += values[1];
  }
}

/**
 * Runs `model` on samples `start .. start+count` of `split`, in batches.
 * `beforeBatch(done)` runs before each batch with the samples done so far;
 * it may throw to stop the pass (an interrupt). Reads each batch's result
 * synchronously, which is why it stays beside {@linkcode forwardRangeAsync}:
 * it serves the worker pool (each worker's share, and the calling thread's),
 * which runs on `wasm` only, where a read is a copy from the WASM heap and a
 * worker answers its message in one synchronous turn. Everything else (and
 * every backend) uses {@linkcode forwardRangeAsync}.
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
  split: Split,
  options: ForwardOptions,
  beforeBatch?: (done: number) => void,
): ForwardResult {
  const result = emptyResult(options);
  for (
    const { offset, out } of forwardBatches(model, split, options, beforeBatch)
  ) {
    addBatch(result, options, offset, out.dataSync());
  }
  return result;
}

/**
 * {@linkcode forwardRange} reading each batch with the async API, as every
 * backend allows (the `webgpu` backend only so).
 */
export async function forwardRangeAsync(
  model: tf.LayersModel,
  split: Split,
  options: ForwardOptions,
  beforeBatch?: (done: number) => void,
): Promise<ForwardResult> {
  const result = emptyResult(options);
  for (
    const { offset, out } of forwardBatches(model, split, options, beforeBatch)
  ) {
    addBatch(result, options, offset, await out.data());
  }
  return result;
}

/**
 * The forward pass over a range of a data set, in batches: summed loss and
 * hits (evaluation) or the predicted classes. One loop serves `evaluate`,
 * `predictClasses` and the threads of the worker pool.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { gatherBatch, type Split } from "../data.ts";
import { CONV_RELU_POOL, FIRST_CONVS_POOL } from "../kernels/conv2d.ts";
import { allOnes } from "../kernels/wasm_util.ts";
import { chainLayers } from "./chain.ts";

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

/**
 * A chain's layers as the inference pass runs them: each `Conv2D` layer
 * (stride 1, bias, ReLU, NHWC) followed by a 2×2, stride-2, valid max pool
 * runs with it as one kernel ({@linkcode CONV_RELU_POOL}, `pad` set), and
 * with such a layer before it as well where there is one
 * ({@linkcode FIRST_CONVS_POOL}, `first` and `firstPad` set: the first
 * layer's output is never stored where it has one input channel); every
 * other layer alone.
 */
type InferencePlan = {
  layer: tf.layers.Layer;
  pad?: "valid" | "same";
  first?: tf.layers.Layer;
  firstPad?: "valid" | "same";
}[];

const inferencePlans = new WeakMap<tf.LayersModel, InferencePlan | null>();

function convReluPad(layer: tf.layers.Layer): "valid" | "same" | undefined {
  if (layer.getClassName() !== "Conv2D") return undefined;
  const c = layer.getConfig() as Record<string, unknown>;
  const ok = allOnes(c.strides) && allOnes(c.dilationRate) &&
    (c.dataFormat ?? "channelsLast") === "channelsLast" &&
    c.activation === "relu" && c.useBias === true &&
    layer.weights.length === 2 &&
    layer.weights.every((w) => w.dtype === "float32");
  return ok && (c.padding === "valid" || c.padding === "same")
    ? c.padding
    : undefined;
}

function isPool2x2(layer: tf.layers.Layer): boolean {
  if (layer.getClassName() !== "MaxPooling2D") return false;
  const c = layer.getConfig() as Record<string, unknown>;
  const twos = (v: unknown) =>
    v !== undefined && [v].flat().length > 0 &&
    [v].flat().every((n) => n === 2);
  return twos(c.poolSize) && twos(c.strides) && c.padding === "valid" &&
    (c.dataFormat ?? "channelsLast") === "channelsLast";
}

function inferencePlan(model: tf.LayersModel): InferencePlan | null {
  let plan = inferencePlans.get(model);
  if (plan === undefined) {
    const found = chainLayers(model);
    plan = "problem" in found ? null : [];
    const layers = "problem" in found ? [] : found.layers;
    for (let i = 0; i < layers.length; i++) {
      const pad = convReluPad(layers[i]);
      const next = i + 1 < layers.length
        ? convReluPad(layers[i + 1])
        : undefined;
      if (
        pad !== undefined && next !== undefined && i + 2 < layers.length &&
        isPool2x2(layers[i + 2])
      ) {
        plan!.push({
          layer: layers[i + 1],
          pad: next,
          first: layers[i],
          firstPad: pad,
        });
        i += 2; // the next layer and the pool run in the same kernel
      } else if (
        pad !== undefined && i + 1 < layers.length && isPool2x2(layers[i + 1])
      ) {
        plan!.push({ layer: layers[i], pad });
        i++; // the pool runs in the same kernel
      } else {
        plan!.push({ layer: layers[i] });
      }
    }
    if (plan !== null && plan.every((s) => s.pad === undefined)) plan = null;
    inferencePlans.set(model, plan);
  }
  return plan;
}

/**
 * `model.predict(xs)` for one batch, with each `Conv2D` layer that a 2×2
 * max pool follows run with the pool as one kernel on the wasm backend
 * ({@linkcode CONV_RELU_POOL}: conv2's output is never stored), and with
 * the `Conv2D` layer before it too ({@linkcode FIRST_CONVS_POOL}: nor is
 * conv1's). The same numbers as `model.predict`, bit for bit; another
 * backend, or a model that is not a chain of layers with such a pair, runs
 * `model.predict` itself.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { assertEquals } from "@std/assert";
 * import { initBackend } from "../backend.ts";
 * import { buildModel } from "../model.ts";
 * import { predictBatch } from "./forward.ts";
 * await initBackend();
 * const model = buildModel({ seed: 1 });
 * const xs = tf.randomUniform([3, 28, 28, 1], 0, 1, "float32", 1);
 * const ours = predictBatch(model, xs);
 * const theirs = model.predict(xs) as tf.Tensor;
 * assertEquals(ours.dataSync(), theirs.dataSync());
 * tf.dispose([xs, ours, theirs]);
 * ```
 */
export function predictBatch(model: tf.LayersModel, xs: tf.Tensor): tf.Tensor {
  const plan = tf.getBackend() === "wasm" &&
      tf.getKernel(CONV_RELU_POOL, "wasm") !== undefined
    ? inferencePlan(model)
    : null;
  if (plan === null) {
    return model.predict(xs, { batchSize: xs.shape[0] }) as tf.Tensor;
  }
  return tf.tidy(() => {
    let x = xs;
    for (const { layer, pad, first, firstPad } of plan) {
      if (pad === undefined) {
        x = layer.apply(x, { training: false }) as tf.Tensor;
        continue;
      }
      const [filter, bias] = layer.weights.map((w) => w.read());
      if (first === undefined) {
        x = tf.engine().runKernel(CONV_RELU_POOL, { x, filter, bias }, {
          pad,
        }) as tf.Tensor;
        continue;
      }
      const [filter1, bias1] = first.weights.map((w) => w.read());
      x = tf.engine().runKernel(FIRST_CONVS_POOL, {
        x,
        filter1,
        bias1,
        filter2: filter,
        bias2: bias,
      }, { pad1: firstPad!, pad2: pad }) as tf.Tensor;
    }
    return x;
  });
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
      const probs = predictBatch(
        model,
        xs.reshape([n, ...inputShape]),
      ) as tf.Tensor2D;
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

/**
 * The shared state of one forward pass split over threads by chunks that
 * each thread claims in turn ({@linkcode runClaims}): a slower thread (a
 * busier core) takes fewer, and the results do not depend on who took
 * which.
 */
export interface ForwardClaims {
  /** `[0]`: the next chunk to claim; `[1]`: samples done. */
  counters: Int32Array;
  /** Samples per chunk. */
  chunk: number;
  /** Each chunk's summed loss (`"evaluate"` mode). */
  loss: Float64Array;
  /** Each chunk's hits (`"evaluate"` mode). */
  correct: Int32Array;
  /** Each sample's class (`"classes"` mode; empty otherwise). */
  classes: Int32Array;
}

/**
 * Shared memory for a pass of `options` in chunks of `chunk` samples
 * (default one batch).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { forwardClaims } from "./forward.ts";
 * const claims = forwardClaims({ start: 0, count: 300, mode: "classes" }, 128);
 * assertEquals([claims.loss.length, claims.classes.length], [3, 300]);
 * ```
 */
export function forwardClaims(
  options: ForwardOptions,
  chunk = options.batchSize ?? FORWARD_BATCH,
): ForwardClaims {
  const chunks = Math.ceil(options.count / chunk);
  const samples = options.mode === "classes" ? options.count : 0;
  const buffer = new SharedArrayBuffer(8 + 12 * chunks + 4 * samples);
  return {
    counters: new Int32Array(buffer, 0, 2),
    chunk,
    loss: new Float64Array(buffer, 8, chunks),
    correct: new Int32Array(buffer, 8 + 8 * chunks, chunks),
    classes: new Int32Array(buffer, 8 + 12 * chunks, samples),
  };
}

/**
 * Claims chunks of `claims` until none is left and runs each
 * ({@linkcode forwardRange}), writing its results into `claims`.
 * `beforeBatch(done)` runs before each chunk with the samples every thread
 * finished so far; when it or the pass throws, no thread claims another
 * chunk.
 */
export function runClaims(
  model: tf.LayersModel,
  split: Split,
  options: ForwardOptions,
  claims: ForwardClaims,
  beforeBatch?: (done: number) => void,
): void {
  const chunks = claims.loss.length;
  try {
    for (;;) {
      const k = Atomics.add(claims.counters, 0, 1);
      if (k >= chunks) return;
      beforeBatch?.(Atomics.load(claims.counters, 1));
      const at = k * claims.chunk;
      const count = Math.min(claims.chunk, options.count - at);
      const r = forwardRange(model, split, {
        ...options,
        start: options.start + at,
        count,
      });
      claims.loss[k] = r.loss;
      claims.correct[k] = r.correct;
      if (r.classes.length > 0) claims.classes.set(r.classes, at);
      Atomics.add(claims.counters, 1, count);
    }
  } catch (error) {
    // Stopped or failed: no thread claims another chunk.
    Atomics.store(claims.counters, 0, chunks);
    throw error;
  }
}

/** The results of a pass by claims, its chunks' sums added in order. */
export function claimedResult(claims: ForwardClaims): ForwardResult {
  let loss = 0, correct = 0;
  for (let k = 0; k < claims.loss.length; k++) {
    loss += claims.loss[k];
    correct += claims.correct[k];
  }
  return { loss, correct, classes: claims.classes.slice() };
}

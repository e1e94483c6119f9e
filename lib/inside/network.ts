/**
 * A Sequential conv net as a chain of layers that can be run piece by piece:
 * up to a layer (its activations), from a layer on, and to the class scores
 * before the softmax. What the explanation methods of `lib/inside/` share.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Split } from "../data.ts";
import { UsageError } from "../errors.ts";
import { chainLayers } from "../engine/chain.ts";

/** The inputs of an explanation: 28×28 pictures of 784 values in [0, 1]. */
export type Inputs = Float32Array[] | tf.Tensor;

/** A model's layers in order, checked to form one chain. */
export interface Chain {
  /** The model. */
  model: tf.LayersModel;
  /** Its layers, the input layer left out, in the order data flows. */
  layers: tf.layers.Layer[];
  /** One sample's input shape as the model takes it (e.g. `[28, 28, 1]`). */
  inputShape: number[];
}

/**
 * The layers of `model` as one chain, each feeding the next.
 *
 * @throws {UsageError} when the model is not a chain of layers with one
 * input and one output (a branching functional model).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel } from "../model.ts";
 * import { layerChain } from "./network.ts";
 * const chain = layerChain(buildModel({ seed: 1 }));
 * assertEquals(chain.layers.map((l) => l.name)[0], "conv2d");
 * ```
 */
export function layerChain(model: tf.LayersModel): Chain {
  const found = chainLayers(model);
  if ("problem" in found) throw new UsageError(found.problem);
  return {
    model,
    layers: found.layers,
    inputShape: model.inputs[0].shape.slice(1) as number[],
  };
}

/** Runs `layers[from .. to)` on `x` in inference mode (dropout off). */
export function runLayers(
  chain: Chain,
  x: tf.Tensor,
  from = 0,
  to = chain.layers.length,
): tf.Tensor {
  let y = x;
  for (let i = from; i < to; i++) {
    y = chain.layers[i].apply(y, { training: false }) as tf.Tensor;
  }
  return y;
}

const isSoftmax = (layer: tf.layers.Layer) => {
  const config = layer.getConfig() as { activation?: unknown };
  return config.activation === "softmax";
};

/**
 * The class scores before the softmax ("logits") from the output of layer
 * `from - 1`: the model's last layer without its softmax when it has one (a
 * Dense with `activation: "softmax"`, or a softmax Activation layer),
 * otherwise the model's output itself.
 */
export function classScores(chain: Chain, x: tf.Tensor, from = 0): tf.Tensor2D {
  const last = chain.layers.at(-1)!;
  const n = chain.layers.length;
  if (!isSoftmax(last)) return runLayers(chain, x, from) as tf.Tensor2D;
  const h = runLayers(chain, x, from, n - 1);
  if (last.getClassName() === "Activation") return h as tf.Tensor2D;
  if (last.getClassName() !== "Dense") {
    throw new UsageError(
      `the last layer "${last.name}" is a ${last.getClassName()} with a softmax; explanations need a Dense or an Activation there`,
    );
  }
  const [kernel, bias] = last.getWeights();
  const z = tf.matMul(h.reshape([h.shape[0], -1]), kernel);
  return (bias ? tf.add(z, bias) : z) as tf.Tensor2D;
}

/** True when the chain's last layer is a softmax that {@linkcode classScores} leaves out. */
export function endsInSoftmax(chain: Chain): boolean {
  return isSoftmax(chain.layers.at(-1)!);
}

/**
 * `inputs` as one float32 tensor `[n, ...inputShape]` (a new tensor: the
 * caller disposes it).
 *
 * @throws {UsageError} when an input does not hold 784 values.
 */
export function inputTensor(chain: Chain, inputs: Inputs): tf.Tensor {
  const perSample = chain.inputShape.reduce((a, b) => a * b, 1);
  if (inputs instanceof tf.Tensor) {
    const n = inputs.shape[0] ?? 0;
    if (inputs.size !== n * perSample || n === 0) {
      throw new UsageError(
        `inputs of shape [${inputs.shape}] do not hold pictures of ${perSample} values each`,
      );
    }
    return tf.tidy(() => inputs.toFloat().reshape([n, ...chain.inputShape]));
  }
  if (inputs.length === 0) throw new UsageError("no inputs to explain");
  const data = new Float32Array(inputs.length * perSample);
  for (const [i, input] of inputs.entries()) {
    if (input.length !== perSample) {
      throw new UsageError(
        `input ${i} holds ${input.length} values; the model takes ${perSample}`,
      );
    }
    data.set(input, i * perSample);
  }
  return tf.tensor(data, [inputs.length, ...chain.inputShape]);
}

/** The number of samples in `inputs`. */
export function countInputs(inputs: Inputs): number {
  return inputs instanceof tf.Tensor ? inputs.shape[0] ?? 0 : inputs.length;
}

/** Samples `[start, start + count)` of `inputs`, as {@linkcode Inputs}. */
export function sliceInputs(
  inputs: Inputs,
  start: number,
  count: number,
): Inputs {
  if (!(inputs instanceof tf.Tensor)) return inputs.slice(start, start + count);
  return inputs.slice(
    [start, ...inputs.shape.slice(1).map(() => 0)],
    [count, ...inputs.shape.slice(1).map(() => -1)],
  );
}

/**
 * The pictures of `split` at `indices` as inputs (784 values in [0, 1]).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { digitInputs } from "./network.ts";
 * const split = { images: new Uint8Array(784).fill(255), labels: new Uint8Array(1), count: 1, rows: 28 as const, cols: 28 as const };
 * assertEquals(digitInputs(split, [0])[0][0], 1);
 * ```
 */
export function digitInputs(
  split: Split,
  indices: number[],
): Float32Array[] {
  return indices.map((index) => {
    if (!Number.isInteger(index) || index < 0 || index >= split.count) {
      throw new UsageError(
        `sample ${index} is outside the set of ${split.count}`,
      );
    }
    const out = new Float32Array(784);
    const src = split.images.subarray(index * 784, (index + 1) * 784);
    for (let i = 0; i < 784; i++) out[i] = src[i] / 255;
    return out;
  });
}

/**
 * The index of the layer named `name` in the chain, or of the last layer of
 * class `Conv2D` when `name` is omitted.
 *
 * @throws {UsageError} when there is no such layer.
 */
export function findLayer(chain: Chain, name?: string): number {
  if (name !== undefined) {
    const i = chain.layers.findIndex((l) => l.name === name);
    if (i < 0) {
      throw new UsageError(
        `the model has no layer "${name}"; its layers are ${
          chain.layers.map((l) => l.name).join(", ")
        }`,
      );
    }
    return i;
  }
  for (let i = chain.layers.length - 1; i >= 0; i--) {
    if (chain.layers[i].getClassName() === "Conv2D") return i;
  }
  throw new UsageError(`model "${chain.model.name}" has no Conv2D layer`);
}

/** Splits `count` samples into batches of at most `size`: `[start, n]` pairs. */
export function batches(count: number, size: number): [number, number][] {
  if (!Number.isInteger(size) || size < 1) {
    throw new UsageError(`batchSize must be a whole number ≥ 1, got ${size}`);
  }
  const out: [number, number][] = [];
  for (let s = 0; s < count; s += size) {
    out.push([s, Math.min(size, count - s)]);
  }
  return out;
}

/**
 * The class to explain for each of `n` samples: `classIndex` (one for all, or
 * one per sample), or each sample's predicted class when omitted.
 *
 * @throws {UsageError} when a class is not an index of the scores.
 */
export function targetClasses(
  classIndex: number | number[] | undefined,
  predicted: number[],
  numClasses: number,
): number[] {
  if (classIndex === undefined) return predicted;
  const list = Array.isArray(classIndex)
    ? classIndex
    : predicted.map(() => classIndex);
  if (list.length !== predicted.length) {
    throw new UsageError(
      `classIndex lists ${list.length} classes for ${predicted.length} inputs`,
    );
  }
  for (const c of list) {
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) {
      throw new UsageError(
        `classIndex ${c} is not a class: the model has ${numClasses}`,
      );
    }
  }
  return list;
}

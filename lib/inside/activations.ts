/**
 * Every layer's output for one or more inputs: the feature maps of the conv
 * layers, what the pooling keeps, the dense units, the probabilities.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { type Inputs, inputTensor, layerChain } from "./network.ts";

/** One layer's output for a batch of inputs. */
export interface LayerActivation {
  /** The layer's name (e.g. `conv2d`). */
  name: string;
  /** Its class (e.g. `Conv2D`). */
  className: string;
  /** The output's shape, the batch first (e.g. `[n, 26, 26, 32]`). */
  shape: number[];
  /** The values, row-major (channels last). */
  data: Float32Array;
}

/**
 * Runs `inputs` through the model in inference mode (dropout off) and returns
 * every layer's output, in order. For one input of the tutorial's model,
 * conv1's 32 feature maps are `data[y * 26 * 32 + x * 32 + k]` of the first.
 *
 * @throws {UsageError} on a model that is not a chain of layers, or inputs
 * of the wrong size.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, initBackend } from "../mod.ts";
 * import { activations } from "./activations.ts";
 * await initBackend();
 * const layers = activations(buildModel({ seed: 1 }), [new Float32Array(784)]);
 * assertEquals(layers[0].shape, [1, 26, 26, 32]);
 * assertEquals(layers.at(-1)!.shape, [1, 10]);
 * ```
 */
export function activations(
  model: tf.LayersModel,
  inputs: Inputs,
): LayerActivation[] {
  const chain = layerChain(model);
  const x = inputTensor(chain, inputs);
  const out: LayerActivation[] = [];
  let y: tf.Tensor = x;
  for (const layer of chain.layers) {
    const next = layer.apply(y, { training: false }) as tf.Tensor;
    if (y !== x) y.dispose();
    y = next;
    out.push({
      name: layer.name,
      className: layer.getClassName(),
      shape: y.shape.slice(),
      data: y.dataSync().slice() as Float32Array,
    });
  }
  if (y !== x) y.dispose();
  x.dispose();
  return out;
}

/**
 * Channel `k` of sample `i` of a 2-D layer's output as one `h × w` map.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { featureMap } from "./activations.ts";
 * const layer = { name: "c", className: "Conv2D", shape: [1, 1, 2, 2], data: Float32Array.of(1, 2, 3, 4) };
 * assertEquals(Array.from(featureMap(layer, 0, 1)), [2, 4]);
 * ```
 */
export function featureMap(
  layer: LayerActivation,
  sample: number,
  channel: number,
): Float32Array {
  const [, h, w, k] = layer.shape;
  const out = new Float32Array(h * w);
  const base = sample * h * w * k;
  for (let p = 0; p < h * w; p++) out[p] = layer.data[base + p * k + channel];
  return out;
}

/**
 * The learned kernels of a conv layer as small images.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { UsageError } from "../errors.ts";
import { findLayer, layerChain } from "./network.ts";

/** A conv layer's kernels. */
export interface ConvFilters {
  /** The layer's name. */
  layer: string;
  /** Kernel height and width (3 × 3 in the tutorial). */
  height: number;
  /** Kernel width. */
  width: number;
  /** Input channels (1 for conv1, 32 for conv2). */
  inChannels: number;
  /**
   * `kernels[out][in]`: the `height × width` image (row by row) with which
   * output channel `out` looks at input channel `in`.
   */
  kernels: Float32Array[][];
}

/**
 * The kernels of a `Conv2D` layer (the first by default, or the one named):
 * for the tutorial's conv1, 32 kernels of 3×3 on the one input channel; for
 * conv2, per output channel 32 kernels of 3×3, one per conv1 map.
 *
 * @throws {UsageError} when the layer does not exist or is not a `Conv2D`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel } from "../model.ts";
 * import { convFilters } from "./filters.ts";
 * const conv2 = convFilters(buildModel({ seed: 1 }), { layer: "conv2d_1" });
 * assertEquals([conv2.kernels.length, conv2.kernels[0].length, conv2.height], [64, 32, 3]);
 * ```
 */
export function convFilters(
  model: tf.LayersModel,
  options: { layer?: string } = {},
): ConvFilters {
  const chain = layerChain(model);
  const index = options.layer === undefined
    ? chain.layers.findIndex((l) => l.getClassName() === "Conv2D")
    : findLayer(chain, options.layer);
  const layer = chain.layers[index];
  if (!layer || layer.getClassName() !== "Conv2D") {
    throw new UsageError(
      layer
        ? `layer "${layer.name}" is a ${layer.getClassName()}, not a Conv2D`
        : `model "${model.name}" has no Conv2D layer`,
    );
  }
  const kernel = layer.getWeights()[0];
  const [h, w, cin, cout] = kernel.shape;
  const values = kernel.dataSync();
  const kernels = Array.from(
    { length: cout },
    () => Array.from({ length: cin }, () => new Float32Array(h * w)),
  );
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let i = 0; i < cin; i++) {
        for (let o = 0; o < cout; o++) {
          kernels[o][i][y * w + x] = values[((y * w + x) * cin + i) * cout + o];
        }
      }
    }
  }
  return { layer: layer.name, height: h, width: w, inChannels: cin, kernels };
}

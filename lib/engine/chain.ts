/**
 * Whether a model is one chain of layers, each taking the previous one's
 * output alone (a Sequential model, or a functional one shaped like it): what
 * both the fused training pass and the explanations of `lib/inside/` walk.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";

/**
 * The layers of `model` in the order data flows, the input layer left out,
 * or the reason it is not one chain.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel } from "../model.ts";
 * import { chainLayers } from "./chain.ts";
 * const found = chainLayers(buildModel({ seed: 1 }));
 * assertEquals("layers" in found && found.layers.length, 8);
 * ```
 */
export function chainLayers(
  model: tf.LayersModel,
): { layers: tf.layers.Layer[] } | { problem: string } {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    return {
      problem:
        `model "${model.name}" has ${model.inputs.length} inputs and ${model.outputs.length} outputs; explanations need one of each`,
    };
  }
  const layers = model.layers.filter((l) => l.getClassName() !== "InputLayer");
  if (layers.length === 0) {
    return { problem: `model "${model.name}" has no layers` };
  }
  for (let i = 1; i < layers.length; i++) {
    const from = layers[i].inboundNodes.at(-1)?.inboundLayers ?? [];
    if (from.length !== 1 || from[0] !== layers[i - 1]) {
      return {
        problem: `model "${model.name}" is not a chain of layers: "${
          layers[i].name
        }" does not take "${layers[i - 1].name}"'s output alone`,
      };
    }
  }
  return { layers };
}

/**
 * A model's weights as one flat float32 array (trainable weights first, in
 * `model.trainableWeights` order, then the others), the layout that worker
 * threads share: the same index means the same element of the same weight in
 * every replica of the model, and in the flat gradients of the trainable
 * part.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** The variables of `model` in flat order: trainable first, then the rest. */
export function flatOrder(model: tf.LayersModel): tf.Variable[] {
  return [...model.trainableWeights, ...model.nonTrainableWeights].map((w) =>
    w.read() as tf.Variable
  );
}

/** Number of floats of the trainable weights and of all weights. */
export function flatSizes(
  model: tf.LayersModel,
): { trainable: number; total: number } {
  const size = (ws: tf.LayerVariable[]) =>
    ws.reduce((n, w) => n + w.read().size, 0);
  const trainable = size(model.trainableWeights);
  return { trainable, total: trainable + size(model.nonTrainableWeights) };
}

/**
 * Copies the weights of `model` into `flat` (which holds at least
 * {@linkcode flatSizes}`.total` floats).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel } from "../model.ts";
 * import { flatSizes, readFlat, writeFlat } from "./flat_weights.ts";
 * const a = buildModel({ seed: 1 }), b = buildModel({ seed: 2 });
 * const flat = new Float32Array(flatSizes(a).total);
 * assertEquals(flat.length, 1199882);
 * writeFlat(a, flat);
 * readFlat(b, flat); // b now holds a's weights
 * assertEquals(b.getWeights()[0].dataSync(), a.getWeights()[0].dataSync());
 * ```
 */
export function writeFlat(model: tf.LayersModel, flat: Float32Array): void {
  let offset = 0;
  for (const v of flatOrder(model)) {
    flat.set(v.dataSync() as Float32Array, offset);
    offset += v.size;
  }
}

/**
 * Sets the weights of `model` from `flat`. Each variable gets new data (an
 * `assign`, never a write in place, so that caches keyed by tensor, such as
 * XNNPACK's packed weights, stay right).
 */
export function readFlat(model: tf.LayersModel, flat: Float32Array): void {
  let offset = 0;
  for (const v of flatOrder(model)) {
    const value = tf.tensor(
      flat.subarray(offset, offset + v.size),
      v.shape,
      "float32",
    );
    v.assign(value);
    value.dispose();
    offset += v.size;
  }
}

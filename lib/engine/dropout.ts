/**
 * Seeded dropout for training. tfjs's Dropout given a fixed `seed` repeats the
 * same mask at every step, which trains badly; without one it draws from
 * `Math.random`, which cannot be reproduced or resumed. This module makes each
 * `Dropout` layer of a model draw its mask from a counter-based stream keyed
 * by (seed, epoch, layer, sample), so the mask of a sample never depends on
 * the step count or on how the batch is split between threads. The layers
 * stay stock `Dropout` layers, so saved models are plain Keras/tfjs models.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { dropoutMaskWasm } from "../kernels/dropout_mask.ts";
import { deriveKey, fillUniform } from "./random.ts";

/** Which samples the next training forward pass holds. */
export interface DropoutKeys {
  /** The run's seed. */
  seed: number;
  /** The epoch (0-based). */
  epoch: number;
  /** Index in the training set of each sample of the batch, in batch order. */
  ids: ArrayLike<number>;
}

interface KeyedDropout {
  rate: number;
  keys?: DropoutKeys;
  call: (
    inputs: tf.Tensor | tf.Tensor[],
    kwargs: Record<string, unknown>,
  ) => tf.Tensor;
}

const patched = new WeakSet<tf.layers.Layer>();

/**
 * The mask the keyed `Dropout` layer `layer` of `model` (see
 * {@linkcode setDropoutKeys}) multiplies a training batch of `shape` by, for
 * a pass that applies it itself; `null` where the layer would pass the batch
 * unchanged (no keys, rate 0); `undefined` where the layer is not keyed (its
 * own call draws its mask).
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { buildModel } from "../model.ts";
 * import { layerMask, setDropoutKeys } from "./dropout.ts";
 * const model = buildModel({ seed: 1 });
 * const dropout = model.layers.find((l) => l.getClassName() === "Dropout")!;
 * assertEquals(layerMask(model, dropout, [2, 12, 12, 64]), undefined);
 * setDropoutKeys(model, { seed: 1, epoch: 0, ids: [3, 4] });
 * const m = layerMask(model, dropout, [2, 12, 12, 64])!;
 * const kept = (m.dataSync() as Float32Array).filter((v) => v > 0).length;
 * assert(kept > 0.6 * m.size && kept < 0.9 * m.size); // rate 0.25
 * m.dispose();
 * ```
 *
 * @throws {RangeError} when the keys name another number of samples.
 */
export function layerMask(
  model: tf.LayersModel,
  layer: tf.layers.Layer,
  shape: number[],
): tf.Tensor | null | undefined {
  if (!patched.has(layer)) return undefined;
  const { keys, rate } = layer as unknown as KeyedDropout;
  if (!keys || rate <= 0) return null;
  if (shape[0] !== keys.ids.length) {
    throw new RangeError(
      `dropout keys name ${keys.ids.length} samples, the batch has ${shape[0]}`,
    );
  }
  return mask(shape, rate, model.layers.indexOf(layer), keys);
}

/**
 * Builds the keep-mask (0 or 1/(1-rate)) of one layer for one batch: on the
 * wasm backend with the SIMD kernel, elsewhere in JS (the same numbers).
 */
export function mask(
  shape: number[],
  rate: number,
  layer: number,
  keys: DropoutKeys,
): tf.Tensor {
  const scale = 1 / (1 - rate);
  if (tf.getBackend() === "wasm") {
    const rowKeys = new Uint32Array(shape[0]);
    for (let s = 0; s < shape[0]; s++) {
      rowKeys[s] = deriveKey(keys.seed, keys.epoch, layer, keys.ids[s]);
    }
    const info = dropoutMaskWasm(
      tf.backend() as BackendWasm,
      shape,
      rowKeys,
      rate,
      scale,
    );
    if (info) return tf.engine().makeTensorFromTensorInfo(info);
  }
  return maskJs(shape, rate, layer, keys);
}

/**
 * The keep-mask drawn in JS from `random.ts`: the reference the wasm kernel
 * matches element for element.
 */
export function maskJs(
  shape: number[],
  rate: number,
  layer: number,
  keys: DropoutKeys,
): tf.Tensor {
  const perSample = shape.slice(1).reduce((a, b) => a * b, 1);
  const values = new Float32Array(shape[0] * perSample);
  const scale = 1 / (1 - rate);
  for (let s = 0; s < shape[0]; s++) {
    const row = values.subarray(s * perSample, (s + 1) * perSample);
    fillUniform(deriveKey(keys.seed, keys.epoch, layer, keys.ids[s]), row);
    for (let i = 0; i < row.length; i++) row[i] = row[i] < rate ? 0 : scale;
  }
  return tf.tensor(values, shape, "float32");
}

/**
 * Sets the keys of the next training forward pass for every Dropout layer of
 * `model`. The first call replaces each layer's `call` with the keyed one;
 * inference (`training` false) is untouched.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { assertEquals } from "@std/assert";
 * import { buildModel } from "../model.ts";
 * import { setDropoutKeys } from "./dropout.ts";
 * const model = buildModel({ seed: 1 });
 * const x = tf.ones([2, 28, 28, 1]);
 * const run = () =>
 *   Array.from((model.apply(x, { training: true }) as tf.Tensor).dataSync());
 * setDropoutKeys(model, { seed: 1, epoch: 0, ids: [0, 1] });
 * const first = run();
 * setDropoutKeys(model, { seed: 1, epoch: 0, ids: [0, 1] });
 * assertEquals(run(), first); // the same keys draw the same masks
 * ```
 */
export function setDropoutKeys(model: tf.LayersModel, keys: DropoutKeys): void {
  model.layers.forEach((layer, index) => {
    if (layer.getClassName() !== "Dropout") return;
    const dropout = layer as unknown as KeyedDropout;
    dropout.keys = keys;
    if (patched.has(layer)) return;
    patched.add(layer);
    dropout.call = (inputs, kwargs) =>
      tf.tidy(() => {
        const x = Array.isArray(inputs) ? inputs[0] : inputs;
        const keys = dropout.keys;
        if (!kwargs["training"] || !keys || dropout.rate <= 0) return x;
        if (x.shape[0] !== keys.ids.length) {
          throw new RangeError(
            `dropout keys name ${keys.ids.length} samples, the batch has ${
              x.shape[0]
            }`,
          );
        }
        return tf.mul(x, mask(x.shape, dropout.rate, index, keys));
      });
  });
}

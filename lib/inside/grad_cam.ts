/**
 * Grad-CAM (Selvaraju et al. 2017): a conv layer's feature maps weighted by
 * the mean gradient of a class's score over each map, summed and passed
 * through a ReLU, then brought back onto the 28×28 input along the layer's
 * own geometry (where each of its pixels looks).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { UsageError } from "../errors.ts";
import {
  batches,
  type Chain,
  classScores,
  countInputs,
  findLayer,
  type Inputs,
  inputTensor,
  layerChain,
  runLayers,
  sliceInputs,
  targetClasses,
} from "./network.ts";
import { classMask, type Explained, scoresOf } from "./saliency.ts";

/** The side of the maps Grad-CAM returns (the MNIST input's). */
export const MAP_SIDE = 28;

/** Options of {@linkcode gradCam}. */
export interface GradCamOptions {
  /** The conv layer to explain by name; default the last `Conv2D`. */
  layer?: string;
  /** The class to explain: one for every input, or one per input; default each input's predicted class. */
  classIndex?: number | number[];
  /** Inputs per forward/backward pass (default 64). */
  batchSize?: number;
}

/** What {@linkcode gradCam} returns. */
export interface GradCamResult extends Explained {
  /** The layer explained. */
  layer: string;
  /** The maps at the layer's own resolution, before upsampling. */
  coarse: { height: number; width: number; maps: Float32Array[] };
}

/**
 * Where the pixels of layer `index`'s output look in the input: output pixel
 * `j` is centred on input pixel `offset + stride · j` (both axes), from the
 * kernels, strides and padding of the conv and pooling layers up to it.
 * `undefined` when a layer on the way changes the geometry in a way this does
 * not follow (the map is then stretched over the input instead).
 */
export function layerGeometry(
  chain: Chain,
  index: number,
): { stride: number; offset: number } | undefined {
  let stride = 1, offset = 0;
  let size = chain.inputShape.length === 3 ? chain.inputShape[0] : MAP_SIDE;
  for (let i = 0; i <= index; i++) {
    const layer = chain.layers[i];
    const cls = layer.getClassName();
    const config = layer.getConfig() as Record<string, unknown>;
    const pair = (v: unknown) => (Array.isArray(v) ? v[0] : v) as number;
    let k: number, s: number;
    if (cls === "Conv2D") {
      const d = pair(config.dilationRate ?? 1);
      k = (pair(config.kernelSize) - 1) * d + 1;
      s = pair(config.strides ?? 1);
    } else if (cls === "MaxPooling2D" || cls === "AveragePooling2D") {
      k = pair(config.poolSize);
      s = pair(config.strides ?? k);
    } else {
      const shape = layer.outputShape as number[];
      if (shape.length === 4 && shape[1] === size) continue; // same grid
      if (i === 0 && shape.length === 4 && shape[1] === MAP_SIDE) {
        size = MAP_SIDE; // a Reshape of the flat input to 28×28
        continue;
      }
      return undefined;
    }
    const out = (layer.outputShape as number[])[1];
    const before = config.padding === "same"
      ? Math.floor(Math.max((out - 1) * s + k - size, 0) / 2)
      : 0;
    offset += stride * ((k - 1) / 2 - before);
    stride *= s;
    size = out;
  }
  return { stride, offset };
}

/**
 * Brings an `h × w` map onto the 28×28 input: bilinear, along the layer's
 * geometry where known (pixel `j` of the map sits at `offset + stride · j`),
 * else stretched corner to corner. Outside the map's centres the nearest
 * edge value is used.
 */
export function upsample(
  map: Float32Array,
  height: number,
  width: number,
  geometry: { stride: number; offset: number } | undefined,
): Float32Array {
  const out = new Float32Array(MAP_SIDE * MAP_SIDE);
  const where = (p: number, n: number) => {
    const t = geometry
      ? (p - geometry.offset) / geometry.stride
      : (p * (n - 1)) / (MAP_SIDE - 1);
    return Math.min(Math.max(t, 0), n - 1);
  };
  for (let y = 0; y < MAP_SIDE; y++) {
    const v = where(y, height), y0 = Math.floor(v);
    const y1 = Math.min(y0 + 1, height - 1), fy = v - y0;
    for (let x = 0; x < MAP_SIDE; x++) {
      const u = where(x, width), x0 = Math.floor(u);
      const x1 = Math.min(x0 + 1, width - 1), fx = u - x0;
      out[y * MAP_SIDE + x] = (1 - fy) *
          ((1 - fx) * map[y0 * width + x0] + fx * map[y0 * width + x1]) +
        fy * ((1 - fx) * map[y1 * width + x0] + fx * map[y1 * width + x1]);
    }
  }
  return out;
}

/**
 * The layer's activations `A` and the gradient of each sample's target score
 * with respect to them, `dA`, both `[n, h, w, k]` (the caller disposes them).
 */
export function layerGradient(
  chain: Chain,
  x: tf.Tensor,
  index: number,
  targets: number[],
  numClasses: number,
): { activations: tf.Tensor; gradient: tf.Tensor } {
  return tf.tidy(() => {
    const activations = runLayers(chain, x, 0, index + 1);
    const mask = classMask(targets, numClasses);
    const gradient = tf.grad((a: tf.Tensor) =>
      tf.sum(tf.mul(classScores(chain, a, index + 1), mask))
    )(activations);
    return { activations, gradient };
  });
}

/** Grad-CAM at the layer's resolution: `relu(Σ_k mean(dA_k) · A_k)`, `[n, h, w]`. */
export function camOf(activations: tf.Tensor, gradient: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const weights = tf.mean(gradient, [1, 2], true);
    return tf.relu(tf.sum(tf.mul(activations, weights), -1));
  });
}

/**
 * Grad-CAM for each input: for the class to explain (the predicted one by
 * default), the conv layer's `k` feature maps `A_k` (the last `Conv2D`, or
 * the one named) weighted by `α_k`, the mean over the map of `d score / d
 * A_k`, summed, through a ReLU: `relu(Σ_k α_k A_k)`. Returned at the layer's
 * resolution (`coarse`) and upsampled to 28×28 (`maps`) where each of the
 * layer's pixels looks (for the tutorial's conv2, 24×24 maps centred on input
 * pixels 2..25). Runs in batches on the active backend.
 *
 * @throws {UsageError} on a model that is not a chain of layers, a layer
 * that does not exist or has no 2-D feature maps, or a bad class.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, initBackend } from "../mod.ts";
 * import { gradCam } from "./grad_cam.ts";
 * await initBackend();
 * const cam = gradCam(buildModel({ seed: 1 }), [new Float32Array(784).fill(0.5)]);
 * assertEquals([cam.layer, cam.coarse.height, cam.maps[0].length], ["conv2d_1", 24, 784]);
 * ```
 */
export function gradCam(
  model: tf.LayersModel,
  inputs: Inputs,
  options: GradCamOptions = {},
): GradCamResult {
  const chain = layerChain(model);
  const index = findLayer(chain, options.layer);
  const shape = chain.layers[index].outputShape as number[];
  if (shape.length !== 4) {
    throw new UsageError(
      `layer "${
        chain.layers[index].name
      }" outputs [${shape}], not 2-D feature maps; name a conv layer`,
    );
  }
  const [, height, width] = shape;
  const geometry = layerGeometry(chain, index);
  const out: GradCamResult = {
    classes: [],
    probabilities: [],
    targets: [],
    maps: [],
    layer: chain.layers[index].name,
    coarse: { height, width, maps: [] },
  };
  const n = countInputs(inputs);
  for (const [start, count] of batches(n, options.batchSize ?? 64)) {
    const part = sliceInputs(inputs, start, count);
    const x = inputTensor(chain, part);
    if (part !== inputs && part instanceof tf.Tensor) part.dispose();
    const { probabilities, classes } = scoresOf(chain, x);
    const targets = targetClasses(
      Array.isArray(options.classIndex)
        ? options.classIndex.slice(start, start + count)
        : options.classIndex,
      classes,
      probabilities[0].length,
    );
    const { activations, gradient } = layerGradient(
      chain,
      x,
      index,
      targets,
      probabilities[0].length,
    );
    const cam = camOf(activations, gradient);
    const values = cam.dataSync() as Float32Array;
    tf.dispose([x, activations, gradient, cam]);
    for (let i = 0; i < count; i++) {
      const coarse = values.slice(i * height * width, (i + 1) * height * width);
      out.coarse.maps.push(coarse);
      out.maps.push(upsample(coarse, height, width, geometry));
    }
    out.classes.push(...classes);
    out.probabilities.push(...probabilities);
    out.targets.push(...targets);
  }
  return out;
}

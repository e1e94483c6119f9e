/**
 * Saliency: the gradient of a class's score (before the softmax) with respect
 * to the input pixels (Simonyan et al. 2014), plain or SmoothGrad's average
 * over noisy copies of the input (Smilkov et al. 2017), seeded.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { deriveKey, fillUniform } from "../engine/random.ts";
import { UsageError } from "../errors.ts";
import {
  batches,
  type Chain,
  classScores,
  countInputs,
  endsInSoftmax,
  type Inputs,
  inputTensor,
  layerChain,
  sliceInputs,
  targetClasses,
} from "./network.ts";

/** SmoothGrad's settings. */
export interface SmoothGradOptions {
  /** Noisy copies per input (default 25). */
  samples?: number;
  /** The noise's standard deviation as a share of the input's range, max − min (default 0.15). */
  noise?: number;
  /** Seed of the noise (default 0): the same seed gives the same map. */
  seed?: number;
}

/** Options of {@linkcode saliency}. */
export interface SaliencyOptions {
  /** The class to explain: one for every input, or one per input; default each input's predicted class. */
  classIndex?: number | number[];
  /** Average the gradient over noisy copies of each input (SmoothGrad). */
  smoothGrad?: SmoothGradOptions | boolean;
  /** Inputs per forward/backward pass (default 64). */
  batchSize?: number;
}

/** What the explanation methods return for a batch of inputs. */
export interface Explained {
  /** Each input's predicted class. */
  classes: number[];
  /** Each input's probabilities (the model's output). */
  probabilities: number[][];
  /** The class each map explains. */
  targets: number[];
  /** One map per input, 28×28 row by row (784 values). */
  maps: Float32Array[];
}

/** The model's scores, probabilities and predicted classes for `x`. */
export function scoresOf(
  chain: Chain,
  x: tf.Tensor,
): { scores: number[][]; probabilities: number[][]; classes: number[] } {
  const [scores, probs] = tf.tidy(() => {
    const z = classScores(chain, x);
    return [z, endsInSoftmax(chain) ? tf.softmax(z) : z];
  });
  const rows = (t: tf.Tensor) => {
    const v = t.dataSync(), k = t.shape[1] ?? 1, out: number[][] = [];
    for (let i = 0; i < t.shape[0]; i++) {
      out.push(Array.from(v.subarray(i * k, (i + 1) * k)));
    }
    return out;
  };
  const result = { scores: rows(scores), probabilities: rows(probs) };
  tf.dispose([scores, probs]);
  return {
    ...result,
    classes: result.probabilities.map((p) => p.indexOf(Math.max(...p))),
  };
}

/** A one-hot `[n, k]` mask selecting each sample's target class. */
export function classMask(targets: number[], k: number): tf.Tensor2D {
  return tf.tidy(() =>
    tf.oneHot(tf.tensor1d(targets, "int32"), k).toFloat() as tf.Tensor2D
  );
}

/** d score[target] / d x for each sample of `x` (all samples at once). */
export function inputGradient(
  chain: Chain,
  x: tf.Tensor,
  targets: number[],
  numClasses: number,
): tf.Tensor {
  return tf.tidy(() => {
    const mask = classMask(targets, numClasses);
    return tf.grad((input: tf.Tensor) =>
      tf.sum(tf.mul(classScores(chain, input), mask))
    )(x);
  });
}

/** Standard normal noise from the counter-based stream `key` (Box–Muller). */
export function gaussian(key: number, size: number): Float32Array {
  const u = fillUniform(key, new Float32Array(size + (size % 2)));
  const out = new Float32Array(size);
  for (let i = 0; i < size; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - u[i]));
    const t = 2 * Math.PI * u[i + 1];
    out[i] = r * Math.cos(t);
    if (i + 1 < size) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

function smoothSettings(option: SaliencyOptions["smoothGrad"]) {
  if (!option) return undefined;
  const o = option === true ? {} : option;
  const samples = o.samples ?? 25, noise = o.noise ?? 0.15, seed = o.seed ?? 0;
  if (!Number.isInteger(samples) || samples < 1 || samples > 10_000) {
    throw new UsageError(
      `smoothGrad.samples must be a whole number from 1 to 10000, got ${samples}`,
    );
  }
  if (!(noise >= 0 && noise <= 10)) {
    throw new UsageError(
      `smoothGrad.noise must be from 0 to 10, got ${noise}`,
    );
  }
  if (!Number.isInteger(seed)) {
    throw new UsageError(`smoothGrad.seed must be an integer, got ${seed}`);
  }
  return { samples, noise, seed };
}

/**
 * The saliency map of each input: `d score[c] / d pixel`, signed, for the
 * class `c` to explain (the predicted one by default), where the score is
 * the model's output before its softmax. With `smoothGrad`, the average of
 * that gradient over `samples` copies of the input with Gaussian noise added
 * (σ = `noise` × the input's range), drawn from a seeded stream, so a seed
 * always gives the same map. Runs in batches on the active backend.
 *
 * @throws {UsageError} on a model that is not a chain of layers, inputs of
 * the wrong size, a class that does not exist or bad SmoothGrad settings.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, initBackend } from "../mod.ts";
 * import { saliency } from "./saliency.ts";
 * await initBackend();
 * const digit = new Float32Array(784).fill(0.5);
 * const { maps, targets } = saliency(buildModel({ seed: 1 }), [digit], { classIndex: 3 });
 * assertEquals([maps[0].length, targets[0]], [784, 3]);
 * ```
 */
export function saliency(
  model: tf.LayersModel,
  inputs: Inputs,
  options: SaliencyOptions = {},
): Explained {
  const chain = layerChain(model);
  const smooth = smoothSettings(options.smoothGrad);
  const out: Explained = {
    classes: [],
    probabilities: [],
    targets: [],
    maps: [],
  };
  const n = countInputs(inputs);
  const perInput = smooth ? smooth.samples : 1;
  const size = Math.max(1, Math.floor((options.batchSize ?? 64) / perInput));
  for (const [start, count] of batches(n, size)) {
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
    const pixels = x.size / count;
    let grads: Float32Array;
    if (!smooth) {
      const g = inputGradient(chain, x, targets, probabilities[0].length);
      grads = g.dataSync() as Float32Array;
      g.dispose();
    } else {
      grads = smoothGradient(
        chain,
        x,
        targets,
        probabilities[0].length,
        smooth,
        start,
      );
    }
    x.dispose();
    for (let i = 0; i < count; i++) {
      out.maps.push(grads.slice(i * pixels, (i + 1) * pixels));
    }
    out.classes.push(...classes);
    out.probabilities.push(...probabilities);
    out.targets.push(...targets);
  }
  return out;
}

/** SmoothGrad for the inputs `x` (sample `first + i` of the call is `x[i]`). */
function smoothGradient(
  chain: Chain,
  x: tf.Tensor,
  targets: number[],
  numClasses: number,
  smooth: { samples: number; noise: number; seed: number },
  first: number,
): Float32Array {
  const count = x.shape[0];
  const pixels = x.size / count;
  const clean = x.dataSync();
  const noisy = new Float32Array(count * smooth.samples * pixels);
  const noisyTargets: number[] = [];
  for (let i = 0; i < count; i++) {
    const image = clean.subarray(i * pixels, (i + 1) * pixels);
    let lo = Infinity, hi = -Infinity;
    for (const v of image) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const sigma = smooth.noise * (hi - lo || 1);
    for (let s = 0; s < smooth.samples; s++) {
      const noise = gaussian(deriveKey(smooth.seed, first + i, s), pixels);
      const at = (i * smooth.samples + s) * pixels;
      for (let p = 0; p < pixels; p++) {
        noisy[at + p] = image[p] + sigma * noise[p];
      }
      noisyTargets.push(targets[i]);
    }
  }
  const xs = tf.tensor(noisy, [count * smooth.samples, ...x.shape.slice(1)]);
  const g = inputGradient(chain, xs, noisyTargets, numClasses);
  const all = g.dataSync();
  tf.dispose([xs, g]);
  const out = new Float32Array(count * pixels);
  for (let i = 0; i < count; i++) {
    for (let s = 0; s < smooth.samples; s++) {
      const at = (i * smooth.samples + s) * pixels;
      for (let p = 0; p < pixels; p++) {
        out[i * pixels + p] += all[at + p] / smooth.samples;
      }
    }
  }
  return out;
}

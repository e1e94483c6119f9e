/**
 * The tutorial's CNN in plain float64 loops, independent of tfjs: the forward
 * pass from the model's weights, and by hand the gradient of a class score
 * (before the softmax) with respect to conv2's output and to the input. The
 * references the explanation tests compare against; also small models for
 * the tests, trained in a few seconds.
 */
import type * as tf from "@tensorflow/tfjs";
import { buildModel, type Dataset, train } from "../../lib/mod.ts";
import { realMnist, silent, smallTest } from "../helpers.ts";

/** The model's weights as float64 arrays. */
export interface RefWeights {
  k1: Float64Array; // [3,3,1,32]
  b1: Float64Array;
  k2: Float64Array; // [3,3,32,64]
  b2: Float64Array;
  w1: Float64Array; // [9216,128]
  c1: Float64Array;
  w2: Float64Array; // [128,10]
  c2: Float64Array;
}

/** Reads the tutorial model's eight weight tensors. */
export function refWeights(model: tf.LayersModel): RefWeights {
  const [k1, b1, k2, b2, w1, c1, w2, c2] = model.getWeights().map((w) =>
    Float64Array.from(w.dataSync())
  );
  return { k1, b1, k2, b2, w1, c1, w2, c2 };
}

/** Every intermediate of the forward pass. */
export interface RefForward {
  a1: Float64Array; // 26*26*32, after ReLU
  a2: Float64Array; // 24*24*64, after ReLU: conv2's output
  pooled: Float64Array; // 12*12*64
  from: Int32Array; // for each pooled value, its index in a2
  h: Float64Array; // 128 after ReLU
  z: Float64Array; // 10 scores before the softmax
}

function conv(
  x: Float64Array,
  side: number,
  cin: number,
  k: Float64Array,
  b: Float64Array,
  cout: number,
): Float64Array {
  const o = side - 2;
  const out = new Float64Array(o * o * cout);
  for (let y = 0; y < o; y++) {
    for (let xx = 0; xx < o; xx++) {
      const at = (y * o + xx) * cout;
      for (let c = 0; c < cout; c++) out[at + c] = b[c];
      for (let dy = 0; dy < 3; dy++) {
        for (let dx = 0; dx < 3; dx++) {
          const src = ((y + dy) * side + xx + dx) * cin;
          for (let i = 0; i < cin; i++) {
            const v = x[src + i];
            if (v === 0) continue;
            const kk = ((dy * 3 + dx) * cin + i) * cout;
            for (let c = 0; c < cout; c++) out[at + c] += v * k[kk + c];
          }
        }
      }
      for (let c = 0; c < cout; c++) out[at + c] = Math.max(0, out[at + c]);
    }
  }
  return out;
}

/** The forward pass of one 28×28 input. */
export function refForward(w: RefWeights, x: ArrayLike<number>): RefForward {
  const a1 = conv(Float64Array.from(x), 28, 1, w.k1, w.b1, 32);
  const a2 = conv(a1, 26, 32, w.k2, w.b2, 64);
  const pooled = new Float64Array(12 * 12 * 64);
  const from = new Int32Array(12 * 12 * 64);
  for (let y = 0; y < 12; y++) {
    for (let xx = 0; xx < 12; xx++) {
      for (let c = 0; c < 64; c++) {
        let best = -Infinity, arg = -1;
        for (let dy = 0; dy < 2; dy++) {
          for (let dx = 0; dx < 2; dx++) {
            const i = ((2 * y + dy) * 24 + 2 * xx + dx) * 64 + c;
            if (a2[i] > best) [best, arg] = [a2[i], i];
          }
        }
        pooled[(y * 12 + xx) * 64 + c] = best;
        from[(y * 12 + xx) * 64 + c] = arg;
      }
    }
  }
  const h = new Float64Array(128);
  for (let j = 0; j < 128; j++) h[j] = w.c1[j];
  for (let i = 0; i < 9216; i++) {
    const v = pooled[i];
    if (v === 0) continue;
    for (let j = 0; j < 128; j++) h[j] += v * w.w1[i * 128 + j];
  }
  for (let j = 0; j < 128; j++) h[j] = Math.max(0, h[j]);
  const z = new Float64Array(10);
  for (let c = 0; c < 10; c++) {
    z[c] = w.c2[c];
    for (let j = 0; j < 128; j++) z[c] += h[j] * w.w2[j * 10 + c];
  }
  return { a1, a2, pooled, from, h, z };
}

/** d z[c] / d a2 (conv2's output, after its ReLU), by the chain rule. */
export function refGradA2(
  w: RefWeights,
  f: RefForward,
  c: number,
): Float64Array {
  const dh = new Float64Array(128);
  for (let j = 0; j < 128; j++) dh[j] = f.h[j] > 0 ? w.w2[j * 10 + c] : 0;
  const da2 = new Float64Array(24 * 24 * 64);
  for (let i = 0; i < 9216; i++) {
    let s = 0;
    for (let j = 0; j < 128; j++) s += w.w1[i * 128 + j] * dh[j];
    da2[f.from[i]] += s;
  }
  return da2;
}

/** d z[c] / d x: the saliency map, by the chain rule from {@linkcode refGradA2}. */
export function refGradInput(
  w: RefWeights,
  f: RefForward,
  da2: Float64Array,
): Float64Array {
  const da1 = new Float64Array(26 * 26 * 32);
  for (let y = 0; y < 24; y++) {
    for (let x = 0; x < 24; x++) {
      for (let c = 0; c < 64; c++) {
        const g = f.a2[(y * 24 + x) * 64 + c] > 0
          ? da2[(y * 24 + x) * 64 + c]
          : 0;
        if (g === 0) continue;
        for (let dy = 0; dy < 3; dy++) {
          for (let dx = 0; dx < 3; dx++) {
            for (let i = 0; i < 32; i++) {
              da1[((y + dy) * 26 + x + dx) * 32 + i] += g *
                w.k2[((dy * 3 + dx) * 32 + i) * 64 + c];
            }
          }
        }
      }
    }
  }
  const dx = new Float64Array(784);
  for (let y = 0; y < 26; y++) {
    for (let x = 0; x < 26; x++) {
      for (let c = 0; c < 32; c++) {
        const g = f.a1[(y * 26 + x) * 32 + c] > 0
          ? da1[(y * 26 + x) * 32 + c]
          : 0;
        if (g === 0) continue;
        for (let dy = 0; dy < 3; dy++) {
          for (let ddx = 0; ddx < 3; ddx++) {
            dx[(y + dy) * 28 + x + ddx] += g * w.k1[(dy * 3 + ddx) * 32 + c];
          }
        }
      }
    }
  }
  return dx;
}

/** Grad-CAM at conv2's 24×24 from its activations and their gradient. */
export function refGradCam(a2: Float64Array, da2: Float64Array): Float64Array {
  const alpha = new Float64Array(64);
  for (let p = 0; p < 576; p++) {
    for (let c = 0; c < 64; c++) alpha[c] += da2[p * 64 + c] / 576;
  }
  const cam = new Float64Array(576);
  for (let p = 0; p < 576; p++) {
    let s = 0;
    for (let c = 0; c < 64; c++) s += alpha[c] * a2[p * 64 + c];
    cam[p] = Math.max(0, s);
  }
  return cam;
}

/**
 * Spearman's rank correlation of two maps (ties get their mean rank); 0 when
 * either map is constant (an all-zero Grad-CAM ranks nothing).
 */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const ranks = (v: ArrayLike<number>) => {
    const order = Array.from({ length: v.length }, (_, i) => i)
      .sort((i, j) => v[i] - v[j]);
    const r = new Float64Array(v.length);
    for (let s = 0; s < order.length;) {
      let e = s;
      while (e + 1 < order.length && v[order[e + 1]] === v[order[s]]) e++;
      for (let k = s; k <= e; k++) r[order[k]] = (s + e) / 2;
      s = e + 1;
    }
    return r;
  };
  const [ra, rb] = [ranks(a), ranks(b)];
  const n = ra.length, mean = (n - 1) / 2;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (ra[i] - mean) * (rb[i] - mean);
    saa += (ra[i] - mean) ** 2;
    sbb += (rb[i] - mean) ** 2;
  }
  return saa * sbb > 0 ? sab / Math.sqrt(saa * sbb) : 0;
}

/** Samples trained on by {@linkcode smallModel}. */
export const SMALL_LIMIT = 4096;

/**
 * The tutorial's model trained briefly (seed 2, one epoch on the first 4,096
 * training images, one thread: a few seconds), with its accuracy on the first
 * 1,000 test images. Optionally on labels shuffled at random (`labels:
 * "random"`), the data randomisation test of Adebayo et al.
 */
export async function smallModel(
  options: { labels?: "random"; epochs?: number; seed?: number } = {},
): Promise<{ model: tf.LayersModel; mnist: Dataset; trainAcc: number }> {
  const mnist = await realMnist();
  let data = mnist;
  if (options.labels === "random") {
    const labels = mnist.train.labels.slice();
    let s = 12345;
    for (let i = SMALL_LIMIT - 1; i > 0; i--) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const j = s % (i + 1);
      [labels[i], labels[j]] = [labels[j], labels[i]];
    }
    data = { ...mnist, train: { ...mnist.train, labels } };
  }
  const model = buildModel({ seed: options.seed ?? 2 });
  const { history } = await train(model, smallTest(data), {
    seed: options.seed ?? 2,
    limit: SMALL_LIMIT,
    epochs: options.epochs ?? 1,
    sink: silent,
    verbose: false,
    validation: false,
    threads: 1,
  });
  return { model, mnist, trainAcc: history.at(-1)!.acc };
}

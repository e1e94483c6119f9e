/**
 * `MaxPoolGrad` for the wasm backend, in plain JS over the wasm heap instead
 * of the stock scalar loop.
 *
 * Each pooled output's gradient goes to the first maximum of its window in a
 * row-major scan (strictly greater than everything before it, starting from
 * `-Infinity`), exactly as the cpu backend's `maxPoolPositions` picks it; a
 * window holding only `NaN`s or `-Infinity`s passes no gradient. Channels are
 * innermost (NHWC), so each window position is scanned for all channels at
 * once, reading the heap sequentially.
 *
 * The tutorial's case, 2×2 windows tiling the input exactly with a multiple
 * of 4 channels, runs as WASM SIMD (`simd/pool.as.ts`), the same rule
 * with lane masks, four channels at a time.
 *
 * Non-overlapping windows (stride ≥ filter size on both axes) need a single
 * pass: every window is written once, `dy` at its argmax and zeros elsewhere.
 * The common 2×2 case zeroes each pair of `dx` rows natively just before
 * filling it, finds the argmax without data-dependent branches (finite
 * values), and stores only the one gradient per window and channel.
 * Overlapping windows accumulate into a float64 scratch image, in the cpu
 * backend's order (pooled outputs row-major), then round once to float32, so
 * sums match the cpu backend bit for bit.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  heapF32,
  heapIndex,
  type KernelArgs,
  type WasmKernelFunc,
} from "./wasm_util.ts";
import { simdAvailable, simdKernels } from "./simd/simd.ts";

/**
 * Makes the `MaxPoolGrad` kernel function; `stock` (the wasm backend's own
 * kernel) runs whatever this one does not handle: non-float32 tensors, a
 * non-4-D input, or dilations other than 1.
 */
export function makeMaxPoolGrad(stock: WasmKernelFunc): WasmKernelFunc {
  return function maxPoolGrad(args: KernelArgs): tf.TensorInfo {
    const { inputs, backend, attrs } = args;
    const { dy, input } = inputs as {
      dy: tf.TensorInfo;
      input: tf.TensorInfo;
    };
    const { filterSize, strides, pad, dimRoundingMode } =
      attrs as unknown as tf.MaxPoolGradAttrs;
    const dilations = (attrs as { dilations?: number | [number, number] })
      .dilations;
    if (
      input.dtype !== "float32" || dy.dtype !== "float32" ||
      input.shape.length !== 4 ||
      !(dilations === undefined ||
        tf.backend_util.tupleValuesAreOne(dilations))
    ) {
      return stock(args);
    }
    const info = tf.backend_util.computePool2DInfo(
      input.shape as [number, number, number, number],
      filterSize,
      strides,
      1,
      pad,
      dimRoundingMode,
    );
    if (!tf.util.arraysEqual(dy.shape, info.outShape)) {
      throw new RangeError(
        `MaxPoolGrad: dy shape ${dy.shape} does not fit input shape ` +
          `${input.shape} (expected ${info.outShape})`,
      );
    }
    const dx = backend.makeOutput(input.shape, "float32");
    if (tf.util.sizeFromShape(input.shape) === 0) return dx;
    const heap = heapF32(backend);
    const geo: Geometry = {
      batch: info.batchSize,
      inH: info.inHeight,
      inW: info.inWidth,
      ch: info.inChannels,
      outH: info.outHeight,
      outW: info.outWidth,
      fh: info.filterHeight,
      fw: info.filterWidth,
      sh: info.strideHeight,
      sw: info.strideWidth,
      top: info.padInfo.top,
      left: info.padInfo.left,
    };
    const x0 = heapIndex(backend, input);
    const dy0 = heapIndex(backend, dy);
    const dx0 = heapIndex(backend, dx);
    if (
      geo.fh === 2 && geo.fw === 2 && geo.sh === 2 && geo.sw === 2 &&
      geo.top === 0 && geo.left === 0 && geo.outH * 2 === geo.inH &&
      geo.outW * 2 === geo.inW && geo.ch % 4 === 0 &&
      simdAvailable(backend)
    ) {
      simdKernels(backend).maxPoolGrad2x2(
        x0 * 4,
        dy0 * 4,
        dx0 * 4,
        geo.batch,
        geo.inH,
        geo.inW,
        geo.ch,
      );
    } else if (geo.sh >= geo.fh && geo.sw >= geo.fw) {
      nonOverlapping(heap, x0, dy0, dx0, geo);
    } else {
      overlapping(heap, x0, dy0, dx0, geo);
    }
    return dx;
  };
}

/** Pooling geometry, NHWC. */
interface Geometry {
  batch: number;
  inH: number;
  inW: number;
  ch: number;
  outH: number;
  outW: number;
  fh: number;
  fw: number;
  sh: number;
  sw: number;
  top: number;
  left: number;
}

/**
 * Finds, for every channel, the first maximum of the window rows
 * `[r0, r1)` × columns `[c0, c1)` of the image at `img`: `best[d]` its value,
 * `arg[d]` its heap index (−1 when none beats `-Infinity`).
 */
function windowArgmax(
  heap: Float32Array,
  img: number,
  g: Geometry,
  r0: number,
  r1: number,
  c0: number,
  c1: number,
  best: Float64Array,
  arg: Int32Array,
): void {
  const ch = g.ch;
  const rowStride = g.inW * ch;
  best.fill(-Infinity);
  arg.fill(-1);
  for (let r = r0; r < r1; r++) {
    for (let c = c0; c < c1; c++) {
      const p = img + r * rowStride + c * ch;
      for (let d = 0; d < ch; d++) {
        const v = heap[p + d];
        if (v > best[d]) {
          best[d] = v;
          arg[d] = p + d;
        }
      }
    }
  }
}

/** Stride ≥ filter size on both axes: each input is in at most one window. */
function nonOverlapping(
  heap: Float32Array,
  x0: number,
  dy0: number,
  dx0: number,
  g: Geometry,
): void {
  const { batch, inH, inW, ch, outH, outW, fh, fw, sh, sw, top, left } = g;
  const imgSize = inH * inW * ch;
  const rowStride = inW * ch;
  const toDx = dx0 - x0;
  // Windows tile the whole input unless there are gaps or uncovered edges.
  const tiles = sh === fh && sw === fw && top <= 0 && left <= 0 &&
    outH * sh - top >= inH && outW * sw - left >= inW;
  if (!tiles) heap.fill(0, dx0, dx0 + batch * imgSize);
  if (fh === 2 && fw === 2 && tiles) {
    pool2x2(heap, x0, dy0, dx0, g);
    return;
  }
  const best = new Float64Array(ch);
  const arg = new Int32Array(ch);
  let o = dy0;
  for (let b = 0; b < batch; b++) {
    const img = x0 + b * imgSize;
    for (let yr = 0; yr < outH; yr++) {
      const rc = yr * sh - top;
      const r0 = Math.max(0, rc);
      const r1 = Math.min(inH, rc + fh);
      for (let yc = 0; yc < outW; yc++, o += ch) {
        const cc = yc * sw - left;
        const c0 = Math.max(0, cc);
        const c1 = Math.min(inW, cc + fw);
        windowArgmax(heap, img, g, r0, r1, c0, c1, best, arg);
        if (tiles) {
          for (let r = r0; r < r1; r++) {
            const p = dx0 + b * imgSize + r * rowStride;
            heap.fill(0, p + c0 * ch, p + c1 * ch);
          }
        }
        for (let d = 0; d < ch; d++) {
          // `+ 0` turns -0 into 0, as the cpu backend's `0 + dy` does.
          if (arg[d] >= 0) heap[arg[d] + toDx] = heap[o + d] + 0;
        }
      }
    }
  }
}

/**
 * The tutorial's case: 2×2 windows tiling the input exactly (stride 2, no
 * padding to speak of, even or `same`-padded sizes), any channel count.
 * One pass per window pair of rows, scanning channels sequentially.
 */
function pool2x2(
  heap: Float32Array,
  x0: number,
  dy0: number,
  dx0: number,
  g: Geometry,
): void {
  const { batch, inH, inW, ch, outH, outW, top, left } = g;
  const imgSize = inH * inW * ch;
  const rowStride = inW * ch;
  const toDx = dx0 - x0;
  let o = dy0;
  for (let b = 0; b < batch; b++) {
    const img = x0 + b * imgSize;
    for (let yr = 0; yr < outH; yr++) {
      const rc = yr * 2 - top;
      // With top ≤ 0 and tiling, rc ≥ 0; the second row may fall off.
      const hasR1 = rc + 1 < inH;
      // Zero this row pair of dx natively; each window then writes only
      // its maximum's gradient.
      const rowStart = dx0 + b * imgSize + rc * rowStride;
      heap.fill(0, rowStart, rowStart + (hasR1 ? 2 : 1) * rowStride);
      for (let yc = 0; yc < outW; yc++, o += ch) {
        const cc = yc * 2 - left;
        const hasC1 = cc + 1 < inW;
        const p00 = img + rc * rowStride + cc * ch;
        const p01 = hasC1 ? p00 + ch : -1;
        const p10 = hasR1 ? p00 + rowStride : -1;
        const p11 = hasR1 && hasC1 ? p10 + ch : -1;
        if (p11 >= 0) {
          for (let d = 0; d < ch; d++) {
            const a = p00 + d;
            const v00 = heap[a];
            const v01 = heap[a + ch];
            const v10 = heap[a + rowStride];
            const v11 = heap[a + rowStride + ch];
            // First maximum in row-major order; `k` is its offset. With
            // finite values, branch-free: window position i wins when it
            // beats every earlier one strictly and no later one beats it
            // (data-dependent branches mispredict on random inputs).
            let k: number;
            const sum = v00 + v01 + v10 + v11;
            if (sum - sum === 0) {
              const c01 = +(v01 > v00);
              const c02 = +(v10 > v00);
              const c03 = +(v11 > v00);
              const c12 = +(v10 > v01);
              const c13 = +(v11 > v01);
              const c23 = +(v11 > v10);
              k = (c01 & (1 - c12) & (1 - c13)) * ch +
                (c02 & c12 & (1 - c23)) * rowStride +
                (c03 & c13 & c23) * (rowStride + ch);
            } else {
              // NaN or ±Infinity (or an overflowing sum): the plain scan.
              let best = -Infinity;
              k = -1;
              if (v00 > best) {
                best = v00;
                k = 0;
              }
              if (v01 > best) {
                best = v01;
                k = ch;
              }
              if (v10 > best) {
                best = v10;
                k = rowStride;
              }
              if (v11 > best) k = rowStride + ch;
            }
            const q = a + toDx;
            // `+ 0` turns -0 into 0, as the cpu backend's `0 + dy` does.
            if (k >= 0) heap[q + k] = heap[o + d] + 0;
          }
        } else {
          // Clipped window at the bottom or right edge.
          for (let d = 0; d < ch; d++) {
            let best = -Infinity;
            let arg = -1;
            for (const p of [p00, p01, p10, p11]) {
              if (p < 0) continue;
              const v = heap[p + d];
              if (v > best) {
                best = v;
                arg = p + d;
              }
              heap[p + d + toDx] = 0;
            }
            if (arg >= 0) heap[arg + toDx] = heap[o + d] + 0;
          }
        }
      }
    }
  }
}

/** Overlapping windows: accumulate in float64, in the cpu backend's order. */
function overlapping(
  heap: Float32Array,
  x0: number,
  dy0: number,
  dx0: number,
  g: Geometry,
): void {
  const { batch, inH, inW, ch, outH, outW, fh, fw, sh, sw, top, left } = g;
  const imgSize = inH * inW * ch;
  const acc = new Float64Array(imgSize);
  const best = new Float64Array(ch);
  const arg = new Int32Array(ch);
  let o = dy0;
  for (let b = 0; b < batch; b++) {
    const img = x0 + b * imgSize;
    acc.fill(0);
    for (let yr = 0; yr < outH; yr++) {
      const rc = yr * sh - top;
      const r0 = Math.max(0, rc);
      const r1 = Math.min(inH, rc + fh);
      for (let yc = 0; yc < outW; yc++, o += ch) {
        const cc = yc * sw - left;
        const c0 = Math.max(0, cc);
        const c1 = Math.min(inW, cc + fw);
        windowArgmax(heap, img, g, r0, r1, c0, c1, best, arg);
        for (let d = 0; d < ch; d++) {
          if (arg[d] >= 0) acc[arg[d] - img] += heap[o + d];
        }
      }
    }
    const out = dx0 + b * imgSize;
    for (let i = 0; i < imgSize; i++) heap[out + i] = acc[i];
  }
}

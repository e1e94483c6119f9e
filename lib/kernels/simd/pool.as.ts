// @ts-nocheck: AssemblyScript (i32, v128, load<T>, ...), compiled by asc, not Deno.
// The max-pooling gradient of the tutorial's pooling layer (2x2 windows
// tiling the input exactly), four channels per SIMD lane group. It shares
// the binary, its builds and the backend's memory with the Winograd kernels.

import { addToF64 } from "./simd.as.ts";

/**
 * dx of a 2x2, stride-2 max pool whose windows tile the input exactly
 * (even H and W, no padding), NHWC, C a multiple of 4:
 * each window's dy goes to the first maximum of the window in row-major
 * order, found with `>` from -Infinity as tfjs's cpu backend does (a NaN
 * never wins; a window of NaNs and -Infinity passes nothing); every other
 * dx is +0. Writes all of dx.
 */
export function maxPoolGrad2x2(
  x: usize,
  dy: usize,
  dx: usize,
  N: i32,
  H: i32,
  W: i32,
  C: i32,
): void {
  poolGrad(x, dy, dx, 0, N, H, W, C, false);
}

/**
 * The gradient of ReLU then a 2x2, stride-2 max pool whose windows tile y
 * exactly, in one pass, with its bias gradient: dz = step(y) · dx of
 * {@link maxPoolGrad2x2} (step as `reluGrad` defines it: 1 where y > 0, NaN
 * where y is NaN, else 0), bit for bit the two kernels one after the other;
 * and acc[c] += Σ dz[…][c] in float64 (C doubles at `acc`, 8-byte aligned),
 * each window's four values added in float32 first. NHWC, C a multiple of
 * 4; writes all of dz.
 */
export function maxPoolReluGrad2x2(
  y: usize,
  dy: usize,
  dz: usize,
  acc: usize,
  N: i32,
  H: i32,
  W: i32,
  C: i32,
): void {
  poolGrad(y, dy, dz, acc, N, H, W, C, true);
}

/** Both kernels above: with `relu`, the step and the bias's sums too. */
// @ts-ignore: decorator
function poolGrad(
  x: usize,
  dy: usize,
  dx: usize,
  acc: usize,
  N: i32,
  H: i32,
  W: i32,
  C: i32,
  relu: bool,
): void {
  const row = <usize> (W * C) << 2;
  const col = <usize> C << 2;
  const minusInf = f32x4.splat(-Infinity);
  const zero = f32x4.splat(0);
  const one = f32x4.splat(1);
  let o = dy;
  for (let n = 0; n < N; n++) {
    for (let r = 0; r < H; r += 2) {
      const rowStart = <usize> ((n * H + r) * W * C) << 2;
      for (let c = 0; c < W; c += 2) {
        const at = rowStart + (<usize> (c * C) << 2);
        const p = x + at, q = dx + at;
        for (let d: usize = 0; d < col; d += 16) {
          const v00 = v128.load(p + d);
          const v01 = v128.load(p + d + col);
          const v10 = v128.load(p + d + row);
          const v11 = v128.load(p + d + row + col);
          const m0 = f32x4.gt(v00, minusInf);
          const b0 = v128.bitselect(v00, minusInf, m0);
          const m1 = f32x4.gt(v01, b0);
          const b1 = v128.bitselect(v01, b0, m1);
          const m2 = f32x4.gt(v10, b1);
          const b2 = v128.bitselect(v10, b1, m2);
          const m3 = f32x4.gt(v11, b2);
          // `+ 0` turns -0 into +0, as the cpu backend's `0 + dy` does.
          const g = f32x4.add(v128.load(o + d), zero);
          const w3 = m3;
          const w2 = v128.andnot(m2, m3);
          const w1 = v128.andnot(v128.andnot(m1, m2), m3);
          const w0 = v128.andnot(v128.andnot(v128.andnot(m0, m1), m2), m3);
          let z00 = v128.and(g, w0), z01 = v128.and(g, w1);
          let z10 = v128.and(g, w2), z11 = v128.and(g, w3);
          if (relu) {
            z00 = f32x4.mul(z00, step(v00, one, zero));
            z01 = f32x4.mul(z01, step(v01, one, zero));
            z10 = f32x4.mul(z10, step(v10, one, zero));
            z11 = f32x4.mul(z11, step(v11, one, zero));
            addToF64(
              acc + (d << 1),
              f32x4.add(f32x4.add(z00, z01), f32x4.add(z10, z11)),
            );
          }
          v128.store(q + d, z00);
          v128.store(q + d + col, z01);
          v128.store(q + d + row, z10);
          v128.store(q + d + row + col, z11);
        }
        o += col;
      }
    }
  }
}

/** ReLU's step as `reluGrad` computes it: 1 where x > 0, x where NaN, else 0. */
// @ts-ignore: decorator
function step(x: v128, one: v128, zero: v128): v128 {
  const s = v128.and(one, f32x4.gt(x, zero));
  return v128.bitselect(x, s, f32x4.ne(x, x));
}

// @ts-nocheck: AssemblyScript (i32, v128, load<T>, ...), compiled by asc, not Deno.
// The max-pooling gradient of the tutorial's pooling layer (2x2 windows
// tiling the input exactly), four channels per SIMD lane group. It shares
// the binary, its builds and the backend's memory with the Winograd kernels.

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
  const row = <usize> (W * C) << 2;
  const col = <usize> C << 2;
  const minusInf = f32x4.splat(-Infinity);
  const zero = f32x4.splat(0);
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
          v128.store(q + d, v128.and(g, w0));
          v128.store(q + d + col, v128.and(g, w1));
          v128.store(q + d + row, v128.and(g, w2));
          v128.store(q + d + row + col, v128.and(g, w3));
        }
        o += col;
      }
    }
  }
}

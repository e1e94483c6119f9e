// @ts-nocheck: AssemblyScript (i32, v128, load<T>, ...), compiled by asc, not Deno.
// A plain matrix product that reads its right operand in place, for the
// dense layer's products in training, whose weights change every step (the
// stock XNNPACK path repacks them on every call). It shares the binary, its
// builds and the backend's memory with the Winograd kernels.

import { madd } from "./simd.as.ts";

/**
 * C = A·B for row-major A [M, K], B [K, N], C [M, N], N a multiple of 8.
 * Blocks of 4 rows × 8 columns accumulate in registers over all of K; for
 * each 8-column slab of B (K·32 bytes, in L2 for the dense layer), every
 * block of rows of A streams past it.
 */
export function gemm(
  a: usize,
  b: usize,
  c: usize,
  M: i32,
  K: i32,
  N: i32,
): void {
  const aRow = <usize> K << 2;
  const bRow = <usize> N << 2;
  const M4 = M & ~3;
  for (let n0 = 0; n0 < N; n0 += 8) {
    const bn = b + (<usize> n0 << 2);
    const cn = c + (<usize> n0 << 2);
    for (let m0 = 0; m0 < M4; m0 += 4) {
      let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
      let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
      let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
      let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
      let ap = a + <usize> m0 * aRow;
      let bp = bn;
      for (let k = 0; k < K; k++) {
        const b0 = v128.load(bp), b1 = v128.load(bp, 16);
        const a0 = v128.load32_splat(ap);
        const a1 = v128.load32_splat(ap + aRow);
        const a2 = v128.load32_splat(ap + 2 * aRow);
        const a3 = v128.load32_splat(ap + 3 * aRow);
        c00 = madd(a0, b0, c00);
        c01 = madd(a0, b1, c01);
        c10 = madd(a1, b0, c10);
        c11 = madd(a1, b1, c11);
        c20 = madd(a2, b0, c20);
        c21 = madd(a2, b1, c21);
        c30 = madd(a3, b0, c30);
        c31 = madd(a3, b1, c31);
        ap += 4;
        bp += bRow;
      }
      const cp = cn + <usize> m0 * bRow;
      v128.store(cp, c00);
      v128.store(cp, c01, 16);
      v128.store(cp + bRow, c10);
      v128.store(cp + bRow, c11, 16);
      v128.store(cp + 2 * bRow, c20);
      v128.store(cp + 2 * bRow, c21, 16);
      v128.store(cp + 3 * bRow, c30);
      v128.store(cp + 3 * bRow, c31, 16);
    }
    for (let m = M4; m < M; m++) {
      let c0 = f32x4.splat(0), c1 = f32x4.splat(0);
      let ap = a + <usize> m * aRow;
      let bp = bn;
      for (let k = 0; k < K; k++) {
        const s = v128.load32_splat(ap);
        c0 = madd(s, v128.load(bp), c0);
        c1 = madd(s, v128.load(bp, 16), c1);
        ap += 4;
        bp += bRow;
      }
      const cp = cn + <usize> m * bRow;
      v128.store(cp, c0);
      v128.store(cp, c1, 16);
    }
  }
}

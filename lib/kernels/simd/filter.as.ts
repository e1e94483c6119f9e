// @ts-nocheck: AssemblyScript (i32, v128, load<T>, ...), compiled by asc, not Deno.
// Winograd's filter transforms, four channels per SIMD lane group: U = G·g·Gᵀ
// of each filter pair into the products' layouts, and the filter gradient's
// way back, Gᵀ·M·G. G is the a×3 matrix of the tile, row-major f32 at `g`.
// They share the binary, its builds and the backend's memory with the
// Winograd kernels (winograd.ts calls them; its JS versions are the
// reference for shapes these do not take).
import { madd } from "./simd.as.ts";

/** G[i][c] as four lanes. */

function gs(g: usize, i: i32, c: i32): v128 {
  return v128.load32_splat(g + <usize> ((3 * i + c) << 2));
}

/**
 * U = G·g·Gᵀ of every pair (ci, co) of the [3, 3, cin, cout] filter at
 * `src`, four output channels at a time (cout a multiple of 4), written to
 * `dst` (zeroed by the caller where lanes stay empty): `layout` 0, the
 * products' panels (panel co >> 3, row ci, lane co & 7), 1 transposed (panel
 * ci >> 3, row co, lane ci & 7), each plane `padded` floats apart; 2, groups
 * of four output channels (group co >> 2, plane k, lane co & 3).
 */
export function filterTransform(
  src: usize,
  dst: usize,
  g: usize,
  a: i32,
  cin: i32,
  cout: i32,
  layout: i32,
  padded: i32,
): void {
  const plane = cin * cout;
  for (let ci = 0; ci < cin; ci++) {
    for (let co = 0; co < cout; co += 4) {
      const w = src + <usize> ((ci * cout + co) << 2);
      const p = <usize> (plane << 2);
      const w0 = v128.load(w), w1 = v128.load(w + p), w2 = v128.load(w + 2 * p);
      const w3 = v128.load(w + 3 * p), w4 = v128.load(w + 4 * p);
      const w5 = v128.load(w + 5 * p), w6 = v128.load(w + 6 * p);
      const w7 = v128.load(w + 7 * p), w8 = v128.load(w + 8 * p);
      for (let i = 0; i < a; i++) {
        // Row i of G·g: (G·g)[i][c] = Σ_r G[i][r]·g[r][c].
        const gi0 = gs(g, i, 0), gi1 = gs(g, i, 1), gi2 = gs(g, i, 2);
        const r0 = madd(gi2, w6, madd(gi1, w3, f32x4.mul(gi0, w0)));
        const r1 = madd(gi2, w7, madd(gi1, w4, f32x4.mul(gi0, w1)));
        const r2 = madd(gi2, w8, madd(gi1, w5, f32x4.mul(gi0, w2)));
        for (let j = 0; j < a; j++) {
          const v = madd(
            r2,
            gs(g, j, 2),
            madd(r1, gs(g, j, 1), f32x4.mul(r0, gs(g, j, 0))),
          );
          const k = a * i + j;
          if (layout == 0) {
            const at = k * padded + (co >> 3) * cin * 8 + ci * 8 + (co & 7);
            v128.store(dst + <usize> (at << 2), v);
          } else if (layout == 1) {
            const at = k * padded + (ci >> 3) * cout * 8 + co * 8 + (ci & 7);
            const d = dst + <usize> (at << 2);
            f32.store(d, f32x4.extract_lane(v, 0));
            f32.store(d, f32x4.extract_lane(v, 1), 32);
            f32.store(d, f32x4.extract_lane(v, 2), 64);
            f32.store(d, f32x4.extract_lane(v, 3), 96);
          } else {
            const at = (co >> 2) * a * a * 4 + k * 4;
            v128.store(dst + <usize> (at << 2), v);
          }
        }
      }
    }
  }
}

/**
 * The filter gradient from Winograd's accumulated products: for the a²
 * planes M[k] ([cout, cin] at `src`, `plane` = cin·cout floats apart),
 * dW[r][c][ci][co] = (Gᵀ·M·G)[r][c], written to the [3, 3, cin, cout] `dst`;
 * four input channels at a time (cin a multiple of 4).
 */
export function filterGradTransform(
  src: usize,
  dst: usize,
  g: usize,
  a: i32,
  cin: i32,
  cout: i32,
): void {
  const plane = cin * cout;
  for (let co = 0; co < cout; co++) {
    for (let ci = 0; ci < cin; ci += 4) {
      const m = src + <usize> ((co * cin + ci) << 2);
      for (let i = 0; i < 3; i++) {
        let o0 = f32x4.splat(0), o1 = f32x4.splat(0), o2 = f32x4.splat(0);
        for (let q = 0; q < a; q++) {
          // (Gᵀ·M)[i][q] = Σ_p G[p][i]·M[p][q].
          let t = f32x4.splat(0);
          for (let p = 0; p < a; p++) {
            const mv = v128.load(m + <usize> (((a * p + q) * plane) << 2));
            t = madd(gs(g, p, i), mv, t);
          }
          o0 = madd(t, gs(g, q, 0), o0);
          o1 = madd(t, gs(g, q, 1), o1);
          o2 = madd(t, gs(g, q, 2), o2);
        }
        // Lane l is input channel ci + l: cout floats apart in dW.
        const d = dst + <usize> (((3 * i * plane) + ci * cout + co) << 2);
        const p4 = <usize> (plane << 2), c4 = <usize> (cout << 2);
        storeLanes(d, o0, c4);
        storeLanes(d + p4, o1, c4);
        storeLanes(d + 2 * p4, o2, c4);
      }
    }
  }
}

/** The four lanes of `v` at `d`, `d + s`, `d + 2s`, `d + 3s`. */

function storeLanes(d: usize, v: v128, s: usize): void {
  f32.store(d, f32x4.extract_lane(v, 0));
  f32.store(d + s, f32x4.extract_lane(v, 1));
  f32.store(d + 2 * s, f32x4.extract_lane(v, 2));
  f32.store(d + 3 * s, f32x4.extract_lane(v, 3));
}

// @ts-nocheck: AssemblyScript (i32, v128, load<T>, ...), compiled by asc, not Deno.
// The Winograd weight gradient's products (hand-written loops). Compiled
// with the generated winograd.as.ts into one binary by build.ts, once with
// SIMD128 (simd.wasm) and once with relaxed SIMD as well
// (simd_fma.wasm).

import { madd } from "./simd.as.ts";

/**
 * The weight gradient's products, accumulated: for k < planes,
 * G[k][co][ci] += Σ_i D[k][i][co] · V[k][i][ci] over the chunk's tiles
 * i < count, with V[k] at load<usize>(vTable + 4k) ([count, Cin], as
 * inputTransform* writes it), D[k] at load<usize>(dTable + 4k) ([count,
 * Cout], as dyTransform* writes it) and G[k] at g + 4k·Cout·Cin.
 * Register blocks of 5 (then 4) output channels x 8 input channels; lanes
 * run over input channels.
 */
export function gradProducts(
  vTable: usize,
  dTable: usize,
  g: usize,
  Cin: i32,
  Cout: i32,
  count: i32,
  planes: i32,
): void {
  const vRow = <usize> Cin << 2; // bytes between rows of V[k]
  const dRow = <usize> Cout << 2; // bytes between rows of D[k]
  const planeBytes = <usize> (Cin * Cout) << 2;
  const Cin8 = Cin & ~7;
  // Blocks of 6 output channels where Cin is a multiple of 8, then of 4.
  for (let k = 0; k < planes; k++) {
    const v = load<usize>(vTable + (<usize> k << 2));
    const d = load<usize>(dTable + (<usize> k << 2));
    const gk = g + <usize> k * planeBytes;
    // Blocks of 5 output channels, then of 4 (as gemm.as.ts's `block`).
    let fours = (4 * Cout) % 5;
    if (4 * fours > Cout) fours = 0;
    let co = 0;
    for (; co + 5 <= Cout - 4 * fours && Cin8 == Cin; co += 5) {
      const d0 = d + (<usize> co << 2);
      const g0 = gk + <usize> co * vRow;
      for (let ci = 0; ci < Cin8; ci += 8) {
        grad5x8(
          v + (<usize> ci << 2),
          vRow,
          d0,
          dRow,
          g0 + (<usize> ci << 2),
          count,
        );
      }
    }
    for (; co + 4 <= Cout; co += 4) {
      const d0 = d + (<usize> co << 2);
      const g0 = gk + <usize> co * vRow;
      const g1 = g0 + vRow, g2 = g1 + vRow, g3 = g2 + vRow;
      for (let ci = 0; ci < Cin8; ci += 8) {
        let s00 = f32x4.splat(0), s01 = f32x4.splat(0);
        let s10 = f32x4.splat(0), s11 = f32x4.splat(0);
        let s20 = f32x4.splat(0), s21 = f32x4.splat(0);
        let s30 = f32x4.splat(0), s31 = f32x4.splat(0);
        let vp = v + (<usize> ci << 2);
        let dp = d0;
        const end = vp + <usize> count * vRow;
        while (vp < end) {
          const a0 = v128.load(vp), a1 = v128.load(vp, 16);
          const b0 = v128.load32_splat(dp);
          const b1 = v128.load32_splat(dp, 4);
          const b2 = v128.load32_splat(dp, 8);
          const b3 = v128.load32_splat(dp, 12);
          s00 = madd(a0, b0, s00);
          s01 = madd(a1, b0, s01);
          s10 = madd(a0, b1, s10);
          s11 = madd(a1, b1, s11);
          s20 = madd(a0, b2, s20);
          s21 = madd(a1, b2, s21);
          s30 = madd(a0, b3, s30);
          s31 = madd(a1, b3, s31);
          vp += vRow;
          dp += dRow;
        }
        const cb = <usize> ci << 2;
        v128.store(g0 + cb, f32x4.add(v128.load(g0 + cb), s00));
        v128.store(g0 + cb, f32x4.add(v128.load(g0 + cb, 16), s01), 16);
        v128.store(g1 + cb, f32x4.add(v128.load(g1 + cb), s10));
        v128.store(g1 + cb, f32x4.add(v128.load(g1 + cb, 16), s11), 16);
        v128.store(g2 + cb, f32x4.add(v128.load(g2 + cb), s20));
        v128.store(g2 + cb, f32x4.add(v128.load(g2 + cb, 16), s21), 16);
        v128.store(g3 + cb, f32x4.add(v128.load(g3 + cb), s30));
        v128.store(g3 + cb, f32x4.add(v128.load(g3 + cb, 16), s31), 16);
      }
      for (let ci = Cin8; ci < Cin; ci++) {
        const vc = v + (<usize> ci << 2), cb = <usize> ci << 2;
        gradDot(vc, vRow, d0, dRow, g0 + cb, count);
        gradDot(vc, vRow, d0 + 4, dRow, g1 + cb, count);
        gradDot(vc, vRow, d0 + 8, dRow, g2 + cb, count);
        gradDot(vc, vRow, d0 + 12, dRow, g3 + cb, count);
      }
    }
    for (; co < Cout; co++) {
      const dc = d + (<usize> co << 2);
      const gc = gk + <usize> co * vRow;
      for (let ci = 0; ci < Cin; ci++) {
        const cb = <usize> ci << 2;
        gradDot(v + cb, vRow, dc, dRow, gc + cb, count);
      }
    }
  }
}

/** *g += Σ_i load<f32>(v + i·vRow) · load<f32>(d + i·dRow), i < count. */
function gradDot(
  v: usize,
  vRow: usize,
  d: usize,
  dRow: usize,
  g: usize,
  count: i32,
): void {
  let s: f32 = 0;
  for (let i = 0; i < count; i++) {
    s += load<f32>(v + <usize> i * vRow) * load<f32>(d + <usize> i * dRow);
  }
  store<f32>(g, load<f32>(g) + s);
}

/**
 * One register block of the weight gradient: 5 output channels (rows of
 * G, `vRow` bytes apart from g) × 8 input channels, 10 accumulators. A
 * tile's dy values for channels 0–3 are one vector spread by shuffles,
 * channel 4's a splat: four bounds-checked loads for ten multiply-adds
 * (docs/v8_bounds_checks.md). One tile a round, so that no accumulator is
 * spilled (as `gemm.as.ts`'s `rows5`).
 */
function grad5x8(
  v: usize,
  vRow: usize,
  d: usize,
  dRow: usize,
  g: usize,
  count: i32,
): void {
  let s00 = f32x4.splat(0), s01 = f32x4.splat(0);
  let s10 = f32x4.splat(0), s11 = f32x4.splat(0);
  let s20 = f32x4.splat(0), s21 = f32x4.splat(0);
  let s30 = f32x4.splat(0), s31 = f32x4.splat(0);
  let s40 = f32x4.splat(0), s41 = f32x4.splat(0);
  let vp = v;
  let dp = d;
  // A pointer bound, not a counter: V8 keeps the count on the stack and
  // compares against it every round (16% slower, docs/kernels.md).
  const end = v + <usize> count * vRow;
  while (vp < end) {
    const a0 = v128.load(vp);
    const a1 = v128.load(vp, 16);
    const e = v128.load(dp);
    let b = i32x4.shuffle(e, e, 0, 0, 0, 0);
    s00 = madd(a0, b, s00);
    s01 = madd(a1, b, s01);
    b = i32x4.shuffle(e, e, 1, 1, 1, 1);
    s10 = madd(a0, b, s10);
    s11 = madd(a1, b, s11);
    b = i32x4.shuffle(e, e, 2, 2, 2, 2);
    s20 = madd(a0, b, s20);
    s21 = madd(a1, b, s21);
    b = i32x4.shuffle(e, e, 3, 3, 3, 3);
    s30 = madd(a0, b, s30);
    s31 = madd(a1, b, s31);
    b = v128.load32_splat(dp, 16);
    s40 = madd(a0, b, s40);
    s41 = madd(a1, b, s41);
    vp += vRow;
    dp += dRow;
  }
  const g1 = g + vRow, g2 = g1 + vRow, g3 = g2 + vRow, g4 = g3 + vRow;
  v128.store(g, f32x4.add(v128.load(g), s00));
  v128.store(g, f32x4.add(v128.load(g, 16), s01), 16);
  v128.store(g1, f32x4.add(v128.load(g1), s10));
  v128.store(g1, f32x4.add(v128.load(g1, 16), s11), 16);
  v128.store(g2, f32x4.add(v128.load(g2), s20));
  v128.store(g2, f32x4.add(v128.load(g2, 16), s21), 16);
  v128.store(g3, f32x4.add(v128.load(g3), s30));
  v128.store(g3, f32x4.add(v128.load(g3, 16), s31), 16);
  v128.store(g4, f32x4.add(v128.load(g4), s40));
  v128.store(g4, f32x4.add(v128.load(g4, 16), s41), 16);
}

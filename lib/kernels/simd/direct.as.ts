// @ts-nocheck: AssemblyScript (i32, v128, load<T>, ...), compiled by asc, not Deno.
// The one kernel of this binary that is not a Winograd convolution: the
// direct filter gradient of a stride-1 convolution with few input channels
// (the tutorial's conv1, 1 → 32 channels), where the im2col product spends
// its time reordering dy. It shares the binary, its two builds and the
// backend's memory with the Winograd kernels.

import { madd } from "./simd.as.ts";
import { reluGrad } from "./relu.as.ts";
import { columnSums } from "./sum.as.ts";

/**
 * The filter gradient of a stride-1, dilation-1 NHWC convolution, written to
 * out ([FH, FW, Ci, Co], overwritten):
 *
 *     out[kh][kw][ci][co] = Σ_n Σ_oh Σ_ow x[n][oh+kh-padTop][ow+kw-padLeft][ci]
 *                                          · dy[n][oh][ow][co]
 *
 * over the output pixels whose input pixel is inside x (the rest is
 * padding). Co must be a multiple of 4. For each image, tap and group of 32
 * (then 4) output channels, the image's dy rows stream once through
 * registers (an image of dy is 86 KB for conv1: it stays in L2).
 */
export function directFilterGrad(
  x: usize,
  dy: usize,
  out: usize,
  N: i32,
  H: i32,
  W: i32,
  Ci: i32,
  OH: i32,
  OW: i32,
  Co: i32,
  FH: i32,
  FW: i32,
  padTop: i32,
  padLeft: i32,
): void {
  memory.fill(out, 0, <usize> (FH * FW * Ci * Co) << 2);
  for (let n = 0; n < N; n++) {
    imageFilterGrad(
      x + (<usize> (n * H * W * Ci) << 2),
      dy + (<usize> (n * OH * OW * Co) << 2),
      out,
      H,
      W,
      Ci,
      OH,
      OW,
      Co,
      FH,
      FW,
      padTop,
      padLeft,
    );
  }
}

/**
 * ReLU's gradient, then the filter's and the bias's, of such a convolution
 * (the tutorial's conv1, whose input needs no gradient), in one pass: for
 * each image, dz = dy · step(y) (as {@link reluGrad}) into `scratch`
 * (OH·OW·Co floats, a cache-sized buffer), dz's column sums added to the
 * float64 sums at `acc` (Co doubles, as {@link columnSums}), and dz's filter
 * gradient added to out (zeroed first), as {@link directFilterGrad}. dz
 * itself never goes to memory.
 */
export function directFilterGradRelu(
  x: usize,
  dy: usize,
  y: usize,
  out: usize,
  acc: usize,
  scratch: usize,
  N: i32,
  H: i32,
  W: i32,
  Ci: i32,
  OH: i32,
  OW: i32,
  Co: i32,
  FH: i32,
  FW: i32,
  padTop: i32,
  padLeft: i32,
): void {
  memory.fill(out, 0, <usize> (FH * FW * Ci * Co) << 2);
  const image = OH * OW * Co;
  for (let n = 0; n < N; n++) {
    const at = <usize> (n * image) << 2;
    reluGrad(dy + at, y + at, scratch, image);
    columnSums(scratch, acc, OH * OW, Co);
    imageFilterGrad(
      x + (<usize> (n * H * W * Ci) << 2),
      scratch,
      out,
      H,
      W,
      Ci,
      OH,
      OW,
      Co,
      FH,
      FW,
      padTop,
      padLeft,
    );
  }
}

/** One image's terms of {@link directFilterGrad}, added to out. */
function imageFilterGrad(
  xn: usize,
  dn: usize,
  out: usize,
  H: i32,
  W: i32,
  Ci: i32,
  OH: i32,
  OW: i32,
  Co: i32,
  FH: i32,
  FW: i32,
  padTop: i32,
  padLeft: i32,
): void {
  const dyRow = <usize> Co << 2;
  const xStep = <usize> Ci << 2;
  if (FW == 3 && padLeft == 0 && W >= OW + 2 && (Co & 7) == 0) {
    rowTapsFilterGrad(xn, dn, out, H, W, Ci, OH, OW, Co, FH, padTop);
    return;
  }
  const Co32 = Co & ~31;
  for (let kh = 0; kh < FH; kh++) {
    const oh0 = max(0, padTop - kh), oh1 = min(OH, H + padTop - kh);
    for (let kw = 0; kw < FW; kw++) {
      const ow0 = max(0, padLeft - kw), ow1 = min(OW, W + padLeft - kw);
      if (oh0 >= oh1 || ow0 >= ow1) continue;
      for (let ci = 0; ci < Ci; ci++) {
        const o = out + (<usize> (((kh * FW + kw) * Ci + ci) * Co) << 2);
        for (let c0 = 0; c0 < Co32; c0 += 32) {
          let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
          let a2 = f32x4.splat(0), a3 = f32x4.splat(0);
          let a4 = f32x4.splat(0), a5 = f32x4.splat(0);
          let a6 = f32x4.splat(0), a7 = f32x4.splat(0);
          for (let oh = oh0; oh < oh1; oh++) {
            let xp = xn +
              (<usize> (((oh + kh - padTop) * W + ow0 + kw - padLeft) * Ci +
                ci) << 2);
            let dp = dn + (<usize> ((oh * OW + ow0) * Co + c0) << 2);
            for (let ow = ow0; ow < ow1; ow++) {
              const s = v128.load32_splat(xp);
              a0 = madd(s, v128.load(dp), a0);
              a1 = madd(s, v128.load(dp, 16), a1);
              a2 = madd(s, v128.load(dp, 32), a2);
              a3 = madd(s, v128.load(dp, 48), a3);
              a4 = madd(s, v128.load(dp, 64), a4);
              a5 = madd(s, v128.load(dp, 80), a5);
              a6 = madd(s, v128.load(dp, 96), a6);
              a7 = madd(s, v128.load(dp, 112), a7);
              xp += xStep;
              dp += dyRow;
            }
          }
          const op = o + (<usize> c0 << 2);
          v128.store(op, f32x4.add(v128.load(op), a0));
          v128.store(op, f32x4.add(v128.load(op, 16), a1), 16);
          v128.store(op, f32x4.add(v128.load(op, 32), a2), 32);
          v128.store(op, f32x4.add(v128.load(op, 48), a3), 48);
          v128.store(op, f32x4.add(v128.load(op, 64), a4), 64);
          v128.store(op, f32x4.add(v128.load(op, 80), a5), 80);
          v128.store(op, f32x4.add(v128.load(op, 96), a6), 96);
          v128.store(op, f32x4.add(v128.load(op, 112), a7), 112);
        }
        for (let c0 = Co32; c0 < Co; c0 += 4) {
          let a0 = f32x4.splat(0);
          for (let oh = oh0; oh < oh1; oh++) {
            let xp = xn +
              (<usize> (((oh + kh - padTop) * W + ow0 + kw - padLeft) * Ci +
                ci) << 2);
            let dp = dn + (<usize> ((oh * OW + ow0) * Co + c0) << 2);
            for (let ow = ow0; ow < ow1; ow++) {
              a0 = madd(v128.load32_splat(xp), v128.load(dp), a0);
              xp += xStep;
              dp += dyRow;
            }
          }
          const op = o + (<usize> c0 << 2);
          v128.store(op, f32x4.add(v128.load(op), a0));
        }
      }
    }
  }
}

/**
 * {@link imageFilterGrad} where a filter row's three taps see whole output
 * rows (no left padding, W ≥ OW + 2) and Co is a multiple of 8: for each
 * filter row, input channel and 8 output channels, the three taps' sums in
 * six accumulators over one pass of dz, the input row's three values sliding
 * along it (one load each), not one pass and one load per tap.
 */
function rowTapsFilterGrad(
  xn: usize,
  dn: usize,
  out: usize,
  H: i32,
  W: i32,
  Ci: i32,
  OH: i32,
  OW: i32,
  Co: i32,
  FH: i32,
  padTop: i32,
): void {
  const dyRow = <usize> Co << 2;
  const xStep = <usize> Ci << 2;
  for (let kh = 0; kh < FH; kh++) {
    const oh0 = max(0, padTop - kh), oh1 = min(OH, H + padTop - kh);
    if (oh0 >= oh1) continue;
    for (let ci = 0; ci < Ci; ci++) {
      const o = out + (<usize> ((kh * 3 * Ci + ci) * Co) << 2);
      const tap = <usize> (Ci * Co) << 2; // between kw and kw + 1 in out
      for (let c0 = 0; c0 < Co; c0 += 8) {
        let a00 = f32x4.splat(0), a01 = f32x4.splat(0);
        let a10 = f32x4.splat(0), a11 = f32x4.splat(0);
        let a20 = f32x4.splat(0), a21 = f32x4.splat(0);
        for (let oh = oh0; oh < oh1; oh++) {
          let xp = xn + (<usize> (((oh + kh - padTop) * W) * Ci + ci) << 2);
          let dp = dn + (<usize> (oh * OW * Co + c0) << 2);
          let s0 = v128.load32_splat(xp);
          let s1 = v128.load32_splat(xp + xStep);
          xp += 2 * xStep;
          for (let ow = 0; ow < OW; ow++) {
            const s2 = v128.load32_splat(xp);
            const d0 = v128.load(dp), d1 = v128.load(dp, 16);
            a00 = madd(s0, d0, a00);
            a01 = madd(s0, d1, a01);
            a10 = madd(s1, d0, a10);
            a11 = madd(s1, d1, a11);
            a20 = madd(s2, d0, a20);
            a21 = madd(s2, d1, a21);
            s0 = s1;
            s1 = s2;
            xp += xStep;
            dp += dyRow;
          }
        }
        const p0 = o + (<usize> c0 << 2), p1 = p0 + tap, p2 = p1 + tap;
        v128.store(p0, f32x4.add(v128.load(p0), a00));
        v128.store(p0, f32x4.add(v128.load(p0, 16), a01), 16);
        v128.store(p1, f32x4.add(v128.load(p1), a10));
        v128.store(p1, f32x4.add(v128.load(p1, 16), a11), 16);
        v128.store(p2, f32x4.add(v128.load(p2), a20));
        v128.store(p2, f32x4.add(v128.load(p2, 16), a21), 16);
      }
    }
  }
}

// @ts-nocheck: AssemblyScript (i32, v128, load<T>, ...), compiled by asc, not Deno.
// The binary's direct convolutions, for few input channels (the tutorial's
// conv1, 1 → 32 channels): the filter gradient, where the im2col product
// spends its time reordering dy, and the forward pass of one input channel,
// where XNNPACK's product has nine terms to sum. They share the binary, its
// two builds and the backend's memory with the Winograd kernels.

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
 * (OH·OW·Co floats and FH·FW·Ci·Co more, a cache-sized buffer; a strip of
 * rows at a time where the rows' taps apply), dz's column sums added to the
 * float64 sums at `acc` (Co doubles, as {@link columnSums}), and dz's filter
 * gradient added to out, as {@link directFilterGrad} adds each image's (out
 * is the caller's to zero: a batch can come in parts). dz itself never goes
 * to memory.
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
  const image = OH * OW * Co;
  if (FW == 3 && padLeft == 0 && W >= OW + 2 && (Co & 7) == 0) {
    stripsFilterGradRelu(
      x,
      dy,
      y,
      out,
      acc,
      scratch,
      N,
      H,
      W,
      Ci,
      OH,
      OW,
      Co,
      FH,
      padTop,
    );
    return;
  }
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

/**
 * {@link directFilterGradRelu} where {@link rowTaps} applies, the
 * same sums in the same order: each image in strips of S output rows
 * (about 16 KB of dz, in L1, and S·OW a multiple of 4, as the bias's sums
 * group rows), ReLU's gradient, the bias's sums and the taps' sums of one
 * strip before the next; the taps' running sums kept between strips in
 * `scratch` after the strip (FH·3·Ci·Co floats), added to out per image.
 */
function stripsFilterGradRelu(
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
  padTop: i32,
): void {
  const image = OH * OW * Co;
  const step = (OW & 1) != 0 ? 4 : (OW & 2) != 0 ? 2 : 1;
  const S = min(OH, max(step, (4096 / (OW * Co)) / step * step));
  const sums = scratch + (<usize> (S * OW * Co) << 2);
  const size = FH * 3 * Ci * Co;
  for (let n = 0; n < N; n++) {
    memory.fill(sums, 0, <usize> size << 2);
    const at = <usize> (n * image) << 2;
    const xn = x + (<usize> (n * H * W * Ci) << 2);
    for (let r0 = 0; r0 < OH; r0 += S) {
      const r1 = min(OH, r0 + S);
      const from = at + (<usize> (r0 * OW * Co) << 2);
      reluGrad(dy + from, y + from, scratch, (r1 - r0) * OW * Co);
      columnSums(scratch, acc, (r1 - r0) * OW, Co);
      rowTaps(xn, scratch, sums, H, W, Ci, OW, Co, FH, padTop, r0, r1, false);
    }
    for (let i = 0; i < size; i += 4) {
      const o = out + (<usize> i << 2), a = sums + (<usize> i << 2);
      v128.store(o, f32x4.add(v128.load(o), v128.load(a)));
    }
  }
}

/**
 * {@link imageFilterGrad} where a filter row's three taps see whole output
 * rows (no left padding, W ≥ OW + 2) and Co is a multiple of 8, over output
 * rows r0..r1 of dz (row r0 at dn): for each filter row, input channel and 8
 * output channels, the three taps' sums in six accumulators over one pass of
 * dz, the input row's three values sliding along it (one load each), not one
 * pass and one load per tap. `fresh`: the sums start at zero and are added
 * to `sums` ([FH][3][Ci][Co]); otherwise they continue from `sums` and are
 * left there (a strip at a time, the same order as in one pass).
 */
function rowTaps(
  xn: usize,
  dn: usize,
  sums: usize,
  H: i32,
  W: i32,
  Ci: i32,
  OW: i32,
  Co: i32,
  FH: i32,
  padTop: i32,
  r0: i32,
  r1: i32,
  fresh: bool,
): void {
  const dyRow = <usize> Co << 2;
  const xStep = <usize> Ci << 2;
  const tap = <usize> (Ci * Co) << 2; // between kw and kw + 1 in sums
  for (let kh = 0; kh < FH; kh++) {
    const oh0 = max(r0, padTop - kh), oh1 = min(r1, H + padTop - kh);
    if (oh0 >= oh1) continue;
    for (let ci = 0; ci < Ci; ci++) {
      const o = sums + (<usize> ((kh * 3 * Ci + ci) * Co) << 2);
      for (let c0 = 0; c0 < Co; c0 += 8) {
        const p0 = o + (<usize> c0 << 2), p1 = p0 + tap, p2 = p1 + tap;
        let a00 = f32x4.splat(0), a01 = a00, a10 = a00, a11 = a00;
        let a20 = a00, a21 = a00;
        if (!fresh) {
          a00 = v128.load(p0);
          a01 = v128.load(p0, 16);
          a10 = v128.load(p1);
          a11 = v128.load(p1, 16);
          a20 = v128.load(p2);
          a21 = v128.load(p2, 16);
        }
        for (let oh = oh0; oh < oh1; oh++) {
          let xp = xn + (<usize> (((oh + kh - padTop) * W) * Ci + ci) << 2);
          let dp = dn + (<usize> ((oh - r0) * OW * Co + c0) << 2);
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
        if (fresh) {
          a00 = f32x4.add(v128.load(p0), a00);
          a01 = f32x4.add(v128.load(p0, 16), a01);
          a10 = f32x4.add(v128.load(p1), a10);
          a11 = f32x4.add(v128.load(p1, 16), a11);
          a20 = f32x4.add(v128.load(p2), a20);
          a21 = f32x4.add(v128.load(p2, 16), a21);
        }
        v128.store(p0, a00);
        v128.store(p0, a01, 16);
        v128.store(p1, a10);
        v128.store(p1, a11, 16);
        v128.store(p2, a20);
        v128.store(p2, a21, 16);
      }
    }
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
    rowTaps(xn, dn, out, H, W, Ci, OW, Co, FH, padTop, 0, OH, true);
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
 * A 3x3, stride-1 convolution of one input channel (the tutorial's conv1,
 * 1 → 32 channels), with its bias and, where `relu` is 1, its ReLU:
 *
 *     out[n][oh][ow][co] = act(bias[co] + Σ_kh Σ_kw x[n][oh+kh][ow+kw]
 *                                                 · filter[kh][kw][0][co])
 *
 * x is [N, H, W] with H ≥ OH + 2 and W ≥ OW + 2 (padding, if any, already
 * in x); filter is HWIO [3, 3, 1, Co] and Co a multiple of 8; `packed` is
 * scratch for 9·Co floats (the filter as Co/8 blocks of [9][8]). For each
 * output row and 8 channels, blocks of four pixels in eight accumulators
 * that start at the bias: each of a filter row's six input values is one
 * splatted load, used by every tap and pixel that needs it, against the
 * row's six filter vectors held in registers (12 loads a row for 24
 * multiply-adds); the last block overlaps the one before where 4 does not
 * divide OW.
 */
export function directConv3x3C1(
  x: usize,
  filter: usize,
  bias: usize,
  out: usize,
  packed: usize,
  N: i32,
  H: i32,
  W: i32,
  OH: i32,
  OW: i32,
  Co: i32,
  relu: i32,
): void {
  for (let c0 = 0; c0 < Co; c0 += 8) {
    for (let t = 0; t < 9; t++) {
      const from = filter + (<usize> (t * Co + c0) << 2);
      const to = packed + (<usize> (c0 * 9 + t * 8) << 2);
      v128.store(to, v128.load(from));
      v128.store(to, v128.load(from, 16), 16);
    }
  }
  // The floor as pmax(v, lo) (v < lo ? lo : v): one maxps, and a NaN
  // passes. f32x4.max's NaN and signed-zero rules take V8 seven
  // instructions (docs/kernels.md).
  const lo = relu ? f32x4.splat(0) : f32x4.splat(-Infinity);
  const px = <usize> Co << 2;
  const xRow = <usize> W << 2;
  for (let n = 0; n < N; n++) {
    const xn = x + (<usize> (n * H * W) << 2);
    const on = out + (<usize> (n * OH * OW * Co) << 2);
    for (let oh = 0; oh < OH; oh++) {
      const orow = on + (<usize> (oh * OW * Co) << 2);
      const xr = xn + (<usize> (oh * W) << 2);
      for (let c0 = 0; c0 < Co; c0 += 8) {
        const wp = packed + (<usize> (c0 * 9) << 2);
        const bp = bias + (<usize> c0 << 2);
        const b0 = v128.load(bp), b1 = v128.load(bp, 16);
        // Blocks of four; the last starts at OW - 4 (pixels done twice
        // come out the same). Fewer than four pixels: one at a time.
        const blocks = OW >= 4 ? (OW + 3) >> 2 : 0;
        for (let b = 0; b < blocks; b++) {
          const ow = min(b << 2, OW - 4);
          let a00 = b0, a01 = b1;
          let a10 = b0, a11 = b1;
          let a20 = b0, a21 = b1;
          let a30 = b0, a31 = b1;
          let xp = xr + (<usize> ow << 2), wr = wp;
          for (let kh = 0; kh < 3; kh++) {
            const w00 = v128.load(wr, 0), w01 = v128.load(wr, 16);
            const w10 = v128.load(wr, 32), w11 = v128.load(wr, 48);
            const w20 = v128.load(wr, 64), w21 = v128.load(wr, 80);
            let s = v128.load32_splat(xp);
            a00 = madd(s, w00, a00);
            a01 = madd(s, w01, a01);
            s = v128.load32_splat(xp, 4);
            a10 = madd(s, w00, a10);
            a11 = madd(s, w01, a11);
            a00 = madd(s, w10, a00);
            a01 = madd(s, w11, a01);
            s = v128.load32_splat(xp, 8);
            a20 = madd(s, w00, a20);
            a21 = madd(s, w01, a21);
            a10 = madd(s, w10, a10);
            a11 = madd(s, w11, a11);
            a00 = madd(s, w20, a00);
            a01 = madd(s, w21, a01);
            s = v128.load32_splat(xp, 12);
            a30 = madd(s, w00, a30);
            a31 = madd(s, w01, a31);
            a20 = madd(s, w10, a20);
            a21 = madd(s, w11, a21);
            a10 = madd(s, w20, a10);
            a11 = madd(s, w21, a11);
            s = v128.load32_splat(xp, 16);
            a30 = madd(s, w10, a30);
            a31 = madd(s, w11, a31);
            a20 = madd(s, w20, a20);
            a21 = madd(s, w21, a21);
            s = v128.load32_splat(xp, 20);
            a30 = madd(s, w20, a30);
            a31 = madd(s, w21, a31);
            xp += xRow;
            wr += 96;
          }
          const op = orow + (<usize> (ow * Co + c0) << 2);
          v128.store(op, f32x4.pmax(a00, lo));
          v128.store(op, f32x4.pmax(a01, lo), 16);
          v128.store(op + 1 * px, f32x4.pmax(a10, lo));
          v128.store(op + 1 * px, f32x4.pmax(a11, lo), 16);
          v128.store(op + 2 * px, f32x4.pmax(a20, lo));
          v128.store(op + 2 * px, f32x4.pmax(a21, lo), 16);
          v128.store(op + 3 * px, f32x4.pmax(a30, lo));
          v128.store(op + 3 * px, f32x4.pmax(a31, lo), 16);
        }
        for (let ow = 0; ow < OW && OW < 4; ow++) {
          let a0 = b0, a1 = b1;
          let xp = xr + (<usize> ow << 2), wr = wp;
          for (let kh = 0; kh < 3; kh++) {
            for (let kw = 0; kw < 3; kw++) {
              const s = v128.load32_splat(xp + (<usize> kw << 2));
              const w = wr + (<usize> kw << 5);
              a0 = madd(s, v128.load(w), a0);
              a1 = madd(s, v128.load(w, 16), a1);
            }
            xp += xRow;
            wr += 96;
          }
          const op = orow + (<usize> (ow * Co + c0) << 2);
          v128.store(op, f32x4.pmax(a0, lo));
          v128.store(op, f32x4.pmax(a1, lo), 16);
        }
      }
    }
  }
}

// @ts-nocheck: AssemblyScript (i32, v128, load<T>, ...), compiled by asc, not Deno.
// The matrix product of the dense layer's training products, whose weights
// change every step (the stock XNNPACK path repacks them on every call), and
// of Winograd's per-tile products. It shares the binary, its builds and the
// backend's memory with the Winograd kernels.
//
// Goto-style: the right operand is packed, one block of `kc` rows at a time,
// into panels of 8 columns ([panel][k][8] floats, contiguous), so that a
// panel streams from L1 and a block from L2 whatever the operand's row
// stride; a register block of 5 (then 4) rows × 8 columns of C
// accumulates over the block from its rows of A packed k by k. Unpacked,
// the dense layer's [9216, 128]
// weights are read 32 bytes per 512-byte row: a stride that maps the whole
// operand onto an eighth of L2's sets (docs/kernels.md).

import { madd } from "./simd.as.ts";

/**
 * Packs rows [k0, k0 + kc) of the right operand into `dst` as N/8 panels of
 * kc × 8 floats. `b` is [K, N] row-major, or with `transB` [N, K].
 */
function packPanels(
  b: usize,
  dst: usize,
  K: i32,
  N: i32,
  k0: i32,
  kc: i32,
  transB: bool,
): void {
  const panels = N >> 3;
  if (!transB) {
    const bRow = <usize> N << 2;
    for (let p = 0; p < panels; p++) {
      let src = b + <usize> k0 * bRow + (<usize> p << 5);
      let d = dst + <usize> p * (<usize> kc << 5);
      for (let k = 0; k < kc; k++) {
        v128.store(d, v128.load(src));
        v128.store(d, v128.load(src, 16), 16);
        src += bRow;
        d += 32;
      }
    }
    return;
  }
  // Transposed: the panel's 8 rows of B, four k at a time, transposed in
  // registers (two 4×4 blocks) into four rows of 8: 8 loads and 8 stores
  // per 32 floats where one at a time took 32 of each, every one of them
  // bounds-checked (docs/v8_bounds_checks.md).
  const bRow = <usize> K << 2;
  const kc4 = kc & ~3;
  for (let p = 0; p < panels; p++) {
    const src = b + (<usize> (p << 3)) * bRow + (<usize> k0 << 2);
    const d = dst + <usize> p * (<usize> kc << 5);
    for (let k = 0; k < kc4; k += 4) {
      const s = src + (<usize> k << 2);
      const o = d + (<usize> k << 5);
      transpose4(s, bRow, o);
      transpose4(s + 4 * bRow, bRow, o + 16);
    }
    for (let j = 0; j < 8; j++) {
      let s = src + <usize> j * bRow + (<usize> kc4 << 2);
      let o = d + (<usize> kc4 << 5) + (<usize> j << 2);
      for (let k = kc4; k < kc; k++) {
        store<f32>(o, load<f32>(s));
        s += 4;
        o += 32;
      }
    }
  }
}

/**
 * The 4×4 block at `s` (rows `row` bytes apart) transposed into four rows
 * of a panel (32 bytes apart) at `o`.
 */
function transpose4(s: usize, row: usize, o: usize): void {
  const r0 = v128.load(s), r1 = v128.load(s + row);
  const r2 = v128.load(s + 2 * row), r3 = v128.load(s + 3 * row);
  const a = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
  const b = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
  const c = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
  const e = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
  v128.store(o, i32x4.shuffle(a, b, 0, 1, 4, 5));
  v128.store(o, i32x4.shuffle(a, b, 2, 3, 6, 7), 32);
  v128.store(o, i32x4.shuffle(c, e, 0, 1, 4, 5), 64);
  v128.store(o, i32x4.shuffle(c, e, 2, 3, 6, 7), 96);
}

/**
 * Packs `rows` (5 or 4) rows of A, [m0, m0 + rows) × kc (`ap` at A[m0][k0];
 * rows `aRow` bytes apart, consecutive k `aStep` bytes apart), into `dst`
 * as kc groups of 8 floats: rows 0–3 in lanes 0–3, row 4 in lane 4, the
 * rest unused. {@link rows5} then reads a k's values with two loads
 * instead of five (docs/v8_bounds_checks.md).
 */
function packRows(
  ap: usize,
  aRow: usize,
  aStep: usize,
  kc: i32,
  dst: usize,
  rows: i32,
): void {
  if (aRow == 4) {
    // Side by side (transA): each k's values are contiguous.
    for (let k = 0; k < kc; k++) {
      v128.store(dst, v128.load(ap));
      if (rows == 5) store<f32>(dst, load<f32>(ap, 16), 16);
      ap += aStep;
      dst += 32;
    }
    return;
  }
  let k = 0;
  if (aStep == 4) {
    // Rows at a stride, k contiguous: 4×4 register transposes for rows
    // 0–3, row 4's four k one lane each.
    for (; k + 4 <= kc; k += 4) {
      const s = ap + (<usize> k << 2);
      const d = dst + (<usize> k << 5);
      transpose4(s, aRow, d);
      if (rows == 5) {
        const r4 = v128.load(s + 4 * aRow);
        v128.store32_lane(d, r4, 0, 16);
        v128.store32_lane(d, r4, 1, 48);
        v128.store32_lane(d, r4, 2, 80);
        v128.store32_lane(d, r4, 3, 112);
      }
    }
  }
  for (; k < kc; k++) {
    const s = ap + <usize> k * aStep;
    const d = dst + (<usize> k << 5);
    for (let r = 0; r < rows; r++) {
      store<f32>(d + (<usize> r << 2), load<f32>(s + <usize> r * aRow));
    }
  }
}

/**
 * C rows [m0, m0 + 5) (+)= the packed rows `pa` ({@link packRows}) × the
 * packed block: 10 accumulators, for each of the N/8 panels. Each k loads
 * rows 0–3 of A as one vector, spreads them by shuffles and splats row 4:
 * four bounds-checked loads for ten multiply-adds. One k a round: the
 * accumulators, both B vectors, A's vector and its spread value take 14 of
 * the 15 vector registers V8 allocates, so none is spilled. A 6-row block
 * needs 16 (with two k a round, 20), and an accumulator kept on the stack
 * puts a store and a reload in its chain of multiply-adds: 6×8 blocks took
 * 10–28% longer (docs/kernels.md).
 */
function rows5(
  pa: usize,
  pb: usize,
  cp0: usize,
  cRow: usize,
  panels: i32,
  kc: i32,
  first: bool,
): void {
  const panelBytes = <usize> kc << 5;
  for (let p = 0; p < panels; p++) {
    const cp = cp0 + (<usize> p << 5);
    let c00: v128, c01: v128, c10: v128, c11: v128, c20: v128, c21: v128;
    let c30: v128, c31: v128, c40: v128, c41: v128;
    if (first) {
      c00 = f32x4.splat(0);
      c01 = c00;
      c10 = c00;
      c11 = c00;
      c20 = c00;
      c21 = c00;
      c30 = c00;
      c31 = c00;
      c40 = c00;
      c41 = c00;
    } else {
      c00 = v128.load(cp);
      c01 = v128.load(cp, 16);
      c10 = v128.load(cp + cRow);
      c11 = v128.load(cp + cRow, 16);
      c20 = v128.load(cp + 2 * cRow);
      c21 = v128.load(cp + 2 * cRow, 16);
      c30 = v128.load(cp + 3 * cRow);
      c31 = v128.load(cp + 3 * cRow, 16);
      c40 = v128.load(cp + 4 * cRow);
      c41 = v128.load(cp + 4 * cRow, 16);
    }
    let ap = pa;
    let bp = pb + <usize> p * panelBytes;
    const end = bp + panelBytes;
    while (bp < end) {
      const b0 = v128.load(bp, 0);
      const b1 = v128.load(bp, 16);
      const a = v128.load(ap, 0);
      let x = i32x4.shuffle(a, a, 0, 0, 0, 0);
      c00 = madd(x, b0, c00);
      c01 = madd(x, b1, c01);
      x = i32x4.shuffle(a, a, 1, 1, 1, 1);
      c10 = madd(x, b0, c10);
      c11 = madd(x, b1, c11);
      x = i32x4.shuffle(a, a, 2, 2, 2, 2);
      c20 = madd(x, b0, c20);
      c21 = madd(x, b1, c21);
      x = i32x4.shuffle(a, a, 3, 3, 3, 3);
      c30 = madd(x, b0, c30);
      c31 = madd(x, b1, c31);
      x = v128.load32_splat(ap, 16);
      c40 = madd(x, b0, c40);
      c41 = madd(x, b1, c41);
      ap += 32;
      bp += 32;
    }
    v128.store(cp, c00);
    v128.store(cp, c01, 16);
    v128.store(cp + cRow, c10);
    v128.store(cp + cRow, c11, 16);
    v128.store(cp + 2 * cRow, c20);
    v128.store(cp + 2 * cRow, c21, 16);
    v128.store(cp + 3 * cRow, c30);
    v128.store(cp + 3 * cRow, c31, 16);
    v128.store(cp + 4 * cRow, c40);
    v128.store(cp + 4 * cRow, c41, 16);
  }
}

/** As {@link rows5} for 4 rows (8 accumulators). */
function rows4(
  pa: usize,
  pb: usize,
  cp0: usize,
  cRow: usize,
  panels: i32,
  kc: i32,
  first: bool,
): void {
  const panelBytes = <usize> kc << 5;
  for (let p = 0; p < panels; p++) {
    const cp = cp0 + (<usize> p << 5);
    let c00: v128, c01: v128, c10: v128, c11: v128;
    let c20: v128, c21: v128, c30: v128, c31: v128;
    if (first) {
      c00 = f32x4.splat(0);
      c01 = c00;
      c10 = c00;
      c11 = c00;
      c20 = c00;
      c21 = c00;
      c30 = c00;
      c31 = c00;
    } else {
      c00 = v128.load(cp);
      c01 = v128.load(cp, 16);
      c10 = v128.load(cp + cRow);
      c11 = v128.load(cp + cRow, 16);
      c20 = v128.load(cp + 2 * cRow);
      c21 = v128.load(cp + 2 * cRow, 16);
      c30 = v128.load(cp + 3 * cRow);
      c31 = v128.load(cp + 3 * cRow, 16);
    }
    let ap = pa;
    let bp = pb + <usize> p * panelBytes;
    const end = bp + panelBytes;
    while (bp < end) {
      const b0 = v128.load(bp, 0);
      const b1 = v128.load(bp, 16);
      const a = v128.load(ap, 0);
      let x = i32x4.shuffle(a, a, 0, 0, 0, 0);
      c00 = madd(x, b0, c00);
      c01 = madd(x, b1, c01);
      x = i32x4.shuffle(a, a, 1, 1, 1, 1);
      c10 = madd(x, b0, c10);
      c11 = madd(x, b1, c11);
      x = i32x4.shuffle(a, a, 2, 2, 2, 2);
      c20 = madd(x, b0, c20);
      c21 = madd(x, b1, c21);
      x = i32x4.shuffle(a, a, 3, 3, 3, 3);
      c30 = madd(x, b0, c30);
      c31 = madd(x, b1, c31);
      ap += 32;
      bp += 32;
    }
    v128.store(cp, c00);
    v128.store(cp, c01, 16);
    v128.store(cp + cRow, c10);
    v128.store(cp + cRow, c11, 16);
    v128.store(cp + 2 * cRow, c20);
    v128.store(cp + 2 * cRow, c21, 16);
    v128.store(cp + 3 * cRow, c30);
    v128.store(cp + 3 * cRow, c31, 16);
  }
}

/** As {@link rows5} for one row (2 accumulators), A unpacked. */
function rows1(
  ap0: usize,
  aStep: usize,
  pb: usize,
  cp0: usize,
  panels: i32,
  kc: i32,
  first: bool,
): void {
  const panelBytes = <usize> kc << 5;
  for (let p = 0; p < panels; p++) {
    const cp = cp0 + (<usize> p << 5);
    let c0 = first ? f32x4.splat(0) : v128.load(cp);
    let c1 = first ? f32x4.splat(0) : v128.load(cp, 16);
    let ap = ap0;
    let bp = pb + <usize> p * panelBytes;
    const end = bp + panelBytes;
    while (bp < end) {
      const x = v128.load32_splat(ap);
      c0 = madd(x, v128.load(bp), c0);
      c1 = madd(x, v128.load(bp, 16), c1);
      ap += aStep;
      bp += 32;
    }
    v128.store(cp, c0);
    v128.store(cp, c1, 16);
  }
}

/**
 * C rows [0, M) (+)= A · the packed block `pb` (kc rows × N columns), with
 * register blocks of 5 rows, then of 4 (M = 5·a + 4·b wherever M ≥ 12:
 * 128 rows are 24 blocks of 5 and 2 of 4), then single rows; with `rows`
 * 4, blocks of 4 only. `a` points at A[0][k0]; A's rows are `aRow` bytes
 * apart and consecutive k `aStep` bytes apart; C is [M, N] row-major;
 * `first` starts C from zero; `pa` holds 8·kc floats (a block of A packed).
 */
function block(
  a: usize,
  aRow: usize,
  aStep: usize,
  pb: usize,
  c: usize,
  M: i32,
  N: i32,
  kc: i32,
  first: bool,
  rows: i32,
  pa: usize,
): void {
  const cRow = <usize> N << 2;
  const panels = N >> 3;
  // Groups of panels of about 256 KB, so that a group stays in L2 while
  // every row block of A passes over it (a wide B, as dx = dy·Wᵀ's 9216
  // columns, would otherwise stream from L3 once per row block).
  const group = max(1, 8192 / kc);
  for (let g = 0; g < panels; g += group) {
    const np = min(group, panels - g);
    const pg = pb + <usize> g * (<usize> kc << 5);
    const cg = c + (<usize> g << 5);
    // b blocks of 4 with 4·b ≡ M (mod 5), the rest in blocks of 5.
    let fours = rows == 4 ? M >> 2 : (4 * M) % 5;
    if (4 * fours > M) fours = 0;
    const end5 = M - 4 * fours;
    let m = 0;
    for (; m + 5 <= end5; m += 5) {
      packRows(a + <usize> m * aRow, aRow, aStep, kc, pa, 5);
      rows5(pa, pg, cg + <usize> m * cRow, cRow, np, kc, first);
    }
    for (; m + 4 <= M; m += 4) {
      packRows(a + <usize> m * aRow, aRow, aStep, kc, pa, 4);
      rows4(pa, pg, cg + <usize> m * cRow, cRow, np, kc, first);
    }
    for (; m < M; m++) {
      rows1(
        a + <usize> m * aRow,
        aStep,
        pg,
        cg + <usize> m * cRow,
        np,
        kc,
        first,
      );
    }
  }
  const width = N & 7;
  if (width != 0) {
    partial(
      a,
      aRow,
      aStep,
      pb + <usize> panels * (<usize> kc << 5),
      c + (<usize> panels << 5),
      cRow,
      M,
      kc,
      first,
      width,
    );
  }
}

/**
 * The last panel when N is not a multiple of 8 (Winograd's planes; `gemm`
 * is only called with N a multiple of 8): its packed columns past N are
 * zero, and only the first `width` lanes are stored. Not `first`, the
 * block's sums are added to C (rounded once more than a continued chain).
 */
function partial(
  a: usize,
  aRow: usize,
  aStep: usize,
  pb: usize,
  c: usize,
  cRow: usize,
  M: i32,
  kc: i32,
  first: bool,
  width: i32,
): void {
  for (let m = 0; m < M; m++) {
    const cp = c + <usize> m * cRow;
    let c0 = f32x4.splat(0), c1 = f32x4.splat(0);
    let ap = a + <usize> m * aRow;
    let bp = pb;
    for (let k = 0; k < kc; k++) {
      const x = v128.load32_splat(ap);
      c0 = madd(x, v128.load(bp), c0);
      c1 = madd(x, v128.load(bp, 16), c1);
      ap += aStep;
      bp += 32;
    }
    let v: f32;
    for (let j = 0; j < width; j++) {
      const lane = j < 4 ? c0 : c1;
      const i = j & 3;
      v = i == 0
        ? f32x4.extract_lane(lane, 0)
        : i == 1
        ? f32x4.extract_lane(lane, 1)
        : i == 2
        ? f32x4.extract_lane(lane, 2)
        : f32x4.extract_lane(lane, 3);
      const at = cp + (<usize> j << 2);
      store<f32>(at, first ? v : v + load<f32>(at));
    }
  }
}

/**
 * C = op(A)·op(B): C [M, N] row-major, N a multiple of 8; A [M, K]
 * row-major, or with `transA` [K, M]; B [K, N], or with `transB` [N, K].
 * `scratch` holds min(K, kc)·(N + 8) floats (one packed block of B, then
 * a block of A packed); `rows` (5 or 4) picks the register blocks (see
 * {@link block}), `kc` the rows of B per block.
 */
export function gemm(
  a: usize,
  b: usize,
  c: usize,
  M: i32,
  K: i32,
  N: i32,
  transA: i32,
  transB: i32,
  scratch: usize,
  kc: i32,
  rows: i32,
): void {
  const aRow: usize = transA ? 4 : <usize> K << 2;
  const aStep: usize = transA ? <usize> M << 2 : 4;
  const pa = scratch + ((<usize> min(K, kc) * <usize> N) << 2);
  for (let k0 = 0; k0 < K; k0 += kc) {
    const kb = min(kc, K - k0);
    packPanels(b, scratch, K, N, k0, kb, transB != 0);
    block(
      a + <usize> k0 * aStep,
      aRow,
      aStep,
      scratch,
      c,
      M,
      N,
      kb,
      k0 == 0,
      rows,
      pa,
    );
  }
}

/**
 * Winograd's per-plane products, B already packed: for each plane k < planes,
 * C_k [M, N] = A_k [M, K] · B_k, where A_k and C_k are at the addresses in
 * the i32 tables `aTable` and `cTable` and B_k is packed (⌈N/8⌉ panels of
 * K×8 floats, zero past N) at `b + k·K·⌈N/8⌉·32`; `rows` as for
 * {@link gemm}; `scratch` holds 8·K floats.
 */
export function planeProducts(
  aTable: usize,
  b: usize,
  cTable: usize,
  M: i32,
  K: i32,
  N: i32,
  planes: i32,
  rows: i32,
  scratch: usize,
): void {
  const plane = (<usize> K * <usize> ((N + 7) >> 3)) << 5;
  for (let k = 0; k < planes; k++) {
    const a = <usize> load<i32>(aTable + (<usize> k << 2));
    const c = <usize> load<i32>(cTable + (<usize> k << 2));
    block(
      a,
      <usize> K << 2,
      4,
      b + <usize> k * plane,
      c,
      M,
      N,
      K,
      true,
      rows,
      scratch,
    );
  }
}

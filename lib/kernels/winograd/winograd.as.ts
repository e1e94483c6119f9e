// @ts-nocheck: AssemblyScript (i32, v128, load<T>, ...), compiled by asc, not Deno.
// Winograd F(2x2,3x3) input and output transforms (and the weight
// gradient's dy transform), WASM SIMD128
// (AssemblyScript). Built by build.ts into winograd.wasm.
//
// The module imports the tfjs wasm backend's own memory (env.memory) and
// touches only the addresses it is given: it has no static data, no stack
// and no allocator (built with --runtime stub, nothing ever allocated).
//
// Layouts (float32, byte addresses):
//   x: [N, H, W, C] NHWC input.
//   V: 16 planes, plane k at address load<usize>(vTable + 4k), each
//      [count, C] (row = tile - t0).
//   M: 16 planes, plane k at load<usize>(mTable + 4k), each [count, C].
//   y: [N, OH, OW, C] NHWC output.
// Tiles are numbered t = (n·TH + ty)·TW + tx; tile (ty, tx) reads input rows
// 2ty - padT .. +3 and columns 2tx - padL .. +3 (zero outside), and writes
// output rows 2ty, 2ty+1 and columns 2tx, 2tx+1 (only those inside).

/**
 * V[k][t - t0][c] = (Bᵀ·d·B)[k] for tiles t0 .. t0+count-1, where d is the
 * 4x4 input patch of channel c. `zero` must point at C (at least 4) zeros.
 */
export function inputTransform(
  x: usize,
  vTable: usize,
  zero: usize,
  H: i32,
  W: i32,
  C: i32,
  padT: i32,
  padL: i32,
  TH: i32,
  TW: i32,
  t0: i32,
  count: i32,
): void {
  const rowBytes = <usize> (W * C) << 2;
  const pixBytes = <usize> C << 2;
  const v0 = load<usize>(vTable, 0), v1 = load<usize>(vTable, 4);
  const v2 = load<usize>(vTable, 8), v3 = load<usize>(vTable, 12);
  const v4 = load<usize>(vTable, 16), v5 = load<usize>(vTable, 20);
  const v6 = load<usize>(vTable, 24), v7 = load<usize>(vTable, 28);
  const v8 = load<usize>(vTable, 32), v9 = load<usize>(vTable, 36);
  const v10 = load<usize>(vTable, 40), v11 = load<usize>(vTable, 44);
  const v12 = load<usize>(vTable, 48), v13 = load<usize>(vTable, 52);
  const v14 = load<usize>(vTable, 56), v15 = load<usize>(vTable, 60);
  const tilesPerImage = TH * TW;
  const C4 = C & ~3;
  for (let i = 0; i < count; i++) {
    const t = t0 + i;
    const n = t / tilesPerImage;
    const r = t - n * tilesPerImage;
    const ty = r / TW;
    const tx = r - ty * TW;
    const y0 = 2 * ty - padT;
    const x0 = 2 * tx - padL;
    const img = x + <usize> (n * H) * rowBytes;
    // Row base addresses (or -1 for rows outside).
    const r0ok = <u32> y0 < <u32> H, r1ok = <u32> (y0 + 1) < <u32> H;
    const r2ok = <u32> (y0 + 2) < <u32> H, r3ok = <u32> (y0 + 3) < <u32> H;
    const c0ok = <u32> x0 < <u32> W, c1ok = <u32> (x0 + 1) < <u32> W;
    const c2ok = <u32> (x0 + 2) < <u32> W, c3ok = <u32> (x0 + 3) < <u32> W;
    const b0 = img + <usize> y0 * rowBytes + <usize> x0 * pixBytes;
    const b1 = b0 + rowBytes, b2 = b1 + rowBytes, b3 = b2 + rowBytes;
    const p00 = r0ok && c0ok ? b0 : zero;
    const p01 = r0ok && c1ok ? b0 + pixBytes : zero;
    const p02 = r0ok && c2ok ? b0 + 2 * pixBytes : zero;
    const p03 = r0ok && c3ok ? b0 + 3 * pixBytes : zero;
    const p10 = r1ok && c0ok ? b1 : zero;
    const p11 = r1ok && c1ok ? b1 + pixBytes : zero;
    const p12 = r1ok && c2ok ? b1 + 2 * pixBytes : zero;
    const p13 = r1ok && c3ok ? b1 + 3 * pixBytes : zero;
    const p20 = r2ok && c0ok ? b2 : zero;
    const p21 = r2ok && c1ok ? b2 + pixBytes : zero;
    const p22 = r2ok && c2ok ? b2 + 2 * pixBytes : zero;
    const p23 = r2ok && c3ok ? b2 + 3 * pixBytes : zero;
    const p30 = r3ok && c0ok ? b3 : zero;
    const p31 = r3ok && c1ok ? b3 + pixBytes : zero;
    const p32 = r3ok && c2ok ? b3 + 2 * pixBytes : zero;
    const p33 = r3ok && c3ok ? b3 + 3 * pixBytes : zero;
    const o = <usize> i * pixBytes;
    let c = 0;
    for (; c < C4; c += 4) {
      const cb = <usize> c << 2;
      // Rows: t[r] = Bᵀ·d (column-wise).
      const d00 = v128.load(p00 + cb), d01 = v128.load(p01 + cb);
      const d02 = v128.load(p02 + cb), d03 = v128.load(p03 + cb);
      const d10 = v128.load(p10 + cb), d11 = v128.load(p11 + cb);
      const d12 = v128.load(p12 + cb), d13 = v128.load(p13 + cb);
      const d20 = v128.load(p20 + cb), d21 = v128.load(p21 + cb);
      const d22 = v128.load(p22 + cb), d23 = v128.load(p23 + cb);
      const d30 = v128.load(p30 + cb), d31 = v128.load(p31 + cb);
      const d32 = v128.load(p32 + cb), d33 = v128.load(p33 + cb);
      const t00 = f32x4.sub(d00, d20), t01 = f32x4.sub(d01, d21);
      const t02 = f32x4.sub(d02, d22), t03 = f32x4.sub(d03, d23);
      const t10 = f32x4.add(d10, d20), t11 = f32x4.add(d11, d21);
      const t12 = f32x4.add(d12, d22), t13 = f32x4.add(d13, d23);
      const t20 = f32x4.sub(d20, d10), t21 = f32x4.sub(d21, d11);
      const t22 = f32x4.sub(d22, d12), t23 = f32x4.sub(d23, d13);
      const t30 = f32x4.sub(d10, d30), t31 = f32x4.sub(d11, d31);
      const t32 = f32x4.sub(d12, d32), t33 = f32x4.sub(d13, d33);
      const q = o + cb;
      v128.store(v0 + q, f32x4.sub(t00, t02));
      v128.store(v1 + q, f32x4.add(t01, t02));
      v128.store(v2 + q, f32x4.sub(t02, t01));
      v128.store(v3 + q, f32x4.sub(t01, t03));
      v128.store(v4 + q, f32x4.sub(t10, t12));
      v128.store(v5 + q, f32x4.add(t11, t12));
      v128.store(v6 + q, f32x4.sub(t12, t11));
      v128.store(v7 + q, f32x4.sub(t11, t13));
      v128.store(v8 + q, f32x4.sub(t20, t22));
      v128.store(v9 + q, f32x4.add(t21, t22));
      v128.store(v10 + q, f32x4.sub(t22, t21));
      v128.store(v11 + q, f32x4.sub(t21, t23));
      v128.store(v12 + q, f32x4.sub(t30, t32));
      v128.store(v13 + q, f32x4.add(t31, t32));
      v128.store(v14 + q, f32x4.sub(t32, t31));
      v128.store(v15 + q, f32x4.sub(t31, t33));
    }
    for (; c < C; c++) {
      const cb = <usize> c << 2;
      const d00 = load<f32>(p00 + cb), d01 = load<f32>(p01 + cb);
      const d02 = load<f32>(p02 + cb), d03 = load<f32>(p03 + cb);
      const d10 = load<f32>(p10 + cb), d11 = load<f32>(p11 + cb);
      const d12 = load<f32>(p12 + cb), d13 = load<f32>(p13 + cb);
      const d20 = load<f32>(p20 + cb), d21 = load<f32>(p21 + cb);
      const d22 = load<f32>(p22 + cb), d23 = load<f32>(p23 + cb);
      const d30 = load<f32>(p30 + cb), d31 = load<f32>(p31 + cb);
      const d32 = load<f32>(p32 + cb), d33 = load<f32>(p33 + cb);
      const t00 = d00 - d20, t01 = d01 - d21, t02 = d02 - d22, t03 = d03 - d23;
      const t10 = d10 + d20, t11 = d11 + d21, t12 = d12 + d22, t13 = d13 + d23;
      const t20 = d20 - d10, t21 = d21 - d11, t22 = d22 - d12, t23 = d23 - d13;
      const t30 = d10 - d30, t31 = d11 - d31, t32 = d12 - d32, t33 = d13 - d33;
      const q = o + cb;
      store<f32>(v0 + q, t00 - t02);
      store<f32>(v1 + q, t01 + t02);
      store<f32>(v2 + q, t02 - t01);
      store<f32>(v3 + q, t01 - t03);
      store<f32>(v4 + q, t10 - t12);
      store<f32>(v5 + q, t11 + t12);
      store<f32>(v6 + q, t12 - t11);
      store<f32>(v7 + q, t11 - t13);
      store<f32>(v8 + q, t20 - t22);
      store<f32>(v9 + q, t21 + t22);
      store<f32>(v10 + q, t22 - t21);
      store<f32>(v11 + q, t21 - t23);
      store<f32>(v12 + q, t30 - t32);
      store<f32>(v13 + q, t31 + t32);
      store<f32>(v14 + q, t32 - t31);
      store<f32>(v15 + q, t31 - t33);
    }
  }
}

/**
 * y[n, 2ty+i, 2tx+j, c] = (Aᵀ·m·A)[i][j] for tiles t0 .. t0+count-1, where
 * m[k] = M[k][t - t0][c]; outputs outside OH x OW are skipped.
 */
export function outputTransform(
  mTable: usize,
  y: usize,
  OH: i32,
  OW: i32,
  C: i32,
  TH: i32,
  TW: i32,
  t0: i32,
  count: i32,
): void {
  const pixBytes = <usize> C << 2;
  const rowBytes = <usize> OW * pixBytes;
  const m0 = load<usize>(mTable, 0), m1 = load<usize>(mTable, 4);
  const m2 = load<usize>(mTable, 8), m3 = load<usize>(mTable, 12);
  const m4 = load<usize>(mTable, 16), m5 = load<usize>(mTable, 20);
  const m6 = load<usize>(mTable, 24), m7 = load<usize>(mTable, 28);
  const m8 = load<usize>(mTable, 32), m9 = load<usize>(mTable, 36);
  const m10 = load<usize>(mTable, 40), m11 = load<usize>(mTable, 44);
  const m12 = load<usize>(mTable, 48), m13 = load<usize>(mTable, 52);
  const m14 = load<usize>(mTable, 56), m15 = load<usize>(mTable, 60);
  const tilesPerImage = TH * TW;
  const C4 = C & ~3;
  for (let i = 0; i < count; i++) {
    const t = t0 + i;
    const n = t / tilesPerImage;
    const r = t - n * tilesPerImage;
    const ty = r / TW;
    const tx = r - ty * TW;
    const oy = 2 * ty, ox = 2 * tx;
    const hasR = ox + 1 < OW, hasD = oy + 1 < OH;
    const q00 = y +
      (<usize> (n * OH + oy) * <usize> OW + <usize> ox) * pixBytes;
    const q01 = q00 + pixBytes, q10 = q00 + rowBytes, q11 = q10 + pixBytes;
    const o = <usize> i * pixBytes;
    let c = 0;
    for (; c < C4; c += 4) {
      const a = o + (<usize> c << 2);
      const a00 = v128.load(m0 + a), a01 = v128.load(m1 + a);
      const a02 = v128.load(m2 + a), a03 = v128.load(m3 + a);
      const a10 = v128.load(m4 + a), a11 = v128.load(m5 + a);
      const a12 = v128.load(m6 + a), a13 = v128.load(m7 + a);
      const a20 = v128.load(m8 + a), a21 = v128.load(m9 + a);
      const a22 = v128.load(m10 + a), a23 = v128.load(m11 + a);
      const a30 = v128.load(m12 + a), a31 = v128.load(m13 + a);
      const a32 = v128.load(m14 + a), a33 = v128.load(m15 + a);
      // s0 = row0 + row1 + row2, s1 = row1 - row2 - row3.
      const s00 = f32x4.add(f32x4.add(a00, a10), a20);
      const s01 = f32x4.add(f32x4.add(a01, a11), a21);
      const s02 = f32x4.add(f32x4.add(a02, a12), a22);
      const s03 = f32x4.add(f32x4.add(a03, a13), a23);
      const s10 = f32x4.sub(f32x4.sub(a10, a20), a30);
      const s11 = f32x4.sub(f32x4.sub(a11, a21), a31);
      const s12 = f32x4.sub(f32x4.sub(a12, a22), a32);
      const s13 = f32x4.sub(f32x4.sub(a13, a23), a33);
      const cb = <usize> c << 2;
      v128.store(q00 + cb, f32x4.add(f32x4.add(s00, s01), s02));
      if (hasR) v128.store(q01 + cb, f32x4.sub(f32x4.sub(s01, s02), s03));
      if (hasD) {
        v128.store(q10 + cb, f32x4.add(f32x4.add(s10, s11), s12));
        if (hasR) v128.store(q11 + cb, f32x4.sub(f32x4.sub(s11, s12), s13));
      }
    }
    for (; c < C; c++) {
      const a = o + (<usize> c << 2);
      const a00 = load<f32>(m0 + a), a01 = load<f32>(m1 + a);
      const a02 = load<f32>(m2 + a), a03 = load<f32>(m3 + a);
      const a10 = load<f32>(m4 + a), a11 = load<f32>(m5 + a);
      const a12 = load<f32>(m6 + a), a13 = load<f32>(m7 + a);
      const a20 = load<f32>(m8 + a), a21 = load<f32>(m9 + a);
      const a22 = load<f32>(m10 + a), a23 = load<f32>(m11 + a);
      const a30 = load<f32>(m12 + a), a31 = load<f32>(m13 + a);
      const a32 = load<f32>(m14 + a), a33 = load<f32>(m15 + a);
      const s00 = a00 + a10 + a20, s01 = a01 + a11 + a21;
      const s02 = a02 + a12 + a22, s03 = a03 + a13 + a23;
      const s10 = a10 - a20 - a30, s11 = a11 - a21 - a31;
      const s12 = a12 - a22 - a32, s13 = a13 - a23 - a33;
      const cb = <usize> c << 2;
      store<f32>(q00 + cb, s00 + s01 + s02);
      if (hasR) store<f32>(q01 + cb, s01 - s02 - s03);
      if (hasD) {
        store<f32>(q10 + cb, s10 + s11 + s12);
        if (hasR) store<f32>(q11 + cb, s11 - s12 - s13);
      }
    }
  }
}

/** Stores one row pair (a, b) of A·e·Aᵀ: [a, a + b, a - b, -b]. */
function storeRow(
  p0: usize,
  p1: usize,
  p2: usize,
  p3: usize,
  at: usize,
  a: v128,
  b: v128,
): void {
  v128.store(p0 + at, a);
  v128.store(p1 + at, f32x4.add(a, b));
  v128.store(p2 + at, f32x4.sub(a, b));
  v128.store(p3 + at, f32x4.neg(b));
}

/** Scalar version of {@link storeRow}. */
function storeRow1(
  p0: usize,
  p1: usize,
  p2: usize,
  p3: usize,
  at: usize,
  a: f32,
  b: f32,
): void {
  store<f32>(p0 + at, a);
  store<f32>(p1 + at, a + b);
  store<f32>(p2 + at, a - b);
  store<f32>(p3 + at, -b);
}

/**
 * Stores channel c of one tile of the weight gradient's dy transform,
 * scalar: e00 .. e11 is the 2x2 dy patch, `at` the byte offset c·ld + 4i.
 */
function dyTile1(
  d0: usize,
  d1: usize,
  d2: usize,
  d3: usize,
  d4: usize,
  d5: usize,
  d6: usize,
  d7: usize,
  d8: usize,
  d9: usize,
  d10: usize,
  d11: usize,
  d12: usize,
  d13: usize,
  d14: usize,
  d15: usize,
  at: usize,
  e00: f32,
  e01: f32,
  e10: f32,
  e11: f32,
): void {
  storeRow1(d0, d1, d2, d3, at, e00, e01);
  storeRow1(d4, d5, d6, d7, at, e00 + e10, e01 + e11);
  storeRow1(d8, d9, d10, d11, at, e00 - e10, e01 - e11);
  storeRow1(d12, d13, d14, d15, at, -e10, -e11);
}

/** SIMD version of {@link dyTile1}: lanes are four consecutive tiles. */
function dyTile4(
  d0: usize,
  d1: usize,
  d2: usize,
  d3: usize,
  d4: usize,
  d5: usize,
  d6: usize,
  d7: usize,
  d8: usize,
  d9: usize,
  d10: usize,
  d11: usize,
  d12: usize,
  d13: usize,
  d14: usize,
  d15: usize,
  at: usize,
  e00: v128,
  e01: v128,
  e10: v128,
  e11: v128,
): void {
  storeRow(d0, d1, d2, d3, at, e00, e01);
  storeRow(d4, d5, d6, d7, at, f32x4.add(e00, e10), f32x4.add(e01, e11));
  storeRow(d8, d9, d10, d11, at, f32x4.sub(e00, e10), f32x4.sub(e01, e11));
  storeRow(d12, d13, d14, d15, at, f32x4.neg(e10), f32x4.neg(e11));
}

/**
 * For the weight gradient: D[k][c][t - t0] = (A·e·Aᵀ)[k] for tiles t0 ..
 * t0+count-1, where e is the 2x2 patch of channel c of dy ([N, OH, OW, C])
 * at rows 2ty, 2ty+1 and columns 2tx, 2tx+1 (zero outside OH x OW) and
 * A = [[1,0],[1,1],[1,-1],[0,-1]]. Plane k at load<usize>(dTable + 4k), each
 * [C, count] (channel-major: the GEMM's left operand). `zero` must point at
 * C (at least 4) zeros.
 */
export function dyTransform(
  dy: usize,
  dTable: usize,
  zero: usize,
  OH: i32,
  OW: i32,
  C: i32,
  TH: i32,
  TW: i32,
  t0: i32,
  count: i32,
): void {
  const pixBytes = <usize> C << 2;
  const rowBytes = <usize> OW * pixBytes;
  const ld = <usize> count << 2; // bytes between channel rows of a plane
  const d0 = load<usize>(dTable, 0), d1 = load<usize>(dTable, 4);
  const d2 = load<usize>(dTable, 8), d3 = load<usize>(dTable, 12);
  const d4 = load<usize>(dTable, 16), d5 = load<usize>(dTable, 20);
  const d6 = load<usize>(dTable, 24), d7 = load<usize>(dTable, 28);
  const d8 = load<usize>(dTable, 32), d9 = load<usize>(dTable, 36);
  const d10 = load<usize>(dTable, 40), d11 = load<usize>(dTable, 44);
  const d12 = load<usize>(dTable, 48), d13 = load<usize>(dTable, 52);
  const d14 = load<usize>(dTable, 56), d15 = load<usize>(dTable, 60);
  const tilesPerImage = TH * TW;
  const C4 = C & ~3;
  const count4 = count & ~3;
  let i = 0;
  // Four tiles at a time: loads run over channels, 4x4 transposes make the
  // lanes tiles, and each result is one 16-byte store at D[k][c][i .. i+3].
  for (; i < count4; i += 4) {
    const tt0 = t0 + i + 0;
    const n0 = tt0 / tilesPerImage;
    const r0 = tt0 - n0 * tilesPerImage;
    const ty0 = r0 / TW;
    const tx0 = r0 - ty0 * TW;
    const hasR0 = 2 * tx0 + 1 < OW, hasD0 = 2 * ty0 + 1 < OH;
    const a00 = dy + (<usize> (n0 * OH + 2 * ty0) * <usize> OW +
          <usize> (2 * tx0)) * pixBytes;
    const a01 = hasR0 ? a00 + pixBytes : zero;
    const a02 = hasD0 ? a00 + rowBytes : zero;
    const a03 = hasR0 && hasD0 ? a00 + rowBytes + pixBytes : zero;
    const tt1 = t0 + i + 1;
    const n1 = tt1 / tilesPerImage;
    const r1 = tt1 - n1 * tilesPerImage;
    const ty1 = r1 / TW;
    const tx1 = r1 - ty1 * TW;
    const hasR1 = 2 * tx1 + 1 < OW, hasD1 = 2 * ty1 + 1 < OH;
    const a10 = dy + (<usize> (n1 * OH + 2 * ty1) * <usize> OW +
          <usize> (2 * tx1)) * pixBytes;
    const a11 = hasR1 ? a10 + pixBytes : zero;
    const a12 = hasD1 ? a10 + rowBytes : zero;
    const a13 = hasR1 && hasD1 ? a10 + rowBytes + pixBytes : zero;
    const tt2 = t0 + i + 2;
    const n2 = tt2 / tilesPerImage;
    const r2 = tt2 - n2 * tilesPerImage;
    const ty2 = r2 / TW;
    const tx2 = r2 - ty2 * TW;
    const hasR2 = 2 * tx2 + 1 < OW, hasD2 = 2 * ty2 + 1 < OH;
    const a20 = dy + (<usize> (n2 * OH + 2 * ty2) * <usize> OW +
          <usize> (2 * tx2)) * pixBytes;
    const a21 = hasR2 ? a20 + pixBytes : zero;
    const a22 = hasD2 ? a20 + rowBytes : zero;
    const a23 = hasR2 && hasD2 ? a20 + rowBytes + pixBytes : zero;
    const tt3 = t0 + i + 3;
    const n3 = tt3 / tilesPerImage;
    const r3 = tt3 - n3 * tilesPerImage;
    const ty3 = r3 / TW;
    const tx3 = r3 - ty3 * TW;
    const hasR3 = 2 * tx3 + 1 < OW, hasD3 = 2 * ty3 + 1 < OH;
    const a30 = dy + (<usize> (n3 * OH + 2 * ty3) * <usize> OW +
          <usize> (2 * tx3)) * pixBytes;
    const a31 = hasR3 ? a30 + pixBytes : zero;
    const a32 = hasD3 ? a30 + rowBytes : zero;
    const a33 = hasR3 && hasD3 ? a30 + rowBytes + pixBytes : zero;
    const o = <usize> i << 2;
    let c = 0;
    for (; c < C4; c += 4) {
      const cb = <usize> c << 2;
      const x00 = v128.load(a00 + cb), x01 = v128.load(a10 + cb);
      const x02 = v128.load(a20 + cb), x03 = v128.load(a30 + cb);
      const u00 = v128.shuffle<f32>(x00, x01, 0, 4, 1, 5);
      const u01 = v128.shuffle<f32>(x00, x01, 2, 6, 3, 7);
      const u02 = v128.shuffle<f32>(x02, x03, 0, 4, 1, 5);
      const u03 = v128.shuffle<f32>(x02, x03, 2, 6, 3, 7);
      const e00 = v128.shuffle<f32>(u00, u02, 0, 1, 4, 5);
      const e01 = v128.shuffle<f32>(u00, u02, 2, 3, 6, 7);
      const e02 = v128.shuffle<f32>(u01, u03, 0, 1, 4, 5);
      const e03 = v128.shuffle<f32>(u01, u03, 2, 3, 6, 7);
      const x10 = v128.load(a01 + cb), x11 = v128.load(a11 + cb);
      const x12 = v128.load(a21 + cb), x13 = v128.load(a31 + cb);
      const u10 = v128.shuffle<f32>(x10, x11, 0, 4, 1, 5);
      const u11 = v128.shuffle<f32>(x10, x11, 2, 6, 3, 7);
      const u12 = v128.shuffle<f32>(x12, x13, 0, 4, 1, 5);
      const u13 = v128.shuffle<f32>(x12, x13, 2, 6, 3, 7);
      const e10 = v128.shuffle<f32>(u10, u12, 0, 1, 4, 5);
      const e11 = v128.shuffle<f32>(u10, u12, 2, 3, 6, 7);
      const e12 = v128.shuffle<f32>(u11, u13, 0, 1, 4, 5);
      const e13 = v128.shuffle<f32>(u11, u13, 2, 3, 6, 7);
      const x20 = v128.load(a02 + cb), x21 = v128.load(a12 + cb);
      const x22 = v128.load(a22 + cb), x23 = v128.load(a32 + cb);
      const u20 = v128.shuffle<f32>(x20, x21, 0, 4, 1, 5);
      const u21 = v128.shuffle<f32>(x20, x21, 2, 6, 3, 7);
      const u22 = v128.shuffle<f32>(x22, x23, 0, 4, 1, 5);
      const u23 = v128.shuffle<f32>(x22, x23, 2, 6, 3, 7);
      const e20 = v128.shuffle<f32>(u20, u22, 0, 1, 4, 5);
      const e21 = v128.shuffle<f32>(u20, u22, 2, 3, 6, 7);
      const e22 = v128.shuffle<f32>(u21, u23, 0, 1, 4, 5);
      const e23 = v128.shuffle<f32>(u21, u23, 2, 3, 6, 7);
      const x30 = v128.load(a03 + cb), x31 = v128.load(a13 + cb);
      const x32 = v128.load(a23 + cb), x33 = v128.load(a33 + cb);
      const u30 = v128.shuffle<f32>(x30, x31, 0, 4, 1, 5);
      const u31 = v128.shuffle<f32>(x30, x31, 2, 6, 3, 7);
      const u32 = v128.shuffle<f32>(x32, x33, 0, 4, 1, 5);
      const u33 = v128.shuffle<f32>(x32, x33, 2, 6, 3, 7);
      const e30 = v128.shuffle<f32>(u30, u32, 0, 1, 4, 5);
      const e31 = v128.shuffle<f32>(u30, u32, 2, 3, 6, 7);
      const e32 = v128.shuffle<f32>(u31, u33, 0, 1, 4, 5);
      const e33 = v128.shuffle<f32>(u31, u33, 2, 3, 6, 7);
      const at = o + <usize> c * ld;
      dyTile4(
        d0,
        d1,
        d2,
        d3,
        d4,
        d5,
        d6,
        d7,
        d8,
        d9,
        d10,
        d11,
        d12,
        d13,
        d14,
        d15,
        at,
        e00,
        e10,
        e20,
        e30,
      );
      dyTile4(
        d0,
        d1,
        d2,
        d3,
        d4,
        d5,
        d6,
        d7,
        d8,
        d9,
        d10,
        d11,
        d12,
        d13,
        d14,
        d15,
        at + ld,
        e01,
        e11,
        e21,
        e31,
      );
      dyTile4(
        d0,
        d1,
        d2,
        d3,
        d4,
        d5,
        d6,
        d7,
        d8,
        d9,
        d10,
        d11,
        d12,
        d13,
        d14,
        d15,
        at + 2 * ld,
        e02,
        e12,
        e22,
        e32,
      );
      dyTile4(
        d0,
        d1,
        d2,
        d3,
        d4,
        d5,
        d6,
        d7,
        d8,
        d9,
        d10,
        d11,
        d12,
        d13,
        d14,
        d15,
        at + 3 * ld,
        e03,
        e13,
        e23,
        e33,
      );
    }
    for (; c < C; c++) {
      const cb = <usize> c << 2;
      const at = o + <usize> c * ld;
      dyTile1(
        d0,
        d1,
        d2,
        d3,
        d4,
        d5,
        d6,
        d7,
        d8,
        d9,
        d10,
        d11,
        d12,
        d13,
        d14,
        d15,
        at,
        load<f32>(a00 + cb),
        load<f32>(a01 + cb),
        load<f32>(a02 + cb),
        load<f32>(a03 + cb),
      );
      dyTile1(
        d0,
        d1,
        d2,
        d3,
        d4,
        d5,
        d6,
        d7,
        d8,
        d9,
        d10,
        d11,
        d12,
        d13,
        d14,
        d15,
        at + 4,
        load<f32>(a10 + cb),
        load<f32>(a11 + cb),
        load<f32>(a12 + cb),
        load<f32>(a13 + cb),
      );
      dyTile1(
        d0,
        d1,
        d2,
        d3,
        d4,
        d5,
        d6,
        d7,
        d8,
        d9,
        d10,
        d11,
        d12,
        d13,
        d14,
        d15,
        at + 8,
        load<f32>(a20 + cb),
        load<f32>(a21 + cb),
        load<f32>(a22 + cb),
        load<f32>(a23 + cb),
      );
      dyTile1(
        d0,
        d1,
        d2,
        d3,
        d4,
        d5,
        d6,
        d7,
        d8,
        d9,
        d10,
        d11,
        d12,
        d13,
        d14,
        d15,
        at + 12,
        load<f32>(a30 + cb),
        load<f32>(a31 + cb),
        load<f32>(a32 + cb),
        load<f32>(a33 + cb),
      );
    }
  }
  for (; i < count; i++) {
    const t = t0 + i;
    const n = t / tilesPerImage;
    const r = t - n * tilesPerImage;
    const ty = r / TW;
    const tx = r - ty * TW;
    const hasR = 2 * tx + 1 < OW, hasD = 2 * ty + 1 < OH;
    const q00 = dy + (<usize> (n * OH + 2 * ty) * <usize> OW +
          <usize> (2 * tx)) * pixBytes;
    const q01 = hasR ? q00 + pixBytes : zero;
    const q10 = hasD ? q00 + rowBytes : zero;
    const q11 = hasR && hasD ? q00 + rowBytes + pixBytes : zero;
    const o = <usize> i << 2;
    for (let c = 0; c < C; c++) {
      const cb = <usize> c << 2;
      dyTile1(
        d0,
        d1,
        d2,
        d3,
        d4,
        d5,
        d6,
        d7,
        d8,
        d9,
        d10,
        d11,
        d12,
        d13,
        d14,
        d15,
        o + <usize> c * ld,
        load<f32>(q00 + cb),
        load<f32>(q01 + cb),
        load<f32>(q10 + cb),
        load<f32>(q11 + cb),
      );
    }
  }
}

/**
 * The weight gradient's products, accumulated: for k < 16,
 * G[k][co][ci] += Σ_i D[k][co][i] · V[k][i][ci] over the chunk's tiles
 * i < count, with V[k] at load<usize>(vTable + 4k) ([count, Cin], as
 * inputTransform writes it), D[k] at load<usize>(dTable + 4k) ([Cout,
 * count], as dyTransform writes it) and G[k] at g + 4k·Cout·Cin.
 * Register blocks of 4 output channels x 8 input channels; lanes run over
 * input channels.
 */
export function gradProducts(
  vTable: usize,
  dTable: usize,
  g: usize,
  Cin: i32,
  Cout: i32,
  count: i32,
): void {
  const ld = <usize> count << 2; // bytes between rows of D[k]
  const vRow = <usize> Cin << 2; // bytes between rows of V[k]
  const planeBytes = <usize> (Cin * Cout) << 2;
  const Cin8 = Cin & ~7;
  const Cout4 = Cout & ~3;
  for (let k = 0; k < 16; k++) {
    const v = load<usize>(vTable + (<usize> k << 2));
    const d = load<usize>(dTable + (<usize> k << 2));
    const gk = g + <usize> k * planeBytes;
    for (let co = 0; co < Cout4; co += 4) {
      const d0 = d + <usize> co * ld;
      const d1 = d0 + ld, d2 = d1 + ld, d3 = d2 + ld;
      const g0 = gk + <usize> co * vRow;
      const g1 = g0 + vRow, g2 = g1 + vRow, g3 = g2 + vRow;
      for (let ci = 0; ci < Cin8; ci += 8) {
        let s00 = f32x4.splat(0), s01 = f32x4.splat(0);
        let s10 = f32x4.splat(0), s11 = f32x4.splat(0);
        let s20 = f32x4.splat(0), s21 = f32x4.splat(0);
        let s30 = f32x4.splat(0), s31 = f32x4.splat(0);
        let vp = v + (<usize> ci << 2);
        for (let i = 0; i < count; i++) {
          const tb = <usize> i << 2;
          const a0 = v128.load(vp), a1 = v128.load(vp, 16);
          const b0 = v128.load32_splat(d0 + tb);
          const b1 = v128.load32_splat(d1 + tb);
          const b2 = v128.load32_splat(d2 + tb);
          const b3 = v128.load32_splat(d3 + tb);
          s00 = f32x4.add(s00, f32x4.mul(a0, b0));
          s01 = f32x4.add(s01, f32x4.mul(a1, b0));
          s10 = f32x4.add(s10, f32x4.mul(a0, b1));
          s11 = f32x4.add(s11, f32x4.mul(a1, b1));
          s20 = f32x4.add(s20, f32x4.mul(a0, b2));
          s21 = f32x4.add(s21, f32x4.mul(a1, b2));
          s30 = f32x4.add(s30, f32x4.mul(a0, b3));
          s31 = f32x4.add(s31, f32x4.mul(a1, b3));
          vp += vRow;
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
        gradDot(v + (<usize> ci << 2), vRow, d0, g0 + (<usize> ci << 2), count);
        gradDot(v + (<usize> ci << 2), vRow, d1, g1 + (<usize> ci << 2), count);
        gradDot(v + (<usize> ci << 2), vRow, d2, g2 + (<usize> ci << 2), count);
        gradDot(v + (<usize> ci << 2), vRow, d3, g3 + (<usize> ci << 2), count);
      }
    }
    for (let co = Cout4; co < Cout; co++) {
      const dc = d + <usize> co * ld;
      const gc = gk + <usize> co * vRow;
      for (let ci = 0; ci < Cin; ci++) {
        gradDot(v + (<usize> ci << 2), vRow, dc, gc + (<usize> ci << 2), count);
      }
    }
  }
}

/** *g += Σ_i load<f32>(v + i·vRow) · load<f32>(d + 4i), i < count. */
function gradDot(v: usize, vRow: usize, d: usize, g: usize, count: i32): void {
  let s: f32 = 0;
  for (let i = 0; i < count; i++) {
    s += load<f32>(v + <usize> i * vRow) * load<f32>(d + (<usize> i << 2));
  }
  store<f32>(g, load<f32>(g) + s);
}

// @ts-nocheck: AssemblyScript (i32, v128, load<T>, ...), compiled by asc, not Deno.
// Winograd F(2x2,3x3) input and output transforms, WASM SIMD128
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

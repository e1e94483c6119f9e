// @ts-nocheck: AssemblyScript (i32, v128, load<T>, ...), compiled by asc, not Deno.
// Dropout's keep-masks, four elements per SIMD lane group: the counter-based
// stream of lib/engine/random.ts (`lowbias32` of key ^ (i+1)·golden ratio),
// compared as integers with the threshold that matches its float test. It
// shares the binary, its builds and the backend's memory with the Winograd
// kernels.

/** The `lowbias32` finaliser of random.ts on four lanes. */

function mix(x: v128): v128 {
  x = v128.xor(x, i32x4.shr_u(x, 16));
  x = i32x4.mul(x, i32x4.splat(0x21f0aaad));
  x = v128.xor(x, i32x4.shr_u(x, 15));
  x = i32x4.mul(x, i32x4.splat(0x735a2d97));
  return v128.xor(x, i32x4.shr_u(x, 15));
}

/** The same on one 32-bit value. */

function mix1(x: u32): u32 {
  x ^= x >>> 16;
  x *= 0x21f0aaad;
  x ^= x >>> 15;
  x *= 0x735a2d97;
  return x ^ (x >>> 15);
}

/**
 * Writes `rows` masks of `perRow` floats at `out`: element i of row r is 0
 * where mix(keys[r] ^ (i+1)·0x9e3779b9) < threshold (unsigned), else
 * `scale`. keys holds one u32 per row.
 */
export function dropoutMask(
  out: usize,
  keys: usize,
  rows: i32,
  perRow: i32,
  threshold: u32,
  scale: f32,
): void {
  const golden = i32x4.splat(0x9e3779b9);
  const four = i32x4.splat(4);
  const t = i32x4.splat(threshold);
  const s = f32x4.splat(scale);
  const per4 = perRow & ~3;
  for (let r = 0; r < rows; r++) {
    const key1 = load<u32>(keys + (<usize> r << 2));
    const key = i32x4.splat(key1);
    let count = i32x4(1, 2, 3, 4);
    let p = out + (<usize> (r * perRow) << 2);
    for (let i = 0; i < per4; i += 4) {
      const x = mix(v128.xor(key, i32x4.mul(count, golden)));
      v128.store(p, v128.andnot(s, i32x4.lt_u(x, t)));
      count = i32x4.add(count, four);
      p += 16;
    }
    for (let i = per4; i < perRow; i++) {
      const x = mix1(key1 ^ (<u32> (i + 1) * 0x9e3779b9));
      store<f32>(p, x < threshold ? 0 : scale);
      p += 4;
    }
  }
}

// @ts-nocheck: AssemblyScript (v128, f32x4, ...), compiled by asc, not Deno.
// Helpers shared by the module's sources (imported, not an entry of its own:
// nothing here is exported from the binary).

/**
 * a·b + c, lane-wise: one fused f32x4.relaxed_madd in the relaxed SIMD
 * build (rounded once where the CPU has FMA), a multiply then an add
 * (rounded twice) otherwise.
 */

export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/**
 * acc[0..3] += s, lane by lane, with acc four float64 sums at `acc` (two
 * f64x2): each float32 lane promoted first.
 */
// @ts-ignore: decorator
export function addToF64(acc: usize, s: v128): void {
  v128.store(acc, f64x2.add(v128.load(acc), f64x2.promote_low_f32x4(s)));
  v128.store(
    acc,
    f64x2.add(
      v128.load(acc, 16),
      f64x2.promote_low_f32x4(i32x4.shuffle(s, s, 2, 3, 0, 1)),
    ),
    16,
  );
}

// @ts-nocheck: AssemblyScript (i32, v128, load<T>, ...), compiled by asc, not Deno.
// Column sums for `Sum` over leading axes (the conv layers' bias gradients).
// It shares the binary, its builds and the backend's memory with the
// Winograd kernels.

import { addToF64 } from "./simd.as.ts";

/**
 * acc[c] += Σ_r x[r][c] for x [rows, cols] row-major, cols a multiple of 4,
 * with float64 accumulators at `acc` (cols doubles, 8-byte aligned): each
 * group of 4 rows is added in float32 (four terms), then promoted and added
 * to the float64 sums, so the error stays that of a float64 sum.
 */
export function columnSums(x: usize, acc: usize, rows: i32, cols: i32): void {
  const row = <usize> cols << 2;
  let r = 0;
  if ((cols & 7) == 0) {
    r = rows & ~3;
    columnSums8(x, acc, r, cols);
  }
  for (; r + 4 <= rows; r += 4) {
    const base = x + <usize> r * row;
    for (let c = 0; c < cols; c += 4) {
      const o = base + (<usize> c << 2);
      const s = f32x4.add(
        f32x4.add(v128.load(o), v128.load(o + row)),
        f32x4.add(v128.load(o + 2 * row), v128.load(o + 3 * row)),
      );
      addToF64(acc + (<usize> c << 3), s);
    }
  }
  for (; r < rows; r++) {
    const base = x + <usize> r * row;
    for (let c = 0; c < cols; c++) {
      const a = acc + (<usize> c << 3);
      store<f64>(a, load<f64>(a) + <f64> load<f32>(base + (<usize> c << 2)));
    }
  }
}

/**
 * The groups of {@link columnSums} (rows a multiple of 4, cols of 8), the
 * same sums in the same order: for blocks of 64 rows (in L1), eight columns
 * at a time with their four float64x2 sums in registers, not loaded and
 * stored at each group.
 */
function columnSums8(x: usize, acc: usize, rows: i32, cols: i32): void {
  const row = <usize> cols << 2;
  for (let r0 = 0; r0 < rows; r0 += 64) {
    const r1 = min(rows, r0 + 64);
    for (let c = 0; c < cols; c += 8) {
      const a = acc + (<usize> c << 3);
      let a0 = v128.load(a), a1 = v128.load(a, 16);
      let a2 = v128.load(a, 32), a3 = v128.load(a, 48);
      let p = x + <usize> r0 * row + (<usize> c << 2);
      for (let r = r0; r < r1; r += 4) {
        const q = p + 2 * row;
        const s0 = f32x4.add(
          f32x4.add(v128.load(p), v128.load(p + row)),
          f32x4.add(v128.load(q), v128.load(q + row)),
        );
        const s1 = f32x4.add(
          f32x4.add(v128.load(p, 16), v128.load(p + row, 16)),
          f32x4.add(v128.load(q, 16), v128.load(q + row, 16)),
        );
        a0 = f64x2.add(a0, f64x2.promote_low_f32x4(s0));
        a1 = f64x2.add(
          a1,
          f64x2.promote_low_f32x4(i32x4.shuffle(s0, s0, 2, 3, 0, 1)),
        );
        a2 = f64x2.add(a2, f64x2.promote_low_f32x4(s1));
        a3 = f64x2.add(
          a3,
          f64x2.promote_low_f32x4(i32x4.shuffle(s1, s1, 2, 3, 0, 1)),
        );
        p += 4 * row;
      }
      v128.store(a, a0);
      v128.store(a, a1, 16);
      v128.store(a, a2, 32);
      v128.store(a, a3, 48);
    }
  }
}

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

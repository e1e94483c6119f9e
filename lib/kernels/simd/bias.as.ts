// @ts-nocheck: AssemblyScript (i32, v128, load<T>, ...), compiled by asc, not Deno.
// The bias and ReLU of a fused convolution, applied in place to the
// Winograd output (one pass instead of two kernels and two new tensors).
// It shares the binary, its builds and the backend's memory with the
// Winograd kernels.

/**
 * y[p][c] = max(0, y[p][c] + bias[c]) for `pixels` rows of C channels (C a
 * multiple of 4); without `relu`, the sum only; bias 0 for none.
 */
export function biasActivation(
  y: usize,
  bias: usize,
  pixels: i32,
  C: i32,
  relu: bool,
): void {
  const row = <usize> C << 2;
  const zero = f32x4.splat(0);
  for (let p = 0; p < pixels; p++) {
    const yp = y + <usize> p * row;
    for (let c: usize = 0; c < row; c += 16) {
      let v = v128.load(yp + c);
      if (bias != 0) v = f32x4.add(v, v128.load(bias + c));
      if (relu) v = f32x4.max(v, zero);
      v128.store(yp + c, v);
    }
  }
}

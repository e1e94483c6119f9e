// @ts-nocheck: AssemblyScript (i32, v128, load<T>, ...), compiled by asc, not Deno.
// ReLU's gradient in one pass (tfjs runs Step, Cast and Multiply: three
// passes and two intermediate tensors). It shares the binary, its builds and
// the backend's memory with the Winograd kernels.

/**
 * out[i] = dy[i] · step(x[i]) for n floats, step as tfjs defines it: 1 where
 * x > 0, NaN where x is NaN, else 0 (so a NaN or infinite dy still gives
 * NaN where x ≤ 0, as dy · 0 does).
 */
export function reluGrad(dy: usize, x: usize, out: usize, n: i32): void {
  const one = f32x4.splat(1);
  const zero = f32x4.splat(0);
  const n4 = n & ~3;
  for (let i = 0; i < n4; i += 4) {
    const p = <usize> i << 2;
    const xv = v128.load(x + p);
    let step = v128.and(one, f32x4.gt(xv, zero));
    // NaN lanes of x pass x (a NaN) as the step.
    step = v128.bitselect(xv, step, f32x4.ne(xv, xv));
    v128.store(out + p, f32x4.mul(v128.load(dy + p), step));
  }
  for (let i = n4; i < n; i++) {
    const p = <usize> i << 2;
    const xs = load<f32>(x + p);
    const step: f32 = xs != xs ? xs : xs > 0 ? 1 : 0;
    store<f32>(out + p, load<f32>(dy + p) * step);
  }
}

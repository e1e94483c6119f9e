// @ts-nocheck: AssemblyScript (i32, v128, load<T>, ...), compiled by asc, not Deno.
// Keras's Adadelta over the flat weights of data-parallel training, on a
// shared memory of its own (built apart from the other kernels, which work
// on the backend's heap: see build.ts). Every thread updates its own slice.

/**
 * For i in [from, to): g = Σ_t rows[t][i]·scales[t] over `threads` gradient
 * rows (their byte addresses an i32 table at `rows`, their weights an f32
 * table at `scales`); a[i] = ρ·a[i] + (1-ρ)·g²; δ = √((u[i]+ε)/(a[i]+ε))·g;
 * u[i] = ρ·u[i] + (1-ρ)·δ²; w[i] -= lr·δ. In float32, four at a time, `from`
 * a multiple of 4; the last `to - from` mod 4 one at a time.
 */
export function adadelta(
  w: usize,
  rows: usize,
  scales: usize,
  threads: i32,
  a: usize,
  u: usize,
  from: i32,
  to: i32,
  lr: f32,
  rho: f32,
  eps: f32,
): void {
  const vrho = f32x4.splat(rho), vkeep = f32x4.splat(1 - rho);
  const veps = f32x4.splat(eps), vlr = f32x4.splat(lr);
  const keep: f32 = 1 - rho;
  const r0 = load<usize>(rows), s0 = f32x4.splat(load<f32>(scales));
  let i = from;
  for (; i + 4 <= to; i += 4) {
    const o = <usize> i << 2;
    let g = f32x4.mul(v128.load(r0 + o), s0);
    for (let t = 1; t < threads; t++) {
      const r = load<usize>(rows + (<usize> t << 2));
      const s = f32x4.splat(load<f32>(scales + (<usize> t << 2)));
      g = f32x4.add(g, f32x4.mul(v128.load(r + o), s));
    }
    const ai = f32x4.add(
      f32x4.mul(vrho, v128.load(a + o)),
      f32x4.mul(vkeep, f32x4.mul(g, g)),
    );
    const ui = v128.load(u + o);
    const delta = f32x4.mul(
      f32x4.sqrt(f32x4.div(f32x4.add(ui, veps), f32x4.add(ai, veps))),
      g,
    );
    v128.store(a + o, ai);
    v128.store(
      u + o,
      f32x4.add(f32x4.mul(vrho, ui), f32x4.mul(vkeep, f32x4.mul(delta, delta))),
    );
    v128.store(w + o, f32x4.sub(v128.load(w + o), f32x4.mul(vlr, delta)));
  }
  for (; i < to; i++) {
    const o = <usize> i << 2;
    let g: f32 = 0;
    for (let t = 0; t < threads; t++) {
      const r = load<usize>(rows + (<usize> t << 2));
      g += load<f32>(r + o) * load<f32>(scales + (<usize> t << 2));
    }
    const ai = rho * load<f32>(a + o) + keep * g * g;
    const ui = load<f32>(u + o);
    const delta = sqrt<f32>((ui + eps) / (ai + eps)) * g;
    store<f32>(a + o, ai);
    store<f32>(u + o, rho * ui + keep * delta * delta);
    store<f32>(w + o, load<f32>(w + o) - lr * delta);
  }
}

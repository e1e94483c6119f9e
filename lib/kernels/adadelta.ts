/**
 * Keras's Adadelta update as a WASM SIMD kernel (`simd/update.as.ts`, built
 * into `simd/update.wasm`) over float32 arrays in one shared
 * `WebAssembly.Memory`: the flat weights, gradients and state of
 * data-parallel training (`../engine/flat_memory.ts`). It computes in
 * float32, as Keras does, four weights at a time; the JavaScript loop it
 * replaces (`adadeltaUpdate`, float64 in between) took about six times as
 * long on 1.2 million weights (5.0 against 0.8 ms).
 *
 * @module
 */

/**
 * The kernel: for i in [from, to), g = Σ_t rows[t][i]·scales[t] over
 * `threads` gradient rows (byte addresses in an i32 table at `rows`, weights
 * in an f32 table at `scales`), then Adadelta on weights `w` with
 * accumulators `a` (of g²) and `u` (of updates²). Addresses are bytes in the
 * memory; `from` is a multiple of 4.
 */
export type AdadeltaKernel = (
  w: number,
  rows: number,
  scales: number,
  threads: number,
  a: number,
  u: number,
  from: number,
  to: number,
  learningRate: number,
  rho: number,
  epsilon: number,
) => void;

let compiled: WebAssembly.Module | undefined;
const instances = new WeakMap<WebAssembly.Memory, AdadeltaKernel>();

/**
 * The kernel on `memory` (a shared memory), instantiated once per memory
 * and thread.
 *
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { adadeltaKernel } from "./adadelta.ts";
 * const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
 * const f = new Float32Array(memory.buffer);
 * // A table of one gradient row at byte 64, its weight 1; w, g, a, u at 64-byte steps.
 * new Int32Array(memory.buffer)[0] = 128;
 * f[1] = 1;
 * f[16] = 1; // w
 * f[32] = 0.5; // g
 * adadeltaKernel(memory)(64, 0, 4, 1, 192, 256, 0, 1, 1, 0.95, 1e-7);
 * const a = 0.05 * 0.25, delta = Math.sqrt(1e-7 / (a + 1e-7)) * 0.5;
 * assertAlmostEquals(f[48], a, 1e-8); // float32
 * assertAlmostEquals(f[16], 1 - delta, 1e-6);
 * ```
 */
export function adadeltaKernel(memory: WebAssembly.Memory): AdadeltaKernel {
  let kernel = instances.get(memory);
  if (kernel === undefined) {
    compiled ??= new WebAssembly.Module(
      Deno.readFileSync(new URL("./simd/update.wasm", import.meta.url)),
    );
    const instance = new WebAssembly.Instance(compiled, { env: { memory } });
    kernel = instance.exports.adadelta as AdadeltaKernel;
    instances.set(memory, kernel);
  }
  return kernel;
}

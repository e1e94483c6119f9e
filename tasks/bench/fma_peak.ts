/**
 * The runtime's own multiply-add peak: how many GFLOP/s one thread of this
 * JavaScript engine reaches with WASM SIMD128 on this CPU, measured with a
 * loop of 12 independent `f32x4.relaxed_madd` chains (or, where the runtime
 * lacks relaxed SIMD, `f32x4.mul` then `f32x4.add`) whose operands come
 * from memory, so that no compiler can treat them as constants. It is the
 * ceiling the project's kernels are measured against (`deno task bench`):
 * a nominal clock says nothing about what V8's code reaches on a given CPU.
 *
 * The module is assembled here, byte by byte (about 200 bytes), rather than
 * compiled: it is one loop, and its exact instructions are the point.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { measurePeak } from "./fma_peak.ts";
 * const peak = measurePeak({ milliseconds: 20 });
 * assert(peak.gflops > 0.5 && peak.chains === 12);
 * ```
 *
 * @module
 */

/** What {@linkcode measurePeak} found. */
export interface Peak {
  /** Best GFLOP/s of one thread (a multiply-add is two FLOPs). */
  gflops: number;
  /** The instruction timed: fused relaxed SIMD, or a multiply and an add. */
  op: "f32x4.relaxed_madd" | "f32x4.mul + f32x4.add";
  /** Independent accumulator chains in the loop. */
  chains: number;
}

const CHAINS = 12;

/**
 * Where the loop's multiply-add operands come from: locals loaded from
 * memory before the loop (the peak), `v128.const`s written in the loop
 * (docs/v8_constant_splat.md), or one operand loaded from memory in the loop
 * at every multiply-add (docs/v8_bounds_checks.md).
 */
export type Operands = "locals" | "constants" | "loads";

/** LEB128 of an unsigned integer. */
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** LEB128 of a signed integer. */
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(byte & 0x40)) || (n === -1 && byte & 0x40)) {
      return [...out, byte];
    }
    out.push(byte | 0x80);
  }
}

/**
 * `peak(p: i32, iters: i32) -> f32`: loads x, y and 12 accumulators from
 * memory at p, runs `iters` rounds of acc_i = x·y + acc_i, returns a lane of
 * their sum (so nothing is dead code).
 */
function peakModule(
  fused: boolean,
  operands: Operands = "locals",
): Uint8Array<ArrayBuffer> {
  const SIMD = 0xfd;
  const get = (i: number) => [0x20, i], set = (i: number) => [0x21, i];
  const load = (offset: number) => [SIMD, 0x00, 4, ...uleb(offset)];
  // Locals: 0 p, 1 iters (params); 2 x, 3 y, 4.. accumulators (v128).
  const body: number[] = [
    ...get(0),
    ...load(0),
    ...set(2),
    ...get(0),
    ...load(16),
    ...set(3),
  ];
  for (let c = 0; c < CHAINS; c++) {
    body.push(...get(0), ...load(32 + 16 * c), ...set(4 + c));
  }
  body.push(0x02, 0x40, 0x03, 0x40); // block, loop
  const f32 = (v: number) => [...new Uint8Array(new Float32Array([v]).buffer)];
  const splat = (
    v: number,
  ) => [SIMD, 0x0c, ...[0, 1, 2, 3].flatMap(() => f32(v))];
  for (let c = 0; c < CHAINS; c++) {
    // x·y + acc with x, y loaded from memory before the loop; or (the V8
    // reproductions) as constants written in the loop, v128.const 0.999999
    // and v128.const 0.000001; or with x loaded from memory at this
    // multiply-add (a bounds-checked load in each).
    body.push(
      ...(operands === "constants"
        ? [...splat(0.999999), ...splat(0.000001)]
        : operands === "loads"
        ? [...get(0), ...load(32 + 16 * c), ...get(3)]
        : [...get(2), ...get(3)]),
    );
    if (fused) {
      body.push(...get(4 + c), SIMD, 0x85, 0x02); // f32x4.relaxed_madd
    } else {
      body.push(SIMD, 0xe6, 0x01, ...get(4 + c), SIMD, 0xe4, 0x01); // mul, add
    }
    body.push(...set(4 + c));
  }
  if (operands === "loads") {
    // p = (p + 16) & 0x3ff0: the loads walk 1 KB, as a kernel's pointers walk
    body.push(
      ...get(0),
      0x41,
      16,
      0x6a,
      0x41,
      ...sleb(0x3ff0),
      0x71,
      ...set(0),
    );
  }
  body.push(
    ...get(1),
    0x41,
    1,
    0x6b,
    0x22,
    1, // iters = iters - 1 (local.tee)
    0x0d,
    0, // br_if loop
    0x0b,
    0x0b, // end loop, end block
  );
  body.push(...get(4));
  for (let c = 1; c < CHAINS; c++) body.push(...get(4 + c), SIMD, 0xe4, 0x01);
  body.push(SIMD, 0x1f, 0, 0x0b); // f32x4.extract_lane 0, end
  const locals = [1, ...uleb(2 + CHAINS), 0x7b]; // (2 + CHAINS) v128
  const code = [...uleb(locals.length + body.length), ...locals, ...body];
  const section = (id: number, bytes: number[]) => [
    id,
    ...uleb(bytes.length),
    ...bytes,
  ];
  const name = (s: string) => [s.length, ...new TextEncoder().encode(s)];
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, [1, 0x60, 2, 0x7f, 0x7f, 1, 0x7d]), // (i32, i32) -> f32
    ...section(2, [1, ...name("env"), ...name("memory"), 0x02, 0x00, 1]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name("peak"), 0x00, 0]),
    ...section(10, [1, ...code]),
  ]);
}

/**
 * Measures the per-thread multiply-add peak of this runtime here: rounds of
 * a few milliseconds each for about `milliseconds` in all (default 60),
 * keeping the best. Fused where the runtime validates relaxed SIMD. Other
 * `operands` than the default `"locals"` time the V8 reproductions of
 * docs/v8_constant_splat.md and docs/v8_bounds_checks.md.
 */
export function measurePeak(
  { milliseconds = 60, operands = "locals" as Operands } = {},
): Peak {
  const fusedBytes = peakModule(true, operands);
  const fused = WebAssembly.validate(fusedBytes);
  const memory = new WebAssembly.Memory({ initial: 1 });
  new Float32Array(memory.buffer).fill(0.5, 0, 8).fill(0, 8, 64)
    .fill(0.5, 64, 8192);
  const instance = new WebAssembly.Instance(
    new WebAssembly.Module(fused ? fusedBytes : peakModule(false, operands)),
    { env: { memory } },
  );
  const peak = instance.exports.peak as (p: number, iters: number) => number;
  peak(0, 10_000); // compile and warm up
  let iters = 10_000, best = 0;
  const end = performance.now() + milliseconds;
  while (performance.now() < end) {
    const t = performance.now();
    peak(0, iters);
    const ms = performance.now() - t;
    if (ms < 1) {
      iters *= 4; // rounds of at least a millisecond
      continue;
    }
    best = Math.max(best, (iters * CHAINS * 8) / ms / 1e6);
  }
  return {
    gflops: best,
    op: fused ? "f32x4.relaxed_madd" : "f32x4.mul + f32x4.add",
    chains: CHAINS,
  };
}

if (import.meta.main) {
  // `deno run tasks/bench/fma_peak.ts [--constants | --loads]`
  const operands: Operands = Deno.args.includes("--constants")
    ? "constants"
    : Deno.args.includes("--loads")
    ? "loads"
    : "locals";
  const p = measurePeak({ milliseconds: 500, operands });
  const from = {
    locals: "from memory before the loop",
    constants: "constants in the loop",
    loads: "one loaded in the loop at each multiply-add",
  }[operands];
  console.log(
    `${p.gflops.toFixed(1)} GFLOP/s per thread (${p.op}, ${p.chains} chains, ` +
      `operands ${from}; Deno ${Deno.version.deno}, V8 ${Deno.version.v8})`,
  );
}

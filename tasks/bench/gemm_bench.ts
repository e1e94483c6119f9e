/**
 * Times the SIMD module's matrix product (`lib/kernels/simd/gemm.as.ts`) on
 * the MNIST CNN's product shapes, for every variant the kernels choose among
 * (`lib/kernels/tuning.ts`), against a plain JavaScript reference of a few
 * entries; prints ms and GFLOP/s beside the runtime's multiply-add peak
 * (`fma_peak.ts`). The module runs on a memory of its own, as the backend's
 * heap would hold the operands.
 *
 * Run: `deno run --allow-read tasks/bench/gemm_bench.ts [--reps 7] [--binary PATH]`
 * (`--binary`: another build of the module, e.g. an older commit's, to
 * compare).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { timeGemm } from "./gemm_bench.ts";
 * const row = await timeGemm({ m: 12, k: 64, n: 16, reps: 1 });
 * assert(row.every((r) => r.maxError < 1e-4 && r.ms > 0));
 * ```
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { GEMM_VARIANTS, type GemmVariant } from "../../lib/kernels/tuning.ts";
import { measurePeak } from "./fma_peak.ts";

/** One product shape: C [m, n] = op(A) · op(B) with inner size k. */
export interface GemmShape {
  m: number;
  k: number;
  n: number;
  transA?: boolean;
  transB?: boolean;
  /** Timed runs per variant (the best is kept). */
  reps?: number;
  /** The module to time (default the committed relaxed-SIMD build). */
  binary?: string;
}

/** A variant's best time on a shape. */
export interface GemmTiming {
  variant: GemmVariant;
  ms: number;
  gflops: number;
  /** Largest |error| of 64 sampled entries against a float64 reference. */
  maxError: number;
}

const DEFAULT_BINARY = fileURLToPath(
  new URL("../../lib/kernels/simd/simd_fma.wasm", import.meta.url),
);

/** Times every variant of `gemm` on one shape; runs interleaved. */
export async function timeGemm(shape: GemmShape): Promise<GemmTiming[]> {
  const { m, k, n, transA = false, transB = false, reps = 7 } = shape;
  const memory = new WebAssembly.Memory({ initial: 2048 }); // 128 MiB
  const { instance } = await WebAssembly.instantiate(
    await Deno.readFile(shape.binary ?? DEFAULT_BINARY),
    { env: { memory, abort: () => {} } },
  );
  const gemm = instance.exports.gemm as (...args: number[]) => void;
  const f = new Float32Array(memory.buffer);
  const A = 1 << 20, B = A + 4 * m * k + 64, C = B + 4 * k * n + 64;
  const S = C + 4 * m * n + 64;
  let seed = 12345;
  for (let i = A / 4; i < S / 4; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    f[i] = seed / 2 ** 32 - 0.5;
  }
  const run = (v: GemmVariant) =>
    gemm(A, B, C, m, k, n, +transA, +transB, S, v.kc, v.rows);
  const best = GEMM_VARIANTS.map(() => Infinity);
  const errors = GEMM_VARIANTS.map(() => 0);
  GEMM_VARIANTS.forEach((v, i) => {
    run(v);
    for (let t = 0; t < 64; t++) {
      const r = (t * 7919) % m, c = (t * 104729) % n;
      let sum = 0;
      for (let j = 0; j < k; j++) {
        sum += f[A / 4 + (transA ? j * m + r : r * k + j)] *
          f[B / 4 + (transB ? c * k + j : j * n + c)];
      }
      errors[i] = Math.max(errors[i], Math.abs(sum - f[C / 4 + r * n + c]));
    }
  });
  for (let rep = 0; rep < reps; rep++) {
    GEMM_VARIANTS.forEach((v, i) => {
      const t = performance.now();
      run(v);
      best[i] = Math.min(best[i], performance.now() - t);
    });
  }
  return GEMM_VARIANTS.map((variant, i) => ({
    variant,
    ms: best[i],
    gflops: (2 * m * k * n) / best[i] / 1e6,
    maxError: errors[i],
  }));
}

if (import.meta.main) {
  const arg = (name: string) => {
    const i = Deno.args.indexOf(`--${name}`);
    return i >= 0 ? Deno.args[i + 1] : undefined;
  };
  const reps = Number(arg("reps") ?? 7);
  const binary = arg("binary");
  const peak = measurePeak();
  console.log(
    `runtime peak ${peak.gflops.toFixed(1)} GFLOP/s per thread; best ms ` +
      `(GFLOP/s, % of peak) of ${reps} interleaved runs, one thread`,
  );
  const shapes: [string, GemmShape][] = [
    ["dense forward x·W", { m: 128, k: 9216, n: 128 }],
    ["dense dW = xᵀ·dy", { m: 9216, k: 128, n: 128, transA: true }],
    ["dense dx = dy·Wᵀ", { m: 128, k: 128, n: 9216, transB: true }],
    ["conv2 Winograd plane", { m: 4608, k: 32, n: 64 }],
    ["conv2 input-grad plane", { m: 6272, k: 64, n: 32 }],
  ];
  console.log(
    `| product | ${
      GEMM_VARIANTS.map((v) => `${v.rows}×8, kc ${v.kc}`).join(" | ")
    } |`,
  );
  console.log(`|---|${GEMM_VARIANTS.map(() => "---").join("|")}|`);
  for (const [name, shape] of shapes) {
    const rows = await timeGemm({ ...shape, reps, binary });
    console.log(
      `| ${name} [${shape.m},${shape.k}]·[${shape.k},${shape.n}] | ${
        rows.map((r) =>
          `${r.ms.toFixed(2)} (${r.gflops.toFixed(1)}, ${
            (100 * r.gflops / peak.gflops).toFixed(0)
          }%)`
        ).join(" | ")
      } |`,
    );
  }
}

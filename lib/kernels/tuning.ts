/**
 * Kernel variants chosen on the machine: the matrix product of the SIMD
 * module (`simd/gemm.as.ts`) has register blocks of 5 (then 4) or 4 rows and
 * packs its right operand `kc` rows at a time; which is fastest depends on the
 * CPU (its registers, FMA latency, cache sizes), so the first product times
 * each variant on a small product in the backend's own heap (about 60 ms,
 * as FFTW's wisdom or cuDNN's benchmark mode do) and keeps the fastest. The
 * choice is cached per CPU model, Deno version and build in
 * `data/kernel_tuning.json` (where the process may write there), so later
 * processes and worker threads read it instead of timing again.
 *
 * Every variant adds each output's products in the same order (k
 * ascending, one fused multiply-add chain per element), so results are
 * bit-identical whichever is chosen; the choice only changes speed.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { GEMM_VARIANTS, tuningKey } from "./tuning.ts";
 * assert(GEMM_VARIANTS.some((v) => v.rows === 5));
 * assert(tuningKey("fma").includes("deno"));
 * ```
 *
 * @module
 */
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { fileURLToPath } from "node:url";
import {
  type Flavour,
  relaxedSimdSupported,
  simdKernels,
} from "./simd/simd.ts";
import { disposeAll, heapF32, heapIndex } from "./wasm_util.ts";

/** One variant of the SIMD matrix product. */
export interface GemmVariant {
  /**
   * Rows of C in the register blocks: 5 (10 accumulators; blocks of 4 where
   * M needs them) or 4 (8).
   */
  rows: 4 | 5;
  /** Rows of the right operand packed per block (its panels stay in L2). */
  kc: number;
}

/** The variants timed at first use. */
export const GEMM_VARIANTS: readonly GemmVariant[] = [
  { rows: 5, kc: 256 },
  { rows: 5, kc: 512 },
  { rows: 4, kc: 256 },
  { rows: 4, kc: 512 },
];

/** What was chosen, how, and what each variant measured. */
export interface GemmTuning {
  /** The variant the kernels use. */
  chosen: GemmVariant;
  /** "measured" here, "cached" from the file, or "set" by the caller. */
  source: "measured" | "cached" | "set";
  /** Best milliseconds of each variant on the timing product (measured only). */
  ms?: number[];
  /** The cache key: CPU model, Deno version, build. */
  key: string;
}

/** Where the choices are cached (under the repository's `data/`). */
export const TUNING_FILE = fileURLToPath(
  new URL("../../data/kernel_tuning.json", import.meta.url),
);

let tuned: Partial<Record<Flavour, GemmTuning>> = {};

function cpuModel(): string {
  try {
    const text = Deno.readTextFileSync("/proc/cpuinfo");
    const field = (name: string) =>
      new RegExp(`^${name}\\s*:\\s*(.*)$`, "m").exec(text)?.[1]?.trim();
    return `${field("model name") ?? "unknown"} (family ${
      field("cpu family") ?? "?"
    }, model ${field("model") ?? "?"})`;
  } catch {
    return `${Deno.build.arch} ${Deno.build.os}`;
  }
}

/**
 * The cache key of a build's choice on this machine: CPU model (with family
 * and model numbers), Deno version and build.
 */
export function tuningKey(flavour: Flavour): string {
  return `${cpuModel()} | deno ${Deno.version.deno} | ${flavour}`;
}

function readCache(): Record<string, GemmVariant> {
  try {
    const parsed = JSON.parse(Deno.readTextFileSync(TUNING_FILE));
    return parsed !== null && typeof parsed === "object" ? parsed : {};
  } catch {
    return {};
  }
}

function isVariant(v: unknown): boolean {
  return GEMM_VARIANTS.some((g) =>
    g.rows === (v as GemmVariant)?.rows && g.kc === (v as GemmVariant)?.kc
  );
}

function writeCache(key: string, chosen: GemmVariant): void {
  try {
    const all = { ...readCache(), [key]: chosen };
    const tmp = `${TUNING_FILE}.${Deno.pid}.tmp`;
    Deno.mkdirSync(new URL("../../data/", import.meta.url), {
      recursive: true,
    });
    Deno.writeTextFileSync(tmp, JSON.stringify(all, null, 2) + "\n");
    Deno.renameSync(tmp, TUNING_FILE);
  } catch {
    // No write permission (a notebook, a read-only checkout): keep it in memory.
  }
}

/**
 * Times each variant on a [120, 1536] · [1536, 128] product in the heap:
 * 120 rows are whole blocks of 5 and of 4, so each variant times its own
 * register block (at 96 rows, a quarter of the 5-row variant's rows were
 * 4-row blocks, and noise chose between the two).
 */
function measure(backend: BackendWasm, fma: boolean): number[] {
  const M = 120, K = 1536, N = 128;
  const kernels = simdKernels(backend, fma);
  const a = backend.makeOutput([M, K], "float32");
  const b = backend.makeOutput([K, N], "float32");
  const c = backend.makeOutput([M, N], "float32");
  const scratch = backend.makeOutput([512 * (N + 8)], "float32");
  try {
    const heap = heapF32(backend);
    const ia = heapIndex(backend, a), ib = heapIndex(backend, b);
    for (let i = 0; i < M * K; i++) heap[ia + i] = ((i * 7919) % 97) / 97;
    for (let i = 0; i < K * N; i++) heap[ib + i] = ((i * 104729) % 89) / 89;
    const run = (v: GemmVariant) =>
      kernels.gemm(
        ia * 4,
        ib * 4,
        heapIndex(backend, c) * 4,
        M,
        K,
        N,
        0,
        0,
        heapIndex(backend, scratch) * 4,
        v.kc,
        v.rows,
      );
    const best = GEMM_VARIANTS.map(() => Infinity);
    // Interleaved rounds, so that a burst of load hits every variant alike.
    for (let round = 0; round < 7; round++) {
      GEMM_VARIANTS.forEach((v, i) => {
        const t = performance.now();
        run(v);
        best[i] = Math.min(best[i], performance.now() - t);
      });
    }
    return best;
  } finally {
    disposeAll(backend, a, b, c, scratch);
  }
}

/**
 * The SIMD product's variant for this machine and build (`fma`: the
 * relaxed-SIMD build, default where the runtime has it): set by
 * {@linkcode setGemmVariant}, else cached in {@link TUNING_FILE}, else
 * measured now (about 60 ms) and cached.
 */
export function gemmTuning(backend: BackendWasm, fma?: boolean): GemmTuning {
  const useFma = fma ?? relaxedSimdSupported();
  const flavour: Flavour = useFma ? "fma" : "simd";
  const known = tuned[flavour];
  if (known !== undefined) return known;
  const key = tuningKey(flavour);
  const cached = readCache()[key];
  if (cached !== undefined && isVariant(cached)) {
    return tuned[flavour] = {
      chosen: { rows: cached.rows, kc: cached.kc },
      source: "cached",
      key,
    };
  }
  measure(backend, useFma); // a first, untimed pass: compilation, heap growth
  const ms = measure(backend, useFma);
  const chosen = GEMM_VARIANTS[ms.indexOf(Math.min(...ms))];
  writeCache(key, chosen);
  return tuned[flavour] = { chosen, source: "measured", ms, key };
}

/**
 * Fixes the variant of a build for this process (tests, benchmarks), or with
 * `undefined` forgets every choice so the next product decides again.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { setGemmVariant } from "./tuning.ts";
 * setGemmVariant("fma", { rows: 4, kc: 256 });
 * setGemmVariant(undefined); // back to cached or measured
 * assertEquals(1, 1);
 * ```
 */
export function setGemmVariant(
  flavour: Flavour | undefined,
  variant?: GemmVariant,
): void {
  if (flavour === undefined || variant === undefined) {
    tuned = {};
    return;
  }
  if (!isVariant(variant)) {
    throw new RangeError(
      `setGemmVariant: no variant rows ${variant.rows}, kc ${variant.kc}`,
    );
  }
  tuned[flavour] = { chosen: variant, source: "set", key: tuningKey(flavour) };
}

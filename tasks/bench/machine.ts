/**
 * The machine a benchmark ran on: CPU model and family, cores, the vector
 * extensions that decide how fast native code (PyTorch's BLAS) runs against
 * WASM's 128-bit SIMD, and whether the relaxed-SIMD (fused multiply-add)
 * build of this project's kernels ran.
 *
 * @module
 */
import { relaxedSimdSupported } from "../../lib/kernels/simd/simd.ts";

/** What {@linkcode machineInfo} reports. */
export interface MachineInfo {
  /** `model name` of `/proc/cpuinfo` ("unknown" elsewhere). */
  cpu: string;
  /** `cpu family` and `model` numbers, as `/proc/cpuinfo` gives them. */
  family: number | undefined;
  model: number | undefined;
  /** Logical cores this process may use. */
  cores: number;
  /** Vector extensions of the CPU (of avx, avx2, fma, avx512f). */
  vector: { avx: boolean; avx2: boolean; fma: boolean; avx512: boolean };
  /** Whether the kernels run their relaxed-SIMD build (`f32x4.relaxed_madd`). */
  relaxedSimd: boolean;
  /** Deno and V8 versions. */
  deno: string;
  v8: string;
}

/**
 * Parses the first processor of a `/proc/cpuinfo` text.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseCpuinfo } from "./machine.ts";
 * const info = parseCpuinfo(
 *   "model name\t: AMD EPYC\ncpu family\t: 26\nmodel\t\t: 2\nflags\t\t: fpu avx avx2 fma avx512f\n",
 * );
 * assertEquals(info.family, 26);
 * assertEquals(info.vector, { avx: true, avx2: true, fma: true, avx512: true });
 * ```
 */
export function parseCpuinfo(
  text: string,
): Pick<MachineInfo, "cpu" | "family" | "model" | "vector"> {
  const field = (key: string) =>
    new RegExp(`^${key}\\s*:\\s*(.*)$`, "m").exec(text)?.[1].trim();
  const flags = new Set((field("flags") ?? "").split(/\s+/));
  const number = (key: string) => {
    const v = field(key);
    return v === undefined || v === "" ? undefined : Number(v);
  };
  return {
    cpu: field("model name") ?? "unknown",
    family: number("cpu family"),
    model: number("model"),
    vector: {
      avx: flags.has("avx"),
      avx2: flags.has("avx2"),
      fma: flags.has("fma"),
      avx512: flags.has("avx512f"),
    },
  };
}

/**
 * This machine, as {@linkcode MachineInfo}. `/proc/cpuinfo` is read with
 * `cat` where this program may not read it itself (Deno 2.9 grants `/proc`
 * only under `--allow-all`; starting `cat` needs `--allow-run`); without
 * either the CPU is "unknown".
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { machineInfo } from "./machine.ts";
 * assert((await machineInfo()).cores >= 1);
 * ```
 */
export async function machineInfo(): Promise<MachineInfo> {
  let text = "";
  try {
    text = Deno.readTextFileSync("/proc/cpuinfo");
  } catch {
    try {
      const out = await new Deno.Command("cat", { args: ["/proc/cpuinfo"] })
        .output();
      if (out.success) text = new TextDecoder().decode(out.stdout);
    } catch {
      // Not Linux, or no permission: the model and extensions stay unknown.
    }
  }
  return {
    ...parseCpuinfo(text),
    cores: Math.max(1, navigator.hardwareConcurrency || 1),
    relaxedSimd: relaxedSimdSupported(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
  };
}

/**
 * One line for a report: `AMD EPYC (family 26, model 2), 2 cores, AVX2 FMA
 * AVX-512; kernels: relaxed SIMD (FMA)`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { describeMachine } from "./machine.ts";
 * assertEquals(
 *   describeMachine({
 *     cpu: "AMD EPYC", family: 26, model: 2, cores: 2,
 *     vector: { avx: true, avx2: true, fma: true, avx512: false },
 *     relaxedSimd: true, deno: "2.9.6", v8: "14",
 *   }),
 *   "AMD EPYC (family 26, model 2), 2 cores, AVX AVX2 FMA, no AVX-512; kernels: relaxed SIMD (FMA) build; Deno 2.9.6",
 * );
 * ```
 */
export function describeMachine(m: MachineInfo): string {
  const v = m.vector;
  const ext = [v.avx && "AVX", v.avx2 && "AVX2", v.fma && "FMA"].filter(
    Boolean,
  ).join(" ") || "no AVX";
  return `${m.cpu} (family ${m.family ?? "?"}, model ${
    m.model ?? "?"
  }), ${m.cores} cores, ${ext}, ${
    v.avx512 ? "AVX-512" : "no AVX-512"
  }; kernels: ${
    m.relaxedSimd ? "relaxed SIMD (FMA)" : "SIMD128 (no relaxed SIMD)"
  } build; Deno ${m.deno}`;
}

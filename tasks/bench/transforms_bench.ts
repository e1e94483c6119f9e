/**
 * Times the Winograd F(m×m,3×3) tile transforms (m = 6 by default, as conv2
 * trains; `--tile 4`) of the SIMD module
 * (`lib/kernels/simd/winograd.as.ts`) on the MNIST CNN's conv2 shapes (batch
 * 128, one thread), optionally against another build of the module in the
 * same process, runs interleaved, so that load from other processes hits both
 * alike. It is how the hoisted constants of the output transforms were
 * chosen (docs/kernels.md).
 *
 * Run: `deno run --allow-read tasks/bench/transforms_bench.ts [--against
 * OLD.wasm] [--reps 15]` (an older build: `git show REV:lib/kernels/simd/simd_fma.wasm > /tmp/old.wasm`).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { timeTransforms } from "./transforms_bench.ts";
 * const rows = await timeTransforms({ reps: 1, images: 2 });
 * assert(rows.length === 3 && rows.every((r) => r.ms[0] > 0));
 * ```
 *
 * @module
 */
import { fileURLToPath } from "node:url";

const COMMITTED = fileURLToPath(
  new URL("../../lib/kernels/simd/simd_fma.wasm", import.meta.url),
);

/** One transform's best ms per binary. */
export interface TransformTiming {
  transform: string;
  ms: number[];
}

type Exports = Record<string, (...args: number[]) => void>;

/**
 * Best ms of `reps` interleaved runs of the input, output and dy transforms
 * of each binary (`binaries`, default the committed relaxed-SIMD build) over
 * `images` images (default 128).
 */
export async function timeTransforms(
  { binaries = [COMMITTED], reps = 15, images = 128, tile = 6 }: {
    binaries?: string[];
    reps?: number;
    images?: number;
    /** Output tile side m of F(m×m,3×3). */
    tile?: 4 | 6;
  } = {},
): Promise<TransformTiming[]> {
  const memory = new WebAssembly.Memory({ initial: 2048 });
  const modules: Exports[] = [];
  for (const path of binaries) {
    const { instance } = await WebAssembly.instantiate(
      await Deno.readFile(path),
      { env: { memory, abort: () => {} } },
    );
    modules.push(instance.exports as Exports);
  }
  const f = new Float32Array(memory.buffer);
  const i32 = new Int32Array(memory.buffer);
  const TABLE = 1 << 20, ZERO = TABLE + 4096, X = 16 << 20, PLANES = 64 << 20;
  for (let i = X / 4; i < PLANES / 4; i++) f[i] = (i % 97) / 97;
  const chunk = 96, planes = (tile + 2) ** 2, side = Math.ceil(24 / tile);
  for (let k = 0; k < 2 * planes; k++) {
    i32[TABLE / 4 + k] = PLANES + k * chunk * 256;
  }
  const tiles = images * side * side; // tiles of m×m outputs per image
  const [input, output, dyT] = ["input", "output", "dy"].map((name) =>
    `${name}Transform${tile}`
  );
  const passes: [string, (m: Exports) => void][] = [
    ["input [N,26,26,32]", (m) => {
      for (let t0 = 0; t0 < tiles; t0 += chunk) {
        m[input](
          X,
          TABLE,
          ZERO,
          26,
          26,
          32,
          0,
          0,
          side,
          side,
          t0,
          Math.min(chunk, tiles - t0),
        );
      }
    }],
    ["output [N,24,24,64]", (m) => {
      for (let t0 = 0; t0 < tiles; t0 += chunk) {
        m[output](
          TABLE + 4 * planes,
          X,
          24,
          24,
          64,
          side,
          side,
          t0,
          Math.min(chunk, tiles - t0),
          ZERO, // no bias (zeros)
          0, // no ReLU
        );
      }
    }],
    ["dy [N,24,24,64]", (m) => {
      for (let t0 = 0; t0 < tiles; t0 += 64) {
        m[dyT](
          X,
          TABLE + 4 * planes,
          ZERO,
          24,
          24,
          64,
          side,
          side,
          t0,
          Math.min(64, tiles - t0),
        );
      }
    }],
  ];
  return passes.map(([transform, pass]) => {
    const ms = modules.map(() => Infinity);
    for (let r = 0; r < reps; r++) {
      modules.forEach((m, i) => {
        const t = performance.now();
        pass(m);
        ms[i] = Math.min(ms[i], performance.now() - t);
      });
    }
    return { transform, ms };
  });
}

if (import.meta.main) {
  const arg = (name: string) => {
    const i = Deno.args.indexOf(`--${name}`);
    return i >= 0 ? Deno.args[i + 1] : undefined;
  };
  const against = arg("against");
  const binaries = against ? [COMMITTED, against] : [COMMITTED];
  const rows = await timeTransforms({
    binaries,
    reps: Number(arg("reps") ?? 15),
    tile: arg("tile") === "4" ? 4 : 6,
  });
  console.log(`best ms, one thread, batch 128: ${binaries.join(" | ")}`);
  for (const r of rows) {
    console.log(
      `${r.transform}: ${r.ms.map((ms) => ms.toFixed(2)).join(" | ")}`,
    );
  }
}

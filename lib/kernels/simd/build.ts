/**
 * Rebuilds the SIMD module's two binaries from its AssemblyScript sources
 * ({@link SOURCES}: Winograd's generated transforms `winograd.as.ts`, see
 * `generate.ts`, its products `products.as.ts`, and the other kernels'
 * hand-written loops) with the AssemblyScript compiler (npm `assemblyscript`, pinned to
 * {@link ASC_VERSION}): `simd.wasm` with WASM SIMD128 only, and
 * `simd_fma.wasm` with relaxed SIMD too (`f32x4.relaxed_madd`, a fused
 * multiply-add where the CPU has one), loaded only where the runtime
 * validates relaxed SIMD.
 *
 * Run: `deno run -A lib/kernels/simd/build.ts` (writes all three, with
 * the flat update's `update.wasm`), or with
 * `--out DIR` to write them elsewhere (the equality test does that). The
 * compiler runs with `--no-config --no-lock`, so the project's deno.json and
 * deno.lock are left alone; it comes from Deno's global npm cache.
 *
 * @example
 * ```ts ignore
 * // ignored: runs the AssemblyScript compiler from Deno's npm cache (about a minute)
 * import { assertEquals } from "@std/assert";
 * import { BINARIES, build } from "./build.ts";
 * await build("fma", "/tmp/simd_fma.wasm");
 * assertEquals(await Deno.readFile("/tmp/simd_fma.wasm"), await Deno.readFile(BINARIES.fma));
 * ```
 *
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";
import { BINARY_FILES, type Flavour } from "./simd.ts";

export type { Flavour };

/** The exact `assemblyscript` npm version the committed binaries were built with. */
export const ASC_VERSION = "0.28.20";

/** Compiler flags: the backend's memory imported, no runtime, -O3. */
export const ASC_FLAGS = [
  "-O3",
  "--noAssert",
  "--runtime",
  "stub",
  "--importMemory",
  "--noExportMemory",
  "--initialMemory",
  "1",
] as const;

/** The `--enable` features of each build. */
export const FEATURES: Readonly<Record<Flavour, string>> = {
  simd: "simd",
  fma: "simd,relaxed-simd",
};

/**
 * The AssemblyScript sources, compiled as entries of one module (the exports
 * of each are the module's): the generated transforms, the products, the
 * direct filter gradient for few input channels, the 2x2 max-pool gradient,
 * the packed matrix products, a fused convolution's bias and ReLU in place,
 * dropout's keep-masks, ReLU's gradient in one pass, column sums, and
 * Winograd's filter transforms.
 */
export const SOURCES = [
  fromFileUrl(new URL("./winograd.as.ts", import.meta.url)),
  fromFileUrl(new URL("./products.as.ts", import.meta.url)),
  fromFileUrl(new URL("./direct.as.ts", import.meta.url)),
  fromFileUrl(new URL("./pool.as.ts", import.meta.url)),
  fromFileUrl(new URL("./gemm.as.ts", import.meta.url)),
  fromFileUrl(new URL("./bias.as.ts", import.meta.url)),
  fromFileUrl(new URL("./dropout.as.ts", import.meta.url)),
  fromFileUrl(new URL("./relu.as.ts", import.meta.url)),
  fromFileUrl(new URL("./sum.as.ts", import.meta.url)),
  fromFileUrl(new URL("./filter.as.ts", import.meta.url)),
] as const;

/**
 * The flat optimizer update (`update.as.ts`), built apart: it imports a
 * shared memory of its own (the flat weights, gradients and optimizer state
 * of data-parallel training) rather than the backend's heap.
 */
export const UPDATE_SOURCES = [
  fromFileUrl(new URL("./update.as.ts", import.meta.url)),
] as const;

/** Its compiler flags: a shared memory imported (at most 4 GiB), -O3. */
export const UPDATE_FLAGS = [
  "-O3",
  "--noAssert",
  "--runtime",
  "stub",
  "--importMemory",
  "--sharedMemory",
  "--initialMemory",
  "1",
  "--maximumMemory",
  "65536",
  "--enable",
  "simd,threads",
] as const;

/** Path of its committed binary. */
export const UPDATE_BINARY = fromFileUrl(
  new URL("./update.wasm", import.meta.url),
);

/** Paths of the committed binaries. */
export const BINARIES: Readonly<Record<Flavour, string>> = {
  simd: fromFileUrl(new URL(`./${BINARY_FILES.simd}`, import.meta.url)),
  fma: fromFileUrl(new URL(`./${BINARY_FILES.fma}`, import.meta.url)),
};

/**
 * Compiles {@link SOURCES} as `flavour` into `out` (default the committed
 * binary), or with `"update"` {@link UPDATE_SOURCES} into {@link
 * UPDATE_BINARY}.
 *
 * @throws {Error} when the compiler cannot be run or fails.
 */
export async function build(
  flavour: Flavour | "update",
  out: string = flavour === "update" ? UPDATE_BINARY : BINARIES[flavour],
): Promise<void> {
  const args = flavour === "update"
    ? [...UPDATE_SOURCES, ...UPDATE_FLAGS]
    : [...SOURCES, ...ASC_FLAGS, "--enable", FEATURES[flavour]];
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-config",
      "--no-lock",
      "-A",
      `npm:assemblyscript@${ASC_VERSION}/asc`,
      ...args,
      "-o",
      out,
    ],
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(
      `asc failed (exit ${code}): ${new TextDecoder().decode(stderr)}`,
    );
  }
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--out");
  for (const flavour of ["simd", "fma", "update"] as const) {
    const path = flavour === "update" ? UPDATE_BINARY : BINARIES[flavour];
    const out = i >= 0 ? `${Deno.args[i + 1]}/${path.split("/").pop()}` : path;
    await build(flavour, out);
    console.log(`wrote ${out}`);
  }
}

/**
 * Checks the SIMD module (`lib/kernels/simd/`): its loader finds the
 * backend's memory and picks the fused build where the runtime has relaxed
 * SIMD; each committed binary imports only the backend's memory and exports
 * the kernels `SimdKernels` names (no data, start or memory of its own); the
 * committed generated source and binaries are what `generate.ts` and
 * `build.ts` make now (byte for byte).
 *
 * Run: `deno test --allow-read --allow-env tests/kernels/simd/simd_test.ts`
 * (add `--allow-run --allow-write` for the regeneration and rebuild checks).
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { assert, assertEquals } from "@std/assert";
import { initBackend } from "../../../lib/backend.ts";
import {
  BINARY_FILES,
  relaxedSimdSupported,
  simdAvailable,
  simdKernels,
} from "../../../lib/kernels/simd/simd.ts";
import { heapIndex } from "../../../lib/kernels/wasm_util.ts";

await initBackend();

Deno.test("simd: the loader instantiates both builds on the backend's memory", () => {
  const backend = tf.backend() as BackendWasm;
  assert(simdAvailable(backend));
  // Deno 2.x ships V8 with relaxed SIMD on, so the probe module must
  // validate here (a malformed probe would quietly disable the fma build).
  assert(relaxedSimdSupported(), "WebAssembly.validate of the probe");
  // Cached per memory and build; the default is the fused build.
  assert(simdKernels(backend) === simdKernels(backend, true));
  assert(simdKernels(backend, false) !== simdKernels(backend, true));
  // One kernel through the loader: ReLU's gradient on 8 floats.
  tf.tidy(() => {
    const dy = tf.tensor1d([1, 2, 3, 4, 5, 6, 7, 8]);
    const x = tf.tensor1d([-1, 1, -2, 2, 0, 3, -3, 4]);
    const out = backend.makeOutput([8], "float32");
    const at = (t: tf.TensorInfo) => heapIndex(backend, t) * 4;
    for (const fma of [false, true]) {
      simdKernels(backend, fma).reluGrad(at(dy), at(x), at(out), 8);
      assertEquals(
        Array.from(backend.typedArrayFromHeap(out)),
        [0, 2, 0, 4, 0, 6, 0, 8],
      );
    }
    backend.disposeData(out.dataId);
  });
});

for (const file of Object.values(BINARY_FILES)) {
  Deno.test(`simd: ${file} has no data, start or own memory`, async () => {
    const bytes = await Deno.readFile(
      new URL(`../../../lib/kernels/simd/${file}`, import.meta.url),
    );
    // f32x4.relaxed_madd (0xfd 0x85 0x02) only in the fma build.
    const madd = bytes.some((b, i) =>
      b === 0xfd && bytes[i + 1] === 0x85 && bytes[i + 2] === 0x02
    );
    assertEquals(madd, file === "simd_fma.wasm", "relaxed_madd");
    const module = new WebAssembly.Module(bytes);
    assertEquals(
      WebAssembly.Module.imports(module).map((i) =>
        `${i.module}.${i.name}:${i.kind}`
      ),
      ["env.memory:memory"],
    );
    assertEquals(
      WebAssembly.Module.exports(module).map((e) => e.name).sort(),
      [
        "biasActivation",
        "columnSums",
        "directConv3x3C1",
        "directFilterGrad",
        "directFilterGradRelu",
        "dropoutMask",
        "dyPoolTransform6",
        "dyTransform2",
        "dyTransform4",
        "dyTransform6",
        "filterGradTransform",
        "filterTransform",
        "gemm",
        "gradProducts",
        "inputGradTransform2",
        "inputGradTransform4",
        "inputGradTransform6",
        "inputTransform2",
        "inputTransform4",
        "inputTransform6",
        "maxPoolGrad2x2",
        "maxPoolReluGrad2x2",
        "outputTransform2",
        "outputTransform4",
        "outputTransform6",
        "outputTransformOuter2",
        "outputTransformOuter4",
        "outputTransformPool2",
        "outputTransformPool4",
        "outputTransformPool6",
        "outputTransformPoolCodes6",
        "planeProducts",
        "reluGrad",
      ],
    );
    // Section ids: 5 memory, 8 start, 11 data, 12 data count.
    const ids: number[] = [];
    let p = 8;
    while (p < bytes.length) {
      ids.push(bytes[p++]);
      let size = 0, shift = 0, b;
      do {
        b = bytes[p++];
        size |= (b & 0x7f) << shift;
        shift += 7;
      } while (b & 0x80);
      p += size;
    }
    for (const id of [5, 8, 11, 12]) {
      assert(!ids.includes(id), `section ${id} present: ${ids}`);
    }
  });
}

/**
 * Skips (with a warning) a rebuild check that lacks `--allow-run` and
 * `--allow-write`; returns whether it may run.
 */
async function mayRebuild(t: Deno.TestContext, what: string): Promise<boolean> {
  const missing = (["run", "write"] as const).filter((name) =>
    Deno.permissions.querySync({ name }).state !== "granted"
  );
  if (missing.length === 0) return true;
  console.warn(
    `SKIPPED: ${what} needs --allow-${missing.join(" --allow-")}`,
  );
  await t.step({ name: `${what} (skipped)`, ignore: true, fn() {} });
  return false;
}

Deno.test({
  name: "simd: committed winograd.as.ts equals a fresh generation",
  async fn(t) {
    if (!await mayRebuild(t, "regenerating winograd.as.ts")) return;
    const { generate, GENERATED } = await import(
      "../../../lib/kernels/simd/generate.ts"
    );
    assertEquals(
      await generate(),
      await Deno.readTextFile(GENERATED),
      "run `deno run --allow-read --allow-write --allow-run " +
        "lib/kernels/simd/generate.ts`",
    );
  },
});

Deno.test({
  name: "simd: committed binaries equal a fresh build",
  async fn(t) {
    if (!await mayRebuild(t, "rebuilding the .wasm binaries")) return;
    const { build, ASC_VERSION, BINARIES, UPDATE_BINARY } = await import(
      "../../../lib/kernels/simd/build.ts"
    );
    const committed = { ...BINARIES, update: UPDATE_BINARY };
    for (const flavour of ["simd", "fma", "update"] as const) {
      const out = await Deno.makeTempFile({ suffix: ".wasm" });
      try {
        try {
          await build(flavour, out);
        } catch (error) {
          console.warn(
            `SKIPPED: cannot run assemblyscript@${ASC_VERSION} (${
              String(error).split("\n")[0]
            }); binaries not checked against their source`,
          );
          await t.step({ name: "rebuild (skipped)", ignore: true, fn() {} });
          return;
        }
        assertEquals(
          await Deno.readFile(out),
          await Deno.readFile(committed[flavour]),
          `${flavour}: run \`deno run -A lib/kernels/simd/build.ts\``,
        );
      } finally {
        await Deno.remove(out);
      }
    }
  },
});

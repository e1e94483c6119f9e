/**
 * The SIMD matrix product's variants (`lib/kernels/simd/gemm.as.ts`, chosen
 * by `lib/kernels/tuning.ts`): every variant gives bit-identical results,
 * equal to the cpu backend within float tolerance, for each transpose, row
 * counts that are not a multiple of the register block, and more rows of B
 * than one packed block; the choice is measured once and cached.
 *
 * Run: `deno test --allow-read --allow-write --allow-env tests/kernels/tuning_test.ts`
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertThrows } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import {
  GEMM_VARIANTS,
  gemmTuning,
  setGemmVariant,
  TUNING_FILE,
  tuningKey,
} from "../../lib/kernels/tuning.ts";
import { relaxedSimdSupported } from "../../lib/kernels/simd/simd.ts";
import { assertClose, values } from "../helpers.ts";

await initBackend();
const FLAVOUR = relaxedSimdSupported() ? "fma" : "simd";

// [m, k, n]: m in blocks of 5, 4 and single rows, k above the largest block (512),
// each product above SMALL_PRODUCT (16384 multiply-adds) so it streams.
const SHAPES = [[13, 600, 16], [130, 70, 24], [6, 400, 8], [1, 2100, 8]];

async function product(
  backend: "cpu" | "wasm",
  [m, k, n]: number[],
  transposeA: boolean,
  transposeB: boolean,
  seed: number,
): Promise<Float32Array> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const a = tf.tensor(values(m * k, seed), transposeA ? [k, m] : [m, k]);
    const b = tf.tensor(values(k * n, seed + 1), transposeB ? [n, k] : [k, n]);
    return tf.matMul(a, b, transposeA, transposeB).dataSync() as Float32Array;
  });
}

Deno.test("gemm: every variant gives the same bits, and cpu's numbers", async () => {
  try {
    let seed = 1;
    for (const shape of SHAPES) {
      for (const transposeA of [false, true]) {
        for (const transposeB of [false, true]) {
          seed += 2;
          const expected = await product(
            "cpu",
            shape,
            transposeA,
            transposeB,
            seed,
          );
          let first: Float32Array | undefined;
          for (const variant of GEMM_VARIANTS) {
            setGemmVariant(FLAVOUR, variant);
            // Fresh operands each time: a right operand's first product is
            // the one that runs on the SIMD product.
            const got = await product(
              "wasm",
              shape,
              transposeA,
              transposeB,
              seed,
            );
            const what = `${shape} tA=${transposeA} tB=${transposeB} ` +
              `rows ${variant.rows} kc ${variant.kc}`;
            assertClose(
              { shape: [got.length], data: got },
              { shape: [expected.length], data: expected },
              what,
            );
            if (first === undefined) first = got;
            else assertEquals(got, first, `${what}: not bit-identical`);
          }
        }
      }
    }
  } finally {
    setGemmVariant(undefined);
    await tf.setBackend("wasm");
  }
});

Deno.test("gemm: the variant is measured once, cached per CPU and Deno, then read", async () => {
  await tf.setBackend("wasm");
  const backend = tf.backend() as Parameters<typeof gemmTuning>[0];
  const saved = await Deno.readTextFile(TUNING_FILE).catch(() => undefined);
  try {
    await Deno.remove(TUNING_FILE).catch(() => {});
    setGemmVariant(undefined);
    const measured = gemmTuning(backend);
    assertEquals(measured.source, "measured");
    assertEquals(measured.ms?.length, GEMM_VARIANTS.length);
    assert(measured.ms!.every((ms) => ms > 0 && ms < 1000));
    const cache = JSON.parse(await Deno.readTextFile(TUNING_FILE));
    assertEquals(cache[tuningKey(FLAVOUR)], measured.chosen);
    setGemmVariant(undefined);
    const cached = gemmTuning(backend);
    assertEquals(cached.source, "cached");
    assertEquals(cached.chosen, measured.chosen);
    // A cache entry that is no variant (as 6-row blocks, no longer built)
    // is measured again, not trusted.
    await Deno.writeTextFile(
      TUNING_FILE,
      JSON.stringify({ [tuningKey(FLAVOUR)]: { rows: 6, kc: 512 } }),
    );
    setGemmVariant(undefined);
    assertEquals(gemmTuning(backend).source, "measured");
    assertThrows(
      () => setGemmVariant(FLAVOUR, { rows: 6 as 5, kc: 512 }),
      RangeError,
      "no variant",
    );
  } finally {
    if (saved === undefined) await Deno.remove(TUNING_FILE).catch(() => {});
    else await Deno.writeTextFile(TUNING_FILE, saved);
    setGemmVariant(undefined);
  }
});

/**
 * Checks that the wasm SIMD dropout masks equal the JS stream's element for
 * element (so a seeded run's masks do not depend on the backend), and the
 * integer threshold that makes them so.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { mask, maskJs } from "../../lib/engine/dropout.ts";
import { dropThreshold } from "../../lib/kernels/dropout_mask.ts";

await initBackend();

Deno.test("dropThreshold: the first integer whose float32 uniform reaches the rate", () => {
  for (const rate of [0.1, 0.25, 0.5, 0.75, 0.999]) {
    const t = dropThreshold(rate);
    assert(Math.fround((t - 1) / 2 ** 32) < rate, `${rate}: below`);
    assert(Math.fround(t / 2 ** 32) >= rate, `${rate}: at`);
  }
  assertEquals(dropThreshold(0.5), 2 ** 31 - 64);
});

Deno.test("dropout masks: the wasm kernel draws the JS stream's numbers exactly", async () => {
  await tf.setBackend("wasm");
  const ids = [0, 59999, 7, 12345, 3];
  for (const shape of [[5, 9216], [5, 7], [3, 12, 12, 4], [1, 1], [4, 130]]) {
    for (const rate of [0.1, 0.25, 0.5, 0.75]) {
      const keys = { seed: 42, epoch: 3, ids: ids.slice(0, shape[0]) };
      const simd = mask(shape, rate, 2, keys);
      const js = maskJs(shape, rate, 2, keys);
      assertEquals(simd.shape, shape);
      const a = simd.dataSync(), b = js.dataSync();
      let differ = 0;
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differ++;
      assertEquals(differ, 0, `${shape} rate ${rate}: ${differ} differ`);
      // Not all kept nor all dropped (for the larger masks).
      if (a.length > 100) {
        const kept = Array.from(a).filter((v) => v > 0).length / a.length;
        assert(Math.abs(kept - (1 - rate)) < 0.05, `${shape} kept ${kept}`);
      }
      tf.dispose([simd, js]);
    }
  }
});

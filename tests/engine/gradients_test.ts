/**
 * `copyOut`: a batch's real gradients read in place from the WASM heap are
 * exactly what `dataSync` copies out, in `model.trainableWeights` order.
 *
 * Run: `deno test --allow-read --allow-env tests/engine/gradients_test.ts`
 */
import { assertEquals } from "@std/assert";
import * as tf from "@tensorflow/tfjs";
import { buildModel } from "../../lib/model.ts";
import { computeGradients, copyOut } from "../../lib/engine/gradients.ts";
import { flatSizes } from "../../lib/engine/flat_weights.ts";
import { realMnist } from "../helpers.ts";

Deno.test("copyOut: the heap's gradients, as dataSync gives them", async () => {
  const mnist = await realMnist();
  const model = buildModel({ seed: 3 });
  const ids = Uint32Array.from({ length: 16 }, (_, i) => 7 * i);
  const { grads } = computeGradients(model, mnist.train, ids, {
    seed: 3,
    epoch: 0,
  });
  const n = flatSizes(model).trainable;
  const fast = new Float32Array(n).fill(NaN);
  copyOut(grads, fast);
  const slow = new Float32Array(n);
  let offset = 0;
  for (const g of grads) {
    slow.set(g.dataSync() as Float32Array, offset);
    offset += g.size;
  }
  assertEquals(offset, n);
  assertEquals(fast, slow);
  // Not all zeros: the comparison compares something.
  assertEquals(slow.some((v) => v !== 0), true);
  tf.dispose(grads);
  model.dispose();
});

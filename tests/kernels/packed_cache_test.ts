/**
 * The caches of packed operands (`lib/kernels/packed_cache.ts`): the dense
 * product's packed weights and Winograd's transformed filters are reused
 * for the same weight data and never for changed weights, a reshape, or
 * another tensor; results are the same bits as packing afresh.
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { assert, assertEquals, assertNotEquals } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { buildModel } from "../../lib/model.ts";
import { predictBatch } from "../../lib/engine/forward.ts";
import { PackedCache } from "../../lib/kernels/packed_cache.ts";
import { values } from "../helpers.ts";

await initBackend();

/** A copy of `t` under a new data id (so every cache misses). */
const fresh = (t: tf.Tensor) => tf.tensor(t.dataSync(), t.shape, "float32");

Deno.test("PackedCache: hits by data id and layout, evicts the oldest", () => {
  const backend = tf.backend() as BackendWasm;
  const cache = new PackedCache(64, 2);
  const [a, b, c] = [tf.ones([2]), tf.ones([2]), tf.ones([2])];
  const packed: string[] = [];
  const get = (t: tf.Tensor, layout: string) =>
    cache.get(backend, t.dataId, layout, 32, () => packed.push(layout));
  const at = get(a, "a");
  assertEquals(get(a, "a"), at);
  get(b, "b");
  get(a, "a"); // a is now the most recent
  get(c, "c"); // evicts b
  get(a, "a");
  get(b, "b");
  assertEquals(packed, ["a", "b", "c", "b"]);
  get(a, "a2"); // another layout of the same data
  assertEquals(packed.at(-1), "a2");
  cache.clear(backend);
  tf.dispose([a, b, c]);
});

Deno.test("dense product: cached weights give the same bits, changed weights new ones", () => {
  const [m, k, n] = [70, 300, 24];
  const x = tf.tensor2d(values(m * k, 1), [m, k]);
  const bias = tf.tensor1d(values(n, 2));
  const w = tf.tensor2d(values(k * n, 3), [k, n]);
  const dense = (weights: tf.Tensor) =>
    tf.tidy(() =>
      tf.fused.matMul({
        a: x,
        b: weights as tf.Tensor2D,
        bias,
        activation: "relu",
      }).dataSync()
    );
  const first = dense(w);
  assertEquals(dense(w), first); // from the cache
  const copy = fresh(w);
  assertEquals(dense(copy), first); // packed afresh: the same bits
  // The same data read as another shape is another layout.
  const flat = dense(w.reshape([k, n]));
  assertEquals(flat, first);
  // New weights (as training assigns them): new data, new results.
  const next = tf.tensor2d(values(k * n, 4), [k, n]);
  const changed = dense(next);
  assertNotEquals(changed, first);
  assertEquals(changed, dense(fresh(next)));
  // A variable assigned new values reads its new data.
  const v = tf.variable(w);
  assertEquals(dense(v), first);
  v.assign(next);
  assertEquals(dense(v), changed);
  tf.dispose([x, bias, w, copy, next, v]);
});

Deno.test("predictBatch after the weights change: the new model's outputs", () => {
  const model = buildModel({ seed: 5 });
  const other = buildModel({ seed: 6 });
  const xs = tf.randomUniform([64, 28, 28, 1], 0, 1, "float32", 7);
  const before = predictBatch(model, xs);
  model.setWeights(other.getWeights());
  const after = predictBatch(model, xs);
  const expected = predictBatch(other, xs);
  assertEquals(after.dataSync(), expected.dataSync());
  assert(
    tf.max(tf.abs(tf.sub(before, after))).dataSync()[0] > 1e-3,
    "the outputs changed with the weights",
  );
  tf.dispose([xs, before, after, expected]);
  model.dispose();
  other.dispose();
});

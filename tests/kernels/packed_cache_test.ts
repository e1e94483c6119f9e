/**
 * The cache of packed operands (`lib/kernels/packed_cache.ts`): Winograd's
 * transformed filters are reused for the same weight data and never for
 * changed weights or another tensor; results are the same bits as
 * transforming afresh.
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { assert, assertEquals, assertNotEquals } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { buildModel } from "../../lib/model.ts";
import { predictBatch } from "../../lib/engine/forward.ts";
import { PackedCache } from "../../lib/kernels/packed_cache.ts";
import { winogradConv3x3 } from "../../lib/kernels/winograd.ts";
import { values } from "../helpers.ts";

await initBackend();

const info = (t: tf.Tensor): tf.TensorInfo => ({
  dataId: t.dataId,
  shape: t.shape,
  dtype: t.dtype,
});

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

Deno.test("winograd: a kept filter transform gives the same bits, a changed filter new ones", () => {
  const backend = tf.backend() as BackendWasm;
  const x = tf.tensor4d(values(2 * 10 * 10 * 16, 1), [2, 10, 10, 16]);
  const f = tf.tensor4d(values(9 * 16 * 24, 2), [3, 3, 16, 24]);
  const P0 = { top: 0, bottom: 0, left: 0, right: 0 };
  const conv = (filter: tf.Tensor) => {
    const before = backend.numDataIds();
    const out = winogradConv3x3(backend, info(x), info(filter), P0);
    assertEquals(backend.numDataIds(), before + 1, "nothing else kept");
    const data = new Float32Array(backend.typedArrayFromHeap(out));
    backend.disposeData(out.dataId);
    return data;
  };
  const first = conv(f);
  assertEquals(conv(f), first); // the kept transform
  const copy = fresh(f);
  assertEquals(conv(copy), first); // transformed afresh: the same bits
  // New weights (as training assigns them): new data, new results.
  const next = tf.tensor4d(values(9 * 16 * 24, 3), [3, 3, 16, 24]);
  const changed = conv(next);
  assertNotEquals(changed, first);
  assertEquals(changed, conv(fresh(next)));
  // A variable assigned new values reads its new data.
  const v = tf.variable(f);
  assertEquals(conv(v), first);
  v.assign(next);
  assertEquals(conv(v), changed);
  tf.dispose([x, f, copy, next, v]);
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

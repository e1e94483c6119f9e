/**
 * Checks the flat Keras Adadelta update that threads apply in slices against
 * `KerasAdadelta.applyGradients` (tfjs ops), and the state hand-over between
 * the two.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { adadeltaUpdate, KerasAdadelta } from "../../lib/engine/optimizer.ts";
import { values } from "../helpers.ts";

await initBackend();

const SHAPES = [[3, 3, 1, 32], [32], [5, 7], [130]];

function maxDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(
      worst,
      Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])),
    );
  }
  return worst;
}

Deno.test("adadeltaUpdate: five steps in slices from weighted thread gradients equal KerasAdadelta's", () => {
  const total = SHAPES.reduce((n, s) => n + tf.util.sizeFromShape(s), 0);
  const vars = SHAPES.map((shape, i) =>
    tf.variable(tf.tensor(values(tf.util.sizeFromShape(shape), i), shape))
  );
  const optimizer = new KerasAdadelta(1.0, 0.95, 1e-7);
  const flat = new Float32Array(total);
  let offset = 0;
  for (const v of vars) {
    flat.set(v.dataSync() as Float32Array, offset);
    offset += v.size;
  }
  const state = optimizer.exportState(vars);
  assertEquals(state.accumGrad, new Float32Array(total), "fresh: zeros");
  for (let step = 0; step < 5; step++) {
    // Three threads' gradients over shares of 50, 50 and 28 samples.
    const scales = [50 / 128, 50 / 128, 28 / 128];
    const rows = scales.map((_, t) => values(total, 100 * step + t));
    const sum = new Float32Array(total);
    rows.forEach((row, t) => row.forEach((g, i) => sum[i] += g * scales[t]));
    offset = 0;
    const named: tf.NamedTensorMap = {};
    for (const v of vars) {
      named[v.name] = tf.tensor(sum.subarray(offset, offset + v.size), v.shape);
      offset += v.size;
    }
    optimizer.applyGradients(named);
    tf.dispose(Object.values(named));
    // Slices on odd boundaries, as threads would take them.
    for (const [from, to] of [[0, 7], [7, 301], [301, total]]) {
      adadeltaUpdate(flat, rows, scales, state, optimizer.hyper, from, to);
    }
  }
  const expected = new Float32Array(total);
  offset = 0;
  for (const v of vars) {
    expected.set(v.dataSync() as Float32Array, offset);
    offset += v.size;
  }
  const d = maxDiff(flat, expected);
  assert(d < 1e-6, `max relative |Δw| = ${d}`);
  const after = optimizer.exportState(vars);
  assert(maxDiff(state.accumGrad, after.accumGrad) < 1e-6, "accum_grad");
  assert(maxDiff(state.accumVar, after.accumVar) < 1e-6, "accum_var");
  tf.dispose(vars);
});

Deno.test("KerasAdadelta: importState sets the slots and the iteration count that saving writes", async () => {
  const vars = SHAPES.map((shape, i) =>
    tf.variable(tf.tensor(values(tf.util.sizeFromShape(shape), i), shape))
  );
  const total = vars.reduce((n, v) => n + v.size, 0);
  const optimizer = new KerasAdadelta(1.0, 0.95, 1e-7);
  const state = {
    accumGrad: values(total, 7).map(Math.abs),
    accumVar: values(total, 8).map(Math.abs),
  };
  optimizer.importState(vars, state, 3);
  assertEquals(optimizer.iterations, 3);
  assertEquals(optimizer.exportState(vars), state);
  const saved = await optimizer.getWeights();
  assertEquals(saved.length, 1 + 2 * vars.length);
  assertEquals(saved[1].name, `${vars[0].name}/accum_grad`);
  assertEquals(saved[1 + vars.length].name, `${vars[0].name}/accum_var`);
  // A second import replaces the values in place and counts on.
  optimizer.importState(vars, {
    accumGrad: state.accumVar,
    accumVar: state.accumGrad,
  }, 2);
  assertEquals(optimizer.iterations, 5);
  assertEquals(optimizer.exportState(vars).accumGrad, state.accumVar);
  tf.dispose(saved.map((w) => w.tensor));
  tf.dispose(vars);
});

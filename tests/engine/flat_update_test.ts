/**
 * Checks the flat update of each optimizer it supports against the tfjs
 * optimizer's own `applyGradients` (tfjs ops), steps split in slices as
 * threads take them, and the state hand-over from flat arrays back into the
 * tfjs optimizer (further tfjs steps continue the same run).
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import {
  exportFlatState,
  flatRule,
  flatUpdate,
  importFlatState,
} from "../../lib/engine/flat_update.ts";
import { KerasAdadelta } from "../../lib/engine/optimizer.ts";
import { flatViews, makeFlatMemory } from "../../lib/engine/flat_memory.ts";
import { values } from "../helpers.ts";

await initBackend();

const SHAPES = [[3, 3, 1, 32], [32], [5, 7], [130]];
const TOTAL = SHAPES.reduce((n, s) => n + tf.util.sizeFromShape(s), 0);

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

function flatOf(vars: tf.Variable[]): Float32Array {
  const flat = new Float32Array(TOTAL);
  let offset = 0;
  for (const v of vars) {
    flat.set(v.dataSync() as Float32Array, offset);
    offset += v.size;
  }
  return flat;
}

/** Applies the flat gradient `sum` to `vars` with the tfjs `optimizer`. */
function tfjsStep(
  optimizer: tf.Optimizer,
  vars: tf.Variable[],
  sum: Float32Array,
) {
  const named: tf.NamedTensorMap = {};
  let offset = 0;
  for (const v of vars) {
    named[v.name] = tf.tensor(sum.subarray(offset, offset + v.size), v.shape);
    offset += v.size;
  }
  optimizer.applyGradients(named);
  tf.dispose(Object.values(named));
}

const OPTIMIZERS: [string, () => tf.Optimizer][] = [
  ["Keras's Adadelta", () => new KerasAdadelta(1.0, 0.95, 1e-7)],
  ["SGD", () => tf.train.sgd(0.05)],
  ["Adam", () => tf.train.adam(0.01, 0.9, 0.999, 1e-7)],
];

for (const [name, make] of OPTIMIZERS) {
  Deno.test(`flatUpdate (${name}): five steps in slices from three threads' gradients equal the tfjs optimizer's, and its state hands back`, () => {
    const vars = SHAPES.map((shape, i) =>
      tf.variable(tf.tensor(values(tf.util.sizeFromShape(shape), i), shape))
    );
    const optimizer = make();
    const rule = flatRule(optimizer);
    if (!rule) throw new Error(`${name} should be supported`);
    const flat = flatOf(vars);
    const state = exportFlatState(optimizer, rule, vars);
    for (let step = 1; step <= 5; step++) {
      // Three threads' gradients over shares of 50, 50 and 28 samples.
      const scales = [50 / 128, 50 / 128, 28 / 128];
      const rows = scales.map((_, t) => values(TOTAL, 100 * step + t));
      const sum = new Float32Array(TOTAL);
      rows.forEach((row, t) => row.forEach((g, i) => sum[i] += g * scales[t]));
      tfjsStep(optimizer, vars, sum);
      // Slices on odd boundaries, as threads would take them.
      for (const [from, to] of [[0, 7], [7, 301], [301, TOTAL]]) {
        flatUpdate(rule, flat, rows, scales, state, step, from, to);
      }
    }
    const d = maxDiff(flat, flatOf(vars));
    assert(d < 1e-5, `max relative |Δw| = ${d}`);
    const after = exportFlatState(optimizer, rule, vars);
    assertEquals(after.length, state.length);
    after.forEach((a, k) => assert(maxDiff(state[k], a) < 1e-5, `state ${k}`));

    // Hand the flat state to a fresh optimizer: its next tfjs step equals the
    // first optimizer's sixth.
    const other = make();
    const copies = vars.map((v) => tf.variable(v.clone()));
    importFlatState(other, rule, copies, state, 5);
    assertEquals(other.iterations, 5);
    const sum = values(TOTAL, 600);
    tfjsStep(optimizer, vars, sum);
    tfjsStep(other, copies, sum);
    const next = maxDiff(flatOf(copies), flatOf(vars));
    assert(next < 1e-5, `after hand-over: max relative |Δw| = ${next}`);
    tf.dispose([...vars, ...copies]);
    optimizer.dispose();
    other.dispose();
  });
}

Deno.test("flatUpdate (Keras's Adadelta) on shared flat memory runs the SIMD kernel in float32 and equals the tfjs optimizer's", () => {
  const vars = SHAPES.map((shape, i) =>
    tf.variable(tf.tensor(values(tf.util.sizeFromShape(shape), i), shape))
  );
  const optimizer = new KerasAdadelta(1.0, 0.95, 1e-7);
  const rule = flatRule(optimizer)!;
  const flat = makeFlatMemory({
    total: TOTAL,
    trainable: TOTAL,
    threads: 3,
    states: 2,
  });
  const views = flatViews(flat);
  views.weights.set(flatOf(vars));
  exportFlatState(optimizer, rule, vars).forEach((s, k) =>
    views.state[k].set(s)
  );
  const loop = {
    w: views.weights.slice(),
    state: views.state.map((s) => s.slice()),
  };
  for (let step = 1; step <= 5; step++) {
    const scales = [50 / 128, 50 / 128, 28 / 128];
    views.grads.forEach((row, t) => row.set(values(TOTAL, 100 * step + t)));
    const sum = new Float32Array(TOTAL);
    views.grads.forEach((row, t) =>
      row.forEach((g, i) => sum[i] += g * scales[t])
    );
    tfjsStep(optimizer, vars, sum);
    // Each thread its slice (on 16-byte boundaries, the last one not), with
    // its own kernel tables.
    [[0, 8], [8, 300], [300, TOTAL]].forEach(([from, to], thread) => {
      flatUpdate(
        rule,
        views.weights,
        views.grads,
        scales,
        views.state,
        step,
        from,
        to,
        { flat, thread },
      );
      flatUpdate(rule, loop.w, views.grads, scales, loop.state, step, from, to);
    });
  }
  const d = maxDiff(views.weights, flatOf(vars));
  assert(d < 1e-5, `max relative |Δw| against tfjs = ${d}`);
  const loopDiff = maxDiff(views.weights, loop.w);
  assert(loopDiff < 1e-6, `against the float64 loop: ${loopDiff}`);
  // The kernel rounds in float32: not bit for bit the float64 loop.
  assert(loopDiff > 0, "the kernel ran");
  tf.dispose(vars);
  optimizer.dispose();
});

Deno.test("flatRule: only the optimizers whose rule the flat update runs", () => {
  assertEquals(flatRule(new KerasAdadelta(1, 0.95, 1e-7))?.kind, "adadelta");
  assertEquals(flatRule(tf.train.sgd(0.1))?.kind, "sgd");
  assertEquals(flatRule(tf.train.adam())?.kind, "adam");
  // tfjs's Adadelta divides by the stale accumulator; momentum is an SGD
  // subclass with a rule of its own.
  assertEquals(flatRule(tf.train.adadelta()), undefined);
  assertEquals(flatRule(tf.train.momentum(0.1, 0.9)), undefined);
  assertEquals(flatRule(tf.train.rmsprop(0.01)), undefined);
  assertEquals(flatRule(tf.train.adagrad(0.01)), undefined);
  assertEquals(flatRule(tf.train.adamax(0.01)), undefined);
});

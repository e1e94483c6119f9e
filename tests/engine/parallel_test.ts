/**
 * Checks which path training takes for the optimizer `buildModel` is given:
 * the flat update for every optimizer it supports (here Adam, on one and two
 * threads, against tfjs's own Adam), and a one-line warning, once, when the
 * optimizer leaves it; small batches, errors, and this thread's lazy load of
 * each update (evaluate and sync see it).
 */
import * as tf from "@tensorflow/tfjs";
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { BackendError, UsageError } from "../../lib/errors.ts";
import { buildModel, train } from "../../lib/mod.ts";
import { localRunner } from "../../lib/engine/gradients.ts";
import { parallelRunner } from "../../lib/engine/parallel.ts";
import {
  maxWeightDiff,
  quiet,
  realMnist,
  smallTest,
  weightsOf,
} from "../helpers.ts";

const mnist = await realMnist();
/** The test split cut short: these runs never read train()'s test figures. */
const quick = smallTest(mnist);

/** Runs `fn` with `console.warn` recorded; returns what was warned. */
async function warnings(fn: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => seen.push(args.join(" "));
  try {
    await fn();
  } finally {
    console.warn = original;
  }
  return seen;
}

Deno.test('buildModel({ optimizer: "adam" }): one and two threads train on the flat update without a warning and give tfjs Adam\'s weights', async () => {
  const ops = buildModel({ seed: 23, optimizer: "adam" });
  const runner = localRunner(ops, mnist.train);
  await train(ops, quick, { ...quiet, limit: 256, seed: 23, runner });
  for (const threads of [1, 2]) {
    const flat = buildModel({ seed: 23, optimizer: "adam" });
    const warned = await warnings(() =>
      train(flat, quick, { ...quiet, limit: 256, seed: 23, threads })
    );
    assertEquals(warned, [], `${threads} threads`);
    const maxDiff = maxWeightDiff(weightsOf(ops), weightsOf(flat));
    assert(maxDiff < 1e-4, `${threads} threads: max |Δw| = ${maxDiff}`);
    // The flat state came back into model.optimizer (saving writes it).
    assertEquals(flat.optimizer.iterations, 2);
    const saved = await flat.optimizer.getWeights();
    const reference = await ops.optimizer.getWeights();
    const slot = (w: { name: string }) => w.name.split("/").at(-1);
    assertEquals(saved.map(slot), reference.map(slot));
    tf.dispose([...saved, ...reference].map((w) => w.tensor));
  }
});

Deno.test("parallelRunner: an optimizer the flat update does not support gets one line of warning, naming it and the supported ones", async () => {
  for (const threads of [1, 2]) {
    const model = buildModel({ seed: 3, optimizer: tf.train.rmsprop(0.001) });
    const warned: string[] = [];
    const runner = await parallelRunner(model, mnist.train, {
      threads,
      warn: (message) => warned.push(message),
    });
    await runner.step(new Uint32Array([0, 1, 2, 3]), { seed: 3, epoch: 0 });
    runner.dispose();
    assertEquals(warned.length, 1, `${threads} threads`);
    assert(!warned[0].includes("\n"), "one line");
    assertStringIncludes(warned[0], "RMSProp");
    assertStringIncludes(warned[0], "Adadelta, SGD and Adam");
  }
  // Through train, the warning goes to console.warn, once per run.
  const model = buildModel({
    seed: 3,
    optimizer: tf.train.momentum(0.01, 0.9),
  });
  const warned = await warnings(() =>
    train(model, quick, { ...quiet, limit: 256, seed: 3, threads: 1 })
  );
  assertEquals(warned.length, 1);
  assertStringIncludes(warned[0], "Momentum");
});

Deno.test("parallelRunner: a batch smaller than the threads trains (empty shares add nothing), on both paths", async () => {
  for (const optimizer of ["adadelta", "rmsprop"] as const) {
    const model = buildModel({
      seed: 5,
      optimizer: optimizer === "adadelta" ? undefined : tf.train.rmsprop(1e-3),
    });
    const one = buildModel({
      seed: 5,
      optimizer: optimizer === "adadelta" ? undefined : tf.train.rmsprop(1e-3),
    });
    const runners = [
      await parallelRunner(model, mnist.train, { threads: 3, warn() {} }),
      await parallelRunner(one, mnist.train, { threads: 1, warn() {} }),
    ];
    try {
      for (const ids of [[7], [8, 9]]) {
        const [three, single] = await Promise.all(
          runners.map((r) =>
            r.step(new Uint32Array(ids), { seed: 5, epoch: 0 })
          ),
        );
        assert(Number.isFinite(three.loss), `${optimizer}: loss ${three.loss}`);
        assert(Math.abs(three.loss - single.loss) < 1e-4, `${optimizer}`);
      }
    } finally {
      runners.forEach((r) => r.dispose());
    }
    const maxDiff = maxWeightDiff(weightsOf(one), weightsOf(model));
    assert(maxDiff < 1e-5, `${optimizer}: max |Δw| = ${maxDiff}`);
  }
});

Deno.test("parallelRunner: a worker's error rejects the step with a BackendError naming it; this thread's error rejects it as thrown; neither hangs", async () => {
  const keys = { seed: 6, epoch: 0 };
  // The worker's share holds an id outside the split.
  let runner = await parallelRunner(buildModel({ seed: 6 }), mnist.train, {
    threads: 2,
  });
  try {
    const err = await assertRejects(
      () => runner.step(new Uint32Array([0, 1, 60_001, 2]), keys),
      BackendError,
    );
    assertStringIncludes(err.message, "worker thread: sample id 60001");
  } finally {
    runner.dispose();
  }
  // This thread's share holds it: the worker, waiting at the barrier, is
  // released and the step rejects with this thread's error.
  runner = await parallelRunner(buildModel({ seed: 6 }), mnist.train, {
    threads: 2,
  });
  try {
    const err = await assertRejects(
      () => runner.step(new Uint32Array([60_001, 0, 1, 2]), keys),
      UsageError,
    );
    assertStringIncludes(err.message, "sample id 60001");
  } finally {
    runner.dispose();
  }
});

Deno.test("parallelRunner: this thread loads each update lazily, yet evaluate and sync see it (as tfjs's own optimizer after the same steps)", async () => {
  const ref = buildModel({ seed: 5 });
  const flat = buildModel({ seed: 5 });
  const local = localRunner(ref, mnist.train);
  const two = await parallelRunner(flat, mnist.train, { threads: 2 });
  try {
    const keys = { seed: 5, epoch: 0 };
    for (let s = 0; s < 2; s++) {
      const ids = Uint32Array.from({ length: 64 }, (_, i) => 64 * s + 3 * i);
      await local.step(ids, keys);
      await two.step(ids, keys);
      const want = await local.evaluate!(quick.test);
      const got = await two.evaluate!(quick.test);
      assert(Math.abs(want.loss - got.loss) < 1e-4, `step ${s}: evaluate`);
    }
    // A step, then sync alone.
    const ids = Uint32Array.from({ length: 64 }, (_, i) => 7 * i);
    await local.step(ids, keys);
    await two.step(ids, keys);
    two.sync!();
    const maxDiff = maxWeightDiff(weightsOf(ref), weightsOf(flat));
    // One update missed would differ by about 2.6e-3.
    assert(maxDiff < 1e-4, `after sync: max |Δw| = ${maxDiff}`);
  } finally {
    two.dispose();
    ref.dispose();
    flat.dispose();
  }
});

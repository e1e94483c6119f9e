/**
 * Checks the worker pool: forward passes on every thread give one thread's
 * answers whoever claims which batch, data and weights go through shared
 * memory, and data-parallel
 * training with an optimizer the flat update does not support still gives
 * one thread's weights.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  buildModel,
  evaluate,
  predictClasses,
  train,
  UsageError,
} from "../../lib/mod.ts";
import { shareSplit } from "../../lib/data.ts";
import {
  flatSizes,
  readFlat,
  writeFlat,
} from "../../lib/engine/flat_weights.ts";
import {
  claimedResult,
  forwardClaims,
  forwardRange,
  runClaims,
} from "../../lib/engine/forward.ts";
import { shares, WorkerPool } from "../../lib/engine/pool.ts";
import {
  maxWeightDiff,
  realMnist,
  silent,
  smallTest,
  trainedModel,
  weightsOf,
} from "../helpers.ts";

const mnist = await realMnist();

Deno.test("shares: contiguous, near-equal, covering", () => {
  assertEquals(shares(128, 2), [[0, 64], [64, 128]]);
  assertEquals(shares(128, 3), [[0, 42], [42, 85], [85, 128]]);
  assertEquals(shares(1, 2), [[0, 0], [0, 1]]);
});

Deno.test("loadMnist keeps the data in shared memory; shareSplit copies an unshared split once", () => {
  assert(mnist.train.images.buffer instanceof SharedArrayBuffer);
  assert(mnist.test.labels.buffer instanceof SharedArrayBuffer);
  assert(shareSplit(mnist.test) === mnist.test);
  const plain = {
    ...mnist.test,
    images: mnist.test.images.slice(0, 784 * 3),
    labels: mnist.test.labels.slice(0, 3),
    count: 3,
  };
  const shared = shareSplit(plain);
  assert(shared.images.buffer instanceof SharedArrayBuffer);
  assertEquals(shared.images, plain.images);
  assertEquals(shared.labels, plain.labels);
});

Deno.test("flat weights: writeFlat then readFlat carries one model's weights to another", () => {
  const a = buildModel({ seed: 1 }), b = buildModel({ seed: 2 });
  const flat = new Float32Array(flatSizes(a).total);
  assertEquals(flat.length, 1_199_882);
  writeFlat(a, flat);
  readFlat(b, flat);
  assertEquals(weightsOf(b), weightsOf(a));
  a.dispose();
  b.dispose();
});

Deno.test("WorkerPool: two and three threads classify and evaluate as one thread does", async () => {
  const { model } = await trainedModel();
  const count = 1000;
  const one = forwardRange(model, mnist.test, {
    start: 0,
    count,
    mode: "classes",
  });
  const ref = forwardRange(model, mnist.test, {
    start: 0,
    count,
    mode: "evaluate",
  });
  for (const threads of [2, 3]) {
    const pool = await WorkerPool.create(model, { threads });
    try {
      const classes = await pool.forward(mnist.test, {
        start: 0,
        count,
        mode: "classes",
      });
      assertEquals(classes.classes, one.classes, `${threads} threads: classes`);
      // An odd range, smaller batches.
      const part = await pool.forward(mnist.test, {
        start: 17,
        count: 101,
        batchSize: 32,
        mode: "classes",
      });
      assertEquals(part.classes, one.classes.subarray(17, 118));
      const ev = await pool.forward(mnist.test, {
        start: 0,
        count,
        mode: "evaluate",
      });
      assertEquals(ev.correct, ref.correct);
      assert(
        Math.abs(ev.loss - ref.loss) < 1e-3 * count,
        `${ev.loss} vs ${ref.loss}`,
      );
    } finally {
      pool.dispose();
    }
  }
});

Deno.test("runClaims: a thread claims the batches the others leave; the results do not depend on who ran which; a stop ends every thread's claims", async () => {
  const { model } = await trainedModel();
  for (const mode of ["classes", "evaluate"] as const) {
    const options = { start: 5, count: 300, batchSize: 64, mode };
    const want = forwardRange(model, mnist.test, options);
    // Two "threads" on one: the first, before its first batch, lets a
    // second claim all the others.
    const claims = forwardClaims(options);
    let firstRan = 0, secondRan = 0;
    runClaims(model, mnist.test, options, claims, () => {
      if (firstRan++ > 0) return;
      runClaims(model, mnist.test, options, claims, () => secondRan++);
    });
    assertEquals([firstRan, secondRan], [1, 4], mode);
    const got = claimedResult(claims);
    assertEquals(got.classes, want.classes, mode);
    assertEquals(got.correct, want.correct, mode);
    assert(Math.abs(got.loss - want.loss) < 1e-4 * options.count, mode);
  }
  // A stop on the first thread: the second claims nothing more.
  const options = { start: 0, count: 512, mode: "classes" as const };
  const claims = forwardClaims(options);
  let other = 0;
  assertThrows(
    () =>
      runClaims(model, mnist.test, options, claims, (done) => {
        if (done > 0) throw new Error("stop");
      }),
    Error,
    "stop",
  );
  runClaims(model, mnist.test, options, claims, () => other++);
  assertEquals(other, 0);
});

Deno.test("predictClasses and evaluate on two threads or a pool agree with one thread", async () => {
  const { model } = await trainedModel();
  assertEquals(
    await predictClasses(model, mnist.test, { count: 500, threads: 2 }),
    await predictClasses(model, mnist.test, { count: 500 }),
  );
  const pool = await WorkerPool.create(model, { threads: 2 });
  try {
    assertEquals(
      await predictClasses(model, mnist.train, { count: 10, pool }),
      await predictClasses(model, mnist.train),
    );
  } finally {
    pool.dispose();
  }
  const a = await evaluate(model, mnist.test, {
    count: 2000,
    threads: 2,
  });
  const b = await evaluate(model, mnist.test, { count: 2000 });
  assertEquals(a.acc, b.acc);
  assert(Math.abs(a.loss - b.loss) < 1e-5, `${a.loss} vs ${b.loss}`);
  await assertRejects(
    () =>
      predictClasses(model, mnist.test, { start: 9999, count: 2, threads: 2 }),
    UsageError,
    "the set has 10000",
  );
  await assertRejects(
    () => evaluate(model, mnist.test, { threads: 0 }),
    UsageError,
  );
});

Deno.test("train: two threads with an optimizer the flat update does not support (RMSProp) give one thread's weights", async () => {
  const run = async (threads: number) => {
    const model = buildModel({ seed: 5, optimizer: tf.train.rmsprop(0.001) });
    await train(model, smallTest(mnist), {
      sink: silent,
      verbose: false,
      validation: false,
      limit: 256,
      seed: 5,
      threads,
    });
    return weightsOf(model);
  };
  const one = await run(1), two = await run(2);
  const maxDiff = maxWeightDiff(one, two);
  assert(maxDiff < 1e-4, `max |Δw| = ${maxDiff}`);
});

/**
 * Checks the data-parallel step's meeting point (`lib/engine/barrier.ts`)
 * with real worker threads: every thread sees every report of its round, and
 * a failure or an abort wakes the threads that wait instead of hanging them.
 */
import { assertEquals, assertRejects } from "@std/assert";
import { BarrierError, StepBarrier } from "../../lib/engine/barrier.ts";
import { expected } from "./barrier_worker.ts";

/** A worker of barrier_worker.ts and its next message. */
function start(): {
  worker: Worker;
  next: () => Promise<Record<string, unknown>>;
} {
  const worker = new Worker(new URL("./barrier_worker.ts", import.meta.url), {
    type: "module",
  });
  const queue: Record<string, unknown>[] = [];
  const waiting: ((m: Record<string, unknown>) => void)[] = [];
  worker.onmessage = (e) => {
    const resolve = waiting.shift();
    if (resolve) resolve(e.data);
    else queue.push(e.data);
  };
  const next = () =>
    queue.length > 0
      ? Promise.resolve(queue.shift()!)
      : new Promise<Record<string, unknown>>((r) => waiting.push(r));
  return { worker, next };
}

/** Rejects when `promise` takes longer than 20 s: a hang fails, not stalls. */
function within<T>(promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error("hung: no answer in 20 s")),
        20_000,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}

Deno.test("StepBarrier: three threads meet 300 rounds; each reads every thread's report of its round", async () => {
  const threads = 3, rounds = 300;
  const buffer = StepBarrier.buffer(threads);
  const barrier = new StepBarrier(buffer, threads);
  const workers = [1, 2].map((thread) => {
    const w = start();
    w.worker.postMessage({ job: "rounds", buffer, threads, thread, rounds });
    return w;
  });
  let wrong = 0;
  try {
    for (let r = 0; r < rounds; r++) {
      barrier.report(0, 10 * r, 0);
      // The async wait of a thread with an event loop, as the main thread's.
      await barrier.meetAsync();
      const totals = barrier.totals();
      if (totals.loss !== expected(r, threads) || totals.correct !== 3) wrong++;
      await barrier.meetAsync();
    }
    assertEquals(wrong, 0);
    for (const w of workers) assertEquals(await within(w.next()), { wrong: 0 });
  } finally {
    for (const w of workers) w.worker.terminate();
  }
});

Deno.test("StepBarrier: a thread's failure wakes a waiting thread (kind failed); an abort wakes a waiting worker (kind aborted)", async () => {
  const buffer = StepBarrier.buffer(2);
  const barrier = new StepBarrier(buffer, 2);
  const w = start();
  try {
    // This thread waits (blocking, then without blocking: the worker's
    // message comes in meanwhile); the worker fails instead of arriving.
    const waiting = barrier.meetAsync(50);
    setTimeout(
      () => w.worker.postMessage({ job: "fail", buffer, threads: 2 }),
      100,
    );
    const err = await within(assertRejects(() => waiting, BarrierError));
    assertEquals((err as BarrierError).kind, "failed");
    assertEquals(barrier.failure, "failed");
  } finally {
    w.worker.terminate();
  }

  const buffer2 = StepBarrier.buffer(2);
  const other = new StepBarrier(buffer2, 2);
  const v = start();
  try {
    v.worker.postMessage({ job: "wait", buffer: buffer2, threads: 2 });
    assertEquals(await within(v.next()), { waiting: true });
    other.fail("aborted");
    assertEquals(await within(v.next()), { kind: "aborted" });
  } finally {
    v.worker.terminate();
  }
});

Deno.test("StepBarrier: totals are finite only when every thread's loss is", () => {
  const barrier = new StepBarrier(StepBarrier.buffer(2), 2);
  barrier.report(0, 1.5, 2);
  barrier.report(1, NaN, 1);
  assertEquals(barrier.totals().finite, false);
  barrier.report(1, 2, 1);
  assertEquals(barrier.totals(), { loss: 3.5, correct: 3, finite: true });
});

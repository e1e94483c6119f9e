/**
 * A thread of tests/engine/barrier_test.ts: meets the test's main thread at a
 * {@linkcode StepBarrier} as the job it is sent says, and posts what it saw.
 */
/// <reference lib="deno.worker" />
import { BarrierError, StepBarrier } from "../../lib/engine/barrier.ts";

self.onmessage = (e: MessageEvent) => {
  const { job, buffer, threads, thread, rounds } = e.data;
  const barrier = new StepBarrier(buffer, threads);
  try {
    if (job === "rounds") {
      let wrong = 0;
      for (let r = 0; r < rounds; r++) {
        barrier.report(thread, 10 * r + thread, thread);
        barrier.meet();
        if (barrier.totals().loss !== expected(r, threads)) wrong++;
        barrier.meet();
      }
      self.postMessage({ wrong });
    } else if (job === "fail") {
      barrier.fail();
      self.postMessage({ failed: true });
    } else if (job === "wait") {
      self.postMessage({ waiting: true });
      barrier.meet();
      self.postMessage({ met: true });
    }
  } catch (err) {
    self.postMessage({ kind: err instanceof BarrierError ? err.kind : "?" });
  }
};

/** The summed loss of round `r`: thread t reports 10·r + t. */
export function expected(r: number, threads: number): number {
  return 10 * r * threads + (threads * (threads - 1)) / 2;
}

/**
 * The meeting point of a data-parallel step's threads, in shared memory: a
 * reusable barrier on `Atomics.wait`, each thread's loss and hits, and a
 * failure flag that wakes every waiter. A step meets twice (gradients
 * written, then update slices written), each time in tens of microseconds:
 * a message round trip between threads took 1–4 ms in a training step.
 *
 * @module
 */
import { BackendError } from "../errors.ts";

const COUNT = 0, GENERATION = 1, FAILED = 2;
const INTS = 4;

/** How a barrier wait ended early. */
export type BarrierFailure = "failed" | "aborted";

/** Thrown by a wait when a thread failed or the step was aborted. */
export class BarrierError extends BackendError {
  /** `failed`: another thread reported an error; `aborted`: a caller gave up. */
  readonly kind: BarrierFailure;
  constructor(kind: BarrierFailure) {
    super(
      kind === "failed"
        ? "a training thread failed during the step"
        : "the training step was aborted",
    );
    this.name = "BarrierError";
    this.kind = kind;
  }
}

/**
 * A barrier for `threads` threads with a loss and a hit count per thread, on
 * one `SharedArrayBuffer` that every thread wraps with `new StepBarrier(buffer,
 * threads)`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { StepBarrier } from "./barrier.ts";
 * const barrier = new StepBarrier(StepBarrier.buffer(1), 1);
 * barrier.report(0, 0.5, 3);
 * barrier.meet(); // one thread: never waits
 * assertEquals(barrier.totals(), { loss: 0.5, correct: 3, finite: true });
 * ```
 */
export class StepBarrier {
  readonly threads: number;
  readonly #ints: Int32Array;
  readonly #losses: Float64Array;
  readonly #hits: Int32Array;

  /** A zeroed shared buffer for `threads` threads. */
  static buffer(threads: number): SharedArrayBuffer {
    return new SharedArrayBuffer(4 * INTS + 12 * threads);
  }

  constructor(buffer: SharedArrayBuffer, threads: number) {
    this.threads = threads;
    this.#ints = new Int32Array(buffer, 0, INTS);
    this.#losses = new Float64Array(buffer, 4 * INTS, threads);
    this.#hits = new Int32Array(buffer, 4 * INTS + 8 * threads, threads);
  }

  /** Records thread `thread`'s loss and hits of this step. */
  report(thread: number, loss: number, correct: number): void {
    this.#losses[thread] = loss;
    this.#hits[thread] = correct;
  }

  /**
   * Every thread's summed loss and hits; `finite` when each thread's loss is
   * finite (every thread reads the same answer after {@linkcode meet}).
   */
  totals(): { loss: number; correct: number; finite: boolean } {
    let loss = 0, correct = 0, finite = true;
    for (let t = 0; t < this.threads; t++) {
      loss += this.#losses[t];
      correct += this.#hits[t];
      finite &&= Number.isFinite(this.#losses[t]);
    }
    return { loss, correct, finite };
  }

  /** Marks the step failed (`failed`) or given up (`aborted`); wakes all. */
  fail(kind: BarrierFailure = "failed"): void {
    Atomics.compareExchange(this.#ints, FAILED, 0, kind === "failed" ? 1 : 2);
    Atomics.notify(this.#ints, GENERATION);
  }

  /** Whether the step failed, and how. */
  get failure(): BarrierFailure | undefined {
    const f = Atomics.load(this.#ints, FAILED);
    return f === 0 ? undefined : f === 1 ? "failed" : "aborted";
  }

  /**
   * Arrives and returns the generation to wait for, or `undefined` when this
   * thread was the last to arrive (it released the others).
   */
  #arrive(): number | undefined {
    const c = this.#ints;
    const generation = Atomics.load(c, GENERATION);
    if (Atomics.add(c, COUNT, 1) < this.threads - 1) return generation;
    Atomics.store(c, COUNT, 0);
    Atomics.add(c, GENERATION, 1);
    Atomics.notify(c, GENERATION);
    return undefined;
  }

  #check(): void {
    const f = this.failure;
    if (f) throw new BarrierError(f);
  }

  /**
   * Waits, blocking this thread, until every thread has arrived.
   *
   * @throws {BarrierError} when a thread failed or the step was aborted.
   */
  meet(): void {
    this.#check();
    const generation = this.#arrive();
    if (generation === undefined) return;
    const c = this.#ints;
    while (Atomics.load(c, GENERATION) === generation) {
      this.#check();
      Atomics.wait(c, GENERATION, generation, 100);
    }
    this.#check();
  }

  /**
   * {@linkcode meet} for a thread with an event loop to keep: it blocks for
   * at most `blockMs`, then waits without blocking, so that a worker's error
   * event can arrive (and call {@linkcode fail}).
   *
   * @throws {BarrierError} when a thread failed or the step was aborted.
   */
  async meetAsync(blockMs = 200): Promise<void> {
    this.#check();
    const generation = this.#arrive();
    if (generation === undefined) return;
    const c = this.#ints;
    const start = performance.now();
    while (Atomics.load(c, GENERATION) === generation) {
      this.#check();
      if (performance.now() - start < blockMs) {
        Atomics.wait(c, GENERATION, generation, 20);
      } else {
        const r = Atomics.waitAsync(c, GENERATION, generation, 100);
        if (r.async) await r.value;
      }
    }
    this.#check();
  }
}

/**
 * Worker threads, each holding a replica of a model on its own WASM backend,
 * that run a share of every job with this thread: the forward pass of
 * evaluation and prediction, and the gradient steps of
 * {@linkcode parallelRunner}. Weights travel as one flat array in shared
 * memory (`flat_weights.ts`), published by whoever changed them and read by
 * each replica when their version changed; data sets are views of shared
 * memory ({@linkcode shareSplit}), so no thread holds a copy of MNIST of its
 * own.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { shareSplit, type Split } from "../data.ts";
import { BackendError, checkWholeNumber } from "../errors.ts";
import { flatSizes, writeFlat } from "./flat_weights.ts";
import {
  claimedResult,
  type ForwardClaims,
  forwardClaims,
  type ForwardOptions,
  type ForwardResult,
  runClaims,
} from "./forward.ts";
import type { FlatRule } from "./flat_update.ts";
import { type FlatMemory, flatViews } from "./flat_memory.ts";
import type { StepKeys } from "./gradients.ts";

/** Shared memory of a training pool (see {@linkcode parallelRunner}). */
export interface TrainingMemory {
  /** Training data, shared. */
  train: Split;
  /**
   * The flat weights, one row of flat trainable gradients per thread and the
   * flat update's state, in one shared memory (`flat_memory.ts`).
   */
  flat: FlatMemory;
  /** The flat update's rule, its slices updated by every thread; absent
   * when the flat update does not support the model's optimizer (this
   * thread then applies it). */
  update?: { rule: FlatRule };
}
/** A message to a pool worker. */
export type PoolRequest =
  | {
    type: "init";
    modelJson: string;
    /** The flat weights: a view of shared memory. */
    weights: Float32Array;
    thread: number;
    training?: TrainingMemory;
  }
  | {
    type: "step";
    ids: Uint32Array;
    version: number;
  } & StepKeys
  | {
    type: "update";
    scales: number[];
    step: number;
    from: number;
    to: number;
  }
  | ({
    type: "forward";
    split: Split;
    version: number;
    claims: ForwardClaims;
  } & ForwardOptions);

/** A pool worker's answer. */
export type PoolReply =
  | { type: "ready" }
  | { type: "step"; loss: number; correct: number }
  | { type: "update" }
  | { type: "forward" }
  | { type: "error"; message: string };

/** Options of {@linkcode WorkerPool.create}. */
export interface PoolOptions {
  /** Threads in all, this one included; default {@linkcode defaultThreads}. */
  threads?: number;
  /** Shared memory for gradient steps (made by {@linkcode parallelRunner}). */
  training?: TrainingMemory;
}

/** Number of threads used by default: every core. */
export function defaultThreads(): number {
  return Math.max(1, navigator.hardwareConcurrency || 1);
}

/**
 * Splits `n` items into `parts` contiguous shares of near-equal size.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shares } from "./pool.ts";
 * assertEquals(shares(128, 3), [[0, 42], [42, 85], [85, 128]]);
 * ```
 */
export function shares(n: number, parts: number): [number, number][] {
  return Array.from({ length: parts }, (_, k) => [
    Math.floor((n * k) / parts),
    Math.floor((n * (k + 1)) / parts),
  ]);
}

class PoolWorker {
  readonly worker: Worker;
  #pending?: { resolve: (r: PoolReply) => void; reject: (e: Error) => void };

  constructor() {
    this.worker = new Worker(new URL("./worker.ts", import.meta.url), {
      type: "module",
    });
    this.worker.onmessage = (e: MessageEvent<PoolReply>) => {
      const pending = this.#pending;
      this.#pending = undefined;
      if (e.data.type === "error") {
        pending?.reject(new BackendError(`worker thread: ${e.data.message}`));
      } else pending?.resolve(e.data);
    };
    this.worker.onerror = (e) => {
      e.preventDefault();
      this.#pending?.reject(
        new BackendError(`worker thread crashed: ${e.message}`),
      );
      this.#pending = undefined;
    };
  }

  request<T extends PoolReply["type"]>(
    message: PoolRequest,
  ): Promise<Extract<PoolReply, { type: T }>> {
    return new Promise((resolve, reject) => {
      this.#pending = {
        resolve: resolve as (r: PoolReply) => void,
        reject,
      };
      this.worker.postMessage(message);
    });
  }
}

/**
 * `threads - 1` worker threads holding replicas of `model`; this thread
 * takes the first share of every job on `model` itself.
 *
 * @example
 * ```ts ignore
 * // ignored in CI: loads real MNIST; covered by tests/engine/pool_test.ts, "WorkerPool: two and three threads classify and evaluate as one thread does"
 * import { assertEquals } from "@std/assert";
 * import { buildModel, evaluate, initBackend, loadMnist } from "../mod.ts";
 * import { WorkerPool } from "./pool.ts";
 * await initBackend();
 * const mnist = await loadMnist();
 * const model = buildModel({ seed: 1 });
 * const pool = await WorkerPool.create(model, { threads: 2 });
 * const { correct } = await pool.forward(mnist.test, { start: 0, count: 500, mode: "evaluate" });
 * pool.dispose();
 * // The same count as one thread gets.
 * assertEquals(correct / 500, (await evaluate(model, mnist.test, { count: 500 })).acc);
 * ```
 */
export class WorkerPool {
  /** Threads in all, this one included. */
  readonly threads: number;
  /** The model of this thread. */
  readonly model: tf.LayersModel;
  /** The flat weights every thread reads (see `flat_weights.ts`). */
  readonly weights: Float32Array;
  readonly #workers: PoolWorker[];
  #version = 0;

  private constructor(
    model: tf.LayersModel,
    threads: number,
    training?: TrainingMemory,
  ) {
    this.model = model;
    this.threads = threads;
    this.weights = training
      ? flatViews(training.flat).weights
      : new Float32Array(new SharedArrayBuffer(flatSizes(model).total * 4));
    this.#workers = Array.from({ length: threads - 1 }, () => new PoolWorker());
  }

  /**
   * Starts `threads - 1` workers with replicas of `model` and its current
   * weights.
   *
   * @throws {BackendError} when a worker cannot start.
   */
  static async create(
    model: tf.LayersModel,
    options: PoolOptions = {},
  ): Promise<WorkerPool> {
    const threads = options.threads ?? defaultThreads();
    checkWholeNumber("threads", threads, { min: 1, max: 256 });
    const pool = new WorkerPool(model, threads, options.training);
    const modelJson = JSON.stringify(model.toJSON(null, false));
    try {
      await Promise.all(pool.#workers.map((w, k) =>
        w.request<"ready">({
          type: "init",
          modelJson,
          weights: pool.weights,
          thread: k + 1,
          training: options.training,
        })
      ));
    } catch (e) {
      pool.dispose();
      throw e;
    }
    pool.publish();
    return pool;
  }

  /** Version of the shared weights; workers reload when it changes. */
  get version(): number {
    return this.#version;
  }

  /** Copies this thread's model weights to the shared weights. */
  publish(): void {
    writeFlat(this.model, this.weights);
    this.#version++;
  }

  /**
   * Marks the shared weights as changed (written by the caller, or in place
   * by an update's slices): each worker reloads them at its next job.
   */
  published(): void {
    this.#version++;
  }

  /** Sends `message` to worker `k` (thread `k + 1`). */
  request<T extends PoolReply["type"]>(
    k: number,
    message: PoolRequest,
  ): Promise<Extract<PoolReply, { type: T }>> {
    return this.#workers[k].request<T>(message);
  }

  /**
   * The forward pass over samples `start .. start+count` of `split` on every
   * thread, each claiming a batch at a time until none is left (a thread on
   * a busier core takes fewer; the results do not depend on who took which):
   * summed loss and hits, or the classes in order. `beforeBatch(done)` runs
   * before each batch of this thread, with the samples all threads finished;
   * when it throws, no thread starts another batch and the call rejects with
   * its error.
   */
  async forward(
    split: Split,
    options: ForwardOptions,
    beforeBatch?: (done: number) => void,
  ): Promise<ForwardResult> {
    const shared = shareSplit(split);
    const claims = forwardClaims(options);
    const replies = this.#workers.map((w) =>
      w.request<"forward">({
        type: "forward",
        split: shared,
        version: this.#version,
        claims,
        ...options,
      })
    );
    try {
      runClaims(this.model, shared, options, claims, beforeBatch);
    } catch (e) {
      // Stopped: the workers' replies are no longer awaited.
      for (const reply of replies) reply.catch(() => {});
      throw e;
    }
    await Promise.all(replies);
    return claimedResult(claims);
  }

  /** Stops the workers. */
  dispose(): void {
    this.#workers.forEach((w) => w.worker.terminate());
  }
}

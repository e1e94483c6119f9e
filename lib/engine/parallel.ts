/**
 * Data-parallel training on every core. Each thread (this one and the
 * workers of a {@linkcode WorkerPool}) computes the gradients of its share of
 * the batch into its row of shared memory; then each thread applies Keras's
 * Adadelta to its own slice of the weights, from every thread's gradients
 * weighted by share size, so neither the gradient sum nor the update waits on
 * one thread. A share left empty (a batch smaller than the threads) adds
 * nothing. Each step is therefore the same algorithm as on one thread:
 * dropout masks are keyed by sample, so the result differs from a one-thread
 * run only by float rounding. This thread loads the updated weights into its
 * model at the next step, once the workers have their requests (or at
 * `sync`, `evaluate`, `dispose`). This flat update supports Keras's Adadelta,
 * SGD and Adam (`flat_update.ts`); a model compiled with another optimizer
 * gets the summed gradients applied by that optimizer on this thread, a
 * slower step, and a one-line warning says so.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { shareSplit, type Split } from "../data.ts";
import { flatOrder, flatSizes, readFlat, writeFlat } from "./flat_weights.ts";
import {
  applyGradients,
  gradientsInto,
  localRunner,
  type StepRunner,
} from "./gradients.ts";
import {
  exportFlatState,
  FLAT_OPTIMIZERS,
  flatRule,
  flatUpdate,
  importFlatState,
  stateArrays,
} from "./flat_update.ts";
import { flatViews, makeFlatMemory } from "./flat_memory.ts";
import {
  defaultThreads,
  shares,
  type TrainingMemory,
  WorkerPool,
} from "./pool.ts";

/** Options of {@linkcode parallelRunner}. */
export interface ParallelOptions {
  /** Threads in all, this one included; default `navigator.hardwareConcurrency`. */
  threads?: number;
  /**
   * Where the one-line warning goes when the model's optimizer is one the
   * flat update does not support; default `console.warn`.
   */
  warn?: (message: string) => void;
}

/**
 * The one-line warning for a model whose optimizer the flat update does not
 * support, or `undefined` when it does.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { assert, assertEquals } from "@std/assert";
 * import { slowPathWarning } from "./parallel.ts";
 * assertEquals(slowPathWarning(tf.train.adam()), undefined);
 * assert(slowPathWarning(tf.train.rmsprop(0.01))?.startsWith("RMSProp"));
 * ```
 */
export function slowPathWarning(optimizer: tf.Optimizer): string | undefined {
  if (flatRule(optimizer)) return undefined;
  const name = (optimizer.constructor as { className?: string }).className ??
    optimizer.constructor.name;
  return `${name} leaves training's fast path (the flat update supports ` +
    `${FLAT_OPTIMIZERS}): tfjs applies it on one thread, a slower step`;
}

/**
 * Returns a {@linkcode StepRunner} that splits each batch over `threads`
 * threads (this one and `threads - 1` workers), and evaluates on all of them.
 * With one thread it runs the same flat update without workers (or, for a
 * model with an optimizer the flat update does not support, it is the plain
 * local runner, after a one-line warning). On a backend other than `wasm` it
 * is always the local runner, without a warning: the pool and the flat update
 * are the wasm engine's.
 *
 * @example
 * ```ts ignore
 * // ignored in CI: loads real MNIST; covered by tests/training_test.ts, "train: two and three threads (data-parallel workers, each updating a slice) give one thread's weights up to float summation order"
 * import { assertEquals } from "@std/assert";
 * import { buildModel, initBackend, loadMnist } from "../mod.ts";
 * import { parallelRunner } from "./parallel.ts";
 * await initBackend();
 * const mnist = await loadMnist();
 * const model = buildModel({ seed: 1 });
 * const runner = await parallelRunner(model, mnist.train, { threads: 2 });
 * await runner.step(new Uint32Array([0, 1, 2, 3]), { seed: 1, epoch: 0 });
 * runner.sync?.(); // the optimizer state back into model.optimizer
 * runner.dispose();
 * assertEquals(model.optimizer.iterations, 1);
 * ```
 */
export async function parallelRunner(
  model: tf.LayersModel,
  split: Split,
  options: ParallelOptions = {},
): Promise<StepRunner> {
  const threads = options.threads ?? defaultThreads();
  // The pool and the flat update are the wasm engine's; on another backend
  // (webgpu, cpu) tfjs's own kernels run every step on this thread.
  if (tf.getBackend() !== "wasm") return localRunner(model, split);
  const optimizer = model.optimizer;
  const rule = flatRule(optimizer);
  if (!rule) (options.warn ?? console.warn)(slowPathWarning(optimizer)!);
  // One thread with a supported optimizer takes the same path as several (a
  // pool without workers): the flat update is twice as fast as tfjs ops.
  if (threads <= 1 && !rule) return localRunner(model, split);
  const { trainable: n, total } = flatSizes(model);
  const trainable = flatOrder(model).slice(0, model.trainableWeights.length);
  const flat = makeFlatMemory({
    total,
    trainable: n,
    threads,
    states: rule ? stateArrays(rule) : 0,
  });
  const { grads, state } = flatViews(flat);
  const memory: TrainingMemory = { train: shareSplit(split), flat };
  if (rule) {
    const current = exportFlatState(optimizer, rule, trainable);
    state.forEach((s, k) => s.set(current[k]));
    memory.update = { rule };
  }
  const pool = await WorkerPool.create(model, { threads, training: memory });
  // Weight slices of the update, one per thread, on 16-byte boundaries.
  const slices = shares(n / 4, threads).map(([a, b]) =>
    [4 * a, Math.min(n, 4 * b)] as const
  );
  slices[threads - 1] = [slices[threads - 1][0], n];
  // The optimizer's iterations so far (Adam's bias correction counts them).
  let iterations = optimizer.iterations;
  let unsynced = 0;
  // This thread's model lags the shared weights by the last update: loaded
  // at the next step after the workers' requests go out (so that they start
  // sooner), or before anything else reads the model.
  let stale = false;
  const refresh = () => {
    if (stale) readFlat(model, pool.weights);
    stale = false;
  };
  const sync = () => {
    refresh();
    if (rule && unsynced > 0) {
      importFlatState(optimizer, rule, trainable, state, unsynced);
      unsynced = 0;
    }
  };

  return {
    async step(ids, keys) {
      const parts = shares(ids.length, threads);
      const replies = parts.slice(1).map(([a, b], k) =>
        pool.request<"step">(k, {
          type: "step",
          ids: ids.slice(a, b),
          ...keys,
          version: pool.version,
        })
      );
      let own;
      try {
        refresh();
        own = gradientsInto(
          model,
          memory.train,
          ids.subarray(...parts[0]),
          keys,
          grads[0],
        );
      } catch (e) {
        // This thread failed: the workers' replies are no longer awaited.
        for (const reply of replies) reply.catch(() => {});
        throw e;
      }
      const done = await Promise.all(replies);
      const loss = own.loss + done.reduce((s, r) => s + r.loss, 0);
      const correct = own.correct + done.reduce((s, r) => s + r.correct, 0);
      if (!Number.isFinite(loss)) return { loss, correct };
      const scales = parts.map(([a, b]) => (b - a) / ids.length);
      if (rule) {
        const step = ++iterations;
        const updates = slices.slice(1).map(([from, to], k) =>
          pool.request<"update">(k, { type: "update", scales, step, from, to })
        );
        const [from, to] = slices[0];
        flatUpdate(rule, pool.weights, grads, scales, state, step, from, to, {
          flat,
          thread: 0,
        });
        await Promise.all(updates);
        pool.published(); // the workers reload; this thread at its next step
        stale = true;
        unsynced++;
      } else {
        const sum = new Float32Array(n);
        for (let t = 0; t < threads; t++) {
          const g = grads[t], s = scales[t];
          for (let i = 0; i < n; i++) sum[i] += g[i] * s;
        }
        let offset = 0;
        const tensors = trainable.map((v) => {
          const t = tf.tensor(sum.subarray(offset, offset + v.size), v.shape);
          offset += v.size;
          return t;
        });
        applyGradients(model, tensors);
        tf.dispose(tensors);
        writeFlat(model, pool.weights);
        pool.published();
      }
      return { loss, correct };
    },
    async evaluate(split, beforeBatch) {
      refresh();
      const { loss, correct } = await pool.forward(split, {
        start: 0,
        count: split.count,
        mode: "evaluate",
      }, beforeBatch);
      return { loss: loss / split.count, acc: correct / split.count };
    },
    sync,
    dispose() {
      sync();
      pool.dispose();
    },
  };
}

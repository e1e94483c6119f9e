/**
 * Data-parallel training on every core. Each thread (this one and the
 * workers of a {@linkcode WorkerPool}) computes the gradients of its share of
 * the batch into its row of shared memory; then each thread applies Keras's
 * Adadelta to its own slice of the weights, from every thread's gradients
 * weighted by share size, so neither the gradient sum nor the update waits on
 * one thread. Each step is therefore the same algorithm as on one thread:
 * dropout masks are keyed by sample, so the result differs from a one-thread
 * run only by float rounding. A model compiled with another optimizer gets
 * the summed gradients applied by that optimizer on this thread.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type MnistSplit, shareSplit } from "../data.ts";
import { flatOrder, flatSizes, writeFlat } from "./flat_weights.ts";
import {
  applyGradients,
  computeGradients,
  copyOut,
  localRunner,
  type StepRunner,
} from "./gradients.ts";
import { adadeltaUpdate, KerasAdadelta } from "./optimizer.ts";
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
}

/**
 * Returns a {@linkcode StepRunner} that splits each batch over `threads`
 * threads (this one and `threads - 1` workers), and evaluates on all of them.
 * With one thread it runs the same flat update without workers (or, for a
 * model with another optimizer, it is the plain local runner).
 *
 * @example
 * ```ts
 * import { buildModel, initBackend, loadMnist } from "../mod.ts";
 * import { parallelRunner } from "./parallel.ts";
 * await initBackend();
 * const mnist = await loadMnist();
 * const model = buildModel({ seed: 1 });
 * const runner = await parallelRunner(model, mnist.train, { threads: 2 });
 * await runner.step(new Uint32Array([0, 1, 2, 3]), { seed: 1, epoch: 0 });
 * runner.sync?.(); // the optimizer state back into model.optimizer
 * runner.dispose();
 * ```
 */
export async function parallelRunner(
  model: tf.LayersModel,
  split: MnistSplit,
  options: ParallelOptions = {},
): Promise<StepRunner> {
  const threads = options.threads ?? defaultThreads();
  // Not `instanceof`: tfjs's Optimizer answers it for any optimizer.
  const optimizer = Object.prototype.isPrototypeOf.call(
      KerasAdadelta.prototype,
      model.optimizer,
    )
    ? model.optimizer as KerasAdadelta
    : undefined;
  // One thread with Keras's Adadelta takes the same path as several (a pool
  // without workers): the flat update is twice as fast as tfjs ops.
  if (threads <= 1 && !optimizer) return localRunner(model, split);
  const n = flatSizes(model).trainable;
  const trainable = flatOrder(model).slice(0, model.trainableWeights.length);
  const memory: TrainingMemory = {
    train: shareSplit(split),
    grads: new SharedArrayBuffer(threads * n * 4),
  };
  const state = optimizer && {
    accumGrad: new Float32Array(new SharedArrayBuffer(n * 4)),
    accumVar: new Float32Array(new SharedArrayBuffer(n * 4)),
  };
  if (optimizer && state) {
    const current = optimizer.exportState(trainable);
    state.accumGrad.set(current.accumGrad);
    state.accumVar.set(current.accumVar);
    memory.adadelta = {
      accumGrad: state.accumGrad.buffer as SharedArrayBuffer,
      accumVar: state.accumVar.buffer as SharedArrayBuffer,
      hyper: optimizer.hyper,
    };
  }
  const grads = Array.from(
    { length: threads },
    (_, t) => new Float32Array(memory.grads, t * n * 4, n),
  );
  const pool = await WorkerPool.create(model, { threads, training: memory });
  // Weight slices of the update, one per thread, on 16-byte boundaries.
  const slices = shares(n / 4, threads).map(([a, b]) =>
    [4 * a, Math.min(n, 4 * b)] as const
  );
  slices[threads - 1] = [slices[threads - 1][0], n];
  let unsynced = 0;
  const sync = () => {
    if (optimizer && state && unsynced > 0) {
      optimizer.importState(trainable, state, unsynced);
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
      const own = computeGradients(
        model,
        memory.train,
        ids.subarray(...parts[0]),
        keys,
      );
      if (Number.isFinite(own.loss)) copyOut(own.grads, grads[0]);
      tf.dispose(own.grads);
      const done = await Promise.all(replies);
      const loss = own.loss + done.reduce((s, r) => s + r.loss, 0);
      const correct = own.correct + done.reduce((s, r) => s + r.correct, 0);
      if (!Number.isFinite(loss)) return { loss, correct };
      const scales = parts.map(([a, b]) => (b - a) / ids.length);
      if (optimizer && state) {
        const updates = slices.slice(1).map(([from, to], k) =>
          pool.request<"update">(k, { type: "update", scales, from, to })
        );
        const [from, to] = slices[0];
        adadeltaUpdate(
          pool.weights,
          grads,
          scales,
          state,
          optimizer.hyper,
          from,
          to,
        );
        await Promise.all(updates);
        pool.updated();
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
    async evaluate(split) {
      const { loss, correct } = await pool.forward(split, {
        start: 0,
        count: split.count,
        mode: "evaluate",
      });
      return { loss: loss / split.count, acc: correct / split.count };
    },
    sync,
    dispose() {
      sync();
      pool.dispose();
    },
  };
}

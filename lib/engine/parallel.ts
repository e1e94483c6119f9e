/**
 * Data-parallel training on every core: worker threads each hold a replica of
 * the model on their own WASM backend and compute the gradients of their share
 * of each batch; this thread computes its own share, averages the gradients
 * (weighted by share size) and applies them with the model's optimizer, then
 * publishes the new weights through shared memory. Each step is therefore the
 * same algorithm as on one thread: dropout masks are keyed by sample, so the
 * result differs from a one-thread run only by float summation order.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { MnistSplit } from "../data.ts";
import {
  applyGradients,
  computeGradients,
  localRunner,
  type StepRunner,
} from "./gradients.ts";

/** A message to a gradient worker. */
export type WorkerRequest =
  | {
    type: "init";
    modelJson: string;
    images: Uint8Array;
    labels: Uint8Array;
    count: number;
    weights: SharedArrayBuffer;
    grads: SharedArrayBuffer;
  }
  | { type: "step"; ids: Uint32Array; seed: number; epoch: number };

/** A gradient worker's answer: ready, a step done, or a failure. */
export type WorkerReply =
  | { type: "ready" }
  | { type: "step"; loss: number; correct: number }
  | { type: "error"; message: string };

/** Options of {@linkcode parallelRunner}. */
export interface ParallelOptions {
  /** Threads in all, this one included; default `navigator.hardwareConcurrency`. */
  threads?: number;
}

/** Number of threads used by default: every core. */
export function defaultThreads(): number {
  return Math.max(1, navigator.hardwareConcurrency || 1);
}

class GradientWorker {
  readonly worker: Worker;
  #pending?: { resolve: (r: WorkerReply) => void; reject: (e: Error) => void };

  constructor() {
    this.worker = new Worker(new URL("./worker.ts", import.meta.url), {
      type: "module",
    });
    this.worker.onmessage = (e: MessageEvent<WorkerReply>) => {
      const pending = this.#pending;
      this.#pending = undefined;
      if (e.data.type === "error") {
        pending?.reject(new Error(`gradient worker: ${e.data.message}`));
      } else pending?.resolve(e.data);
    };
    this.worker.onerror = (e) => {
      e.preventDefault();
      this.#pending?.reject(new Error(`gradient worker crashed: ${e.message}`));
      this.#pending = undefined;
    };
  }

  request(message: WorkerRequest): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.worker.postMessage(message);
    });
  }
}

/**
 * Splits `n` samples into `parts` contiguous shares of near-equal size.
 *
 * @example
 * ```ts
 * import { shares } from "./parallel.ts";
 * shares(128, 3); // [[0, 43], [43, 86], [86, 128]]
 * ```
 */
export function shares(n: number, parts: number): [number, number][] {
  return Array.from({ length: parts }, (_, k) => [
    Math.floor((n * k) / parts),
    Math.floor((n * (k + 1)) / parts),
  ]);
}

/**
 * Returns a {@linkcode StepRunner} that splits each batch over `threads`
 * threads (this one and `threads - 1` workers); with one thread it is the
 * plain local runner.
 */
export async function parallelRunner(
  model: tf.LayersModel,
  split: MnistSplit,
  options: ParallelOptions = {},
): Promise<StepRunner> {
  const threads = options.threads ?? defaultThreads();
  if (threads <= 1) return localRunner(model, split);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const sizes = vars.map((v) => v.size);
  const offsets = sizes.map((_, i) =>
    sizes.slice(0, i).reduce((a, b) => a + b, 0)
  );
  const total = sizes.reduce((a, b) => a + b, 0);
  const weights = new SharedArrayBuffer(total * 4);
  const weightView = new Float32Array(weights);
  const workers = Array.from(
    { length: threads - 1 },
    () => new GradientWorker(),
  );
  const gradBuffers = workers.map(() => new SharedArrayBuffer(total * 4));
  const modelJson = JSON.stringify(model.toJSON(null, false));

  const publishWeights = () => {
    vars.forEach((v, i) =>
      weightView.set(v.dataSync() as Float32Array, offsets[i])
    );
  };
  try {
    await Promise.all(workers.map((w, k) =>
      w.request({
        type: "init",
        modelJson,
        images: split.images,
        labels: split.labels,
        count: split.count,
        weights,
        grads: gradBuffers[k],
      })
    ));
  } catch (e) {
    workers.forEach((w) => w.worker.terminate());
    throw e;
  }
  publishWeights();

  return {
    async step(ids, keys) {
      const parts = shares(ids.length, threads);
      const replies = workers.map((w, k) =>
        w.request({ type: "step", ids: ids.slice(...parts[k + 1]), ...keys })
      );
      const own = computeGradients(
        model,
        split,
        ids.subarray(...parts[0]),
        keys,
      );
      const done = await Promise.all(replies) as Extract<
        WorkerReply,
        { type: "step" }
      >[];
      const loss = own.loss + done.reduce((s, r) => s + r.loss, 0);
      const correct = own.correct + done.reduce((s, r) => s + r.correct, 0);
      if (Number.isFinite(loss)) {
        const n = ids.length;
        const grads = tf.tidy(() =>
          own.grads.map((g, i) => {
            let sum = g.mul((parts[0][1] - parts[0][0]) / n);
            gradBuffers.forEach((buffer, k) => {
              const part = new Float32Array(buffer, offsets[i] * 4, sizes[i]);
              const weight = (parts[k + 1][1] - parts[k + 1][0]) / n;
              sum = sum.add(tf.tensor(part, g.shape).mul(weight));
            });
            return sum;
          })
        );
        applyGradients(model, grads);
        tf.dispose(grads);
        publishWeights();
      }
      tf.dispose(own.grads);
      return { loss, correct };
    },
    dispose() {
      workers.forEach((w) => w.worker.terminate());
    },
  };
}

/**
 * A gradient worker of {@linkcode parallelRunner}: holds a replica of the
 * model on its own WASM backend, reads the current weights from shared memory
 * and writes the gradients of its share of each batch back.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend.ts";
import type { MnistSplit } from "../data.ts";
import type { WorkerReply, WorkerRequest } from "./parallel.ts";
import { computeGradients } from "./gradients.ts";

let model: tf.LayersModel;
let split: MnistSplit;
let weights: Float32Array;
let grads: Float32Array;

function loadWeights(): void {
  let offset = 0;
  for (const w of model.trainableWeights) {
    const v = w.read() as tf.Variable;
    v.assign(tf.tensor(weights.subarray(offset, offset + v.size), v.shape));
    offset += v.size;
  }
}

async function handle(message: WorkerRequest): Promise<WorkerReply> {
  if (message.type === "init") {
    await initBackend();
    model = await tf.models.modelFromJSON(JSON.parse(message.modelJson));
    split = {
      images: message.images,
      labels: message.labels,
      count: message.count,
      rows: 28,
      cols: 28,
    };
    weights = new Float32Array(message.weights);
    grads = new Float32Array(message.grads);
    return { type: "ready" };
  }
  tf.tidy(loadWeights);
  const result = computeGradients(model, split, message.ids, message);
  let offset = 0;
  for (const g of result.grads) {
    grads.set(g.dataSync() as Float32Array, offset);
    offset += g.size;
  }
  tf.dispose(result.grads);
  return { type: "step", loss: result.loss, correct: result.correct };
}

self.onmessage = async (e: MessageEvent<WorkerRequest>) => {
  try {
    self.postMessage(await handle(e.data));
  } catch (err) {
    self.postMessage({
      type: "error",
      message: err instanceof Error ? err.message : String(err),
    });
  }
};

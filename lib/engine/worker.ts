/**
 * A thread of {@linkcode WorkerPool}: holds a replica of the model on its own
 * WASM backend, reloads the shared weights when their version changed, and
 * runs its share of forward passes, gradient steps and weight updates.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend.ts";
import { readFlat } from "./flat_weights.ts";
import { flatViews } from "./flat_memory.ts";
import { runClaims } from "./forward.ts";
import { gradientsInto } from "./gradients.ts";
import { flatUpdate } from "./flat_update.ts";
import type { PoolReply, PoolRequest, TrainingMemory } from "./pool.ts";

let model: tf.LayersModel;
let weights: Float32Array;
let loaded = -1;
let training: TrainingMemory | undefined;
let grads: Float32Array[] = [];
let state: Float32Array[] = [];
let thread = 0;

/** Loads the shared weights into the replica unless it has this version. */
function load(version: number): void {
  if (version === loaded) return;
  readFlat(model, weights);
  loaded = version;
}

async function handle(message: PoolRequest): Promise<PoolReply> {
  switch (message.type) {
    case "init": {
      await initBackend();
      model = await tf.models.modelFromJSON(JSON.parse(message.modelJson));
      weights = message.weights;
      thread = message.thread;
      training = message.training;
      if (training) ({ grads, state } = flatViews(training.flat));
      return { type: "ready" };
    }
    case "step": {
      load(message.version);
      const result = gradientsInto(
        model,
        training!.train,
        message.ids,
        message,
        grads[thread],
      );
      return { type: "step", loss: result.loss, correct: result.correct };
    }
    case "update": {
      flatUpdate(
        training!.update!.rule,
        weights,
        grads,
        message.scales,
        state,
        message.step,
        message.from,
        message.to,
        { flat: training!.flat, thread },
      );
      return { type: "update" };
    }
    case "forward": {
      load(message.version);
      runClaims(model, message.split, message, message.claims);
      return { type: "forward" };
    }
  }
}

self.onmessage = async (e: MessageEvent<PoolRequest>) => {
  try {
    self.postMessage(await handle(e.data));
  } catch (err) {
    self.postMessage({
      type: "error",
      message: err instanceof Error ? err.message : String(err),
    });
  }
};

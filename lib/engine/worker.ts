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
import { forwardRange } from "./forward.ts";
import { gradientsInto } from "./gradients.ts";
import { flatUpdate } from "./flat_update.ts";
import { StepBarrier } from "./barrier.ts";
import type { PoolReply, PoolRequest, TrainingMemory } from "./pool.ts";

let model: tf.LayersModel;
let weights: Float32Array;
let loaded = -1;
let training: TrainingMemory | undefined;
let grads: Float32Array[] = [];
let state: Float32Array[] = [];
let thread = 0;
let barrier: StepBarrier | undefined;

/** Loads the shared weights into the replica unless it has this version. */
function load(version: number): void {
  if (version === loaded) return;
  readFlat(model, weights);
  loaded = version;
}

async function handle(
  message: PoolRequest,
): Promise<PoolReply | undefined> {
  switch (message.type) {
    case "init": {
      await initBackend();
      model = await tf.models.modelFromJSON(JSON.parse(message.modelJson));
      weights = message.weights;
      thread = message.thread;
      training = message.training;
      if (training) {
        ({ grads, state } = flatViews(training.flat));
        barrier = new StepBarrier(
          training.barrier,
          training.flat.layout.threads,
        );
      }
      return { type: "ready" };
    }
    case "step": {
      load(message.version);
      const update = message.update;
      let result;
      try {
        result = gradientsInto(
          model,
          training!.train,
          message.ids,
          message,
          grads[thread],
        );
      } catch (e) {
        if (update) barrier!.fail();
        throw e;
      }
      if (!update) {
        return { type: "step", loss: result.loss, correct: result.correct };
      }
      // Meet the other threads: every gradient row written; then update this
      // thread's slice, meet again (every slice written), load the weights.
      barrier!.report(thread, result.loss, result.correct);
      barrier!.meet();
      if (!barrier!.totals().finite) return undefined;
      flatUpdate(
        training!.update!.rule,
        weights,
        grads,
        update.scales,
        state,
        update.step,
        update.from,
        update.to,
        { flat: training!.flat, thread },
      );
      barrier!.meet();
      readFlat(model, weights);
      loaded = message.version + 1;
      return undefined;
    }
    case "forward": {
      load(message.version);
      return {
        type: "forward",
        ...forwardRange(model, message.split, message),
      };
    }
  }
}

self.onmessage = async (e: MessageEvent<PoolRequest>) => {
  try {
    const reply = await handle(e.data);
    if (reply) self.postMessage(reply);
  } catch (err) {
    self.postMessage({
      type: "error",
      message: err instanceof Error ? err.message : String(err),
    });
  }
};

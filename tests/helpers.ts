/** Shared fixtures of the tests: real MNIST (cached once), a silent sink. */
import {
  initBackend,
  loadMnist,
  type Mnist,
  type ProgressSink,
} from "../lib/mod.ts";

let mnist: Promise<Mnist> | undefined;

/** Initialises the wasm backend and loads real MNIST once per test file. */
export async function realMnist(): Promise<Mnist> {
  await initBackend();
  mnist ??= loadMnist();
  return await mnist;
}

/** A progress sink that shows nothing. */
export const silent: ProgressSink = { intervalMs: Infinity, write() {} };

/** Every weight of a model as plain arrays, for exact comparisons. */
export function weightsOf(
  model: {
    getWeights(): { dataSync(): Float32Array | Int32Array | Uint8Array }[];
  },
): number[][] {
  return model.getWeights().map((w) => Array.from(w.dataSync()));
}

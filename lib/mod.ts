/**
 * The Keras "MNIST CNN" tutorial as a TypeScript library for Deno, on
 * TensorFlow.js's WASM backend: load MNIST, build the CNN, train, save,
 * reload, predict.
 *
 * @example
 * ```ts
 * import * as mnist from "./mod.ts";
 * await mnist.initBackend();
 * const data = await mnist.loadMnist();
 * const model = mnist.buildModel({ seed: 42 });
 * await mnist.train(model, data, { epochs: 1, seed: 42 });
 * const dir = await mnist.saveModel(model);
 * const reloaded = await mnist.loadModel(dir);
 * console.log(mnist.predictClasses(reloaded, data.train).join(" "));
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export * from "./backend.ts";
export * from "./data.ts";
export * from "./model.ts";
export * from "./engine/gradients.ts";
export * from "./engine/parallel.ts";
export * from "./engine/pool.ts";
export * from "./training.ts";
export * from "./saving.ts";
export * from "./predict.ts";
export * from "./engine/progress.ts";
export * from "./jupyter/mod.ts";
export * from "./display.ts";
export * from "./image/mod.ts";
export * from "./charts/mod.ts";
export * from "./keras/mod.ts";
export * from "./datasets/mod.ts";

/**
 * Your own pictures of digits: decoding PNG and JPEG, and MNIST-style
 * preprocessing into the model's 28×28 input.
 *
 * @example
 * ```ts ignore
 * // ignored: needs a trained model in models/mnist_cnn (deno task train)
 * import { assertEquals } from "@std/assert";
 * import { readImage, toMnistInput } from "./mod.ts";
 * import { initBackend, loadModel, predictInputs } from "../mod.ts";
 * await initBackend();
 * const model = await loadModel();
 * const picture = await readImage("notebooks/sample_digits/digit_7.png");
 * assertEquals((await predictInputs(model, [toMnistInput(picture)])).classes, [7]);
 * ```
 *
 * @module
 */
export * from "./decode.ts";
export * from "./preprocess.ts";
export * from "./files.ts";
export * from "./resize.ts";
export * from "./encode.ts";
export * from "./palette.ts";

/**
 * Your own pictures of digits: decoding PNG and JPEG, and MNIST-style
 * preprocessing into the model's 28×28 input.
 *
 * @example
 * ```ts
 * import { decodeImage, toMnistInput } from "./mod.ts";
 * import { initBackend, loadModel, predictInputs } from "../mod.ts";
 * await initBackend();
 * const model = await loadModel();
 * const picture = decodeImage(await Deno.readFile("seven.png"), "seven.png");
 * console.log(predictInputs(model, [toMnistInput(picture)]).classes); // [7]
 * ```
 *
 * @module
 */
export * from "./decode.ts";
export * from "./preprocess.ts";
export * from "./files.ts";
export * from "./resize.ts";

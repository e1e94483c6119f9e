/**
 * Keras interop without Python: read `.h5` (Keras 2, tf.keras 2.x, Keras 3
 * legacy) and `.keras` (Keras 3) models, and write both.
 *
 * @example
 * ```ts
 * import { loadKeras, saveKeras } from "./mod.ts";
 * const model = await loadKeras("mnist_cnn_model.h5");
 * await saveKeras(model, "mnist_cnn.keras");
 * ```
 *
 * @module
 */
export * from "./config.ts";
export {
  isKerasPath,
  loadKeras,
  MAX_MEMBER_BYTES,
  PICTURE_INPUTS,
  snakeCase,
} from "./read.ts";
export * from "./write.ts";

/**
 * Keras interop without Python: read `.h5` (Keras 2, tf.keras 2.x, Keras 3
 * legacy) and `.keras` (Keras 3) models, and write both.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel } from "../model.ts";
 * import { loadKeras, saveKeras } from "./mod.ts";
 * const dir = await Deno.makeTempDir();
 * await saveKeras(buildModel({ seed: 1 }), `${dir}/mnist_cnn.keras`);
 * const model = await loadKeras(`${dir}/mnist_cnn.keras`);
 * assertEquals(model.countParams(), 1199882);
 * await Deno.remove(dir, { recursive: true });
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

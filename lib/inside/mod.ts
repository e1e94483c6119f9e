/**
 * Looking inside the CNN: every layer's activations, the learned kernels,
 * saliency (plain and SmoothGrad), Grad-CAM and occlusion sensitivity, for
 * the tutorial's model and any Sequential conv net the project loads
 * (including Keras files), in batches on the active backend; and their
 * pictures for notebooks, the report and the drawing page. See
 * `docs/inside.md`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, initBackend } from "../mod.ts";
 * import { explain } from "./mod.ts";
 * await initBackend();
 * const e = explain(buildModel({ seed: 1 }), [new Float32Array(784)]);
 * assertEquals(e.layer, "conv2d_1");
 * ```
 *
 * @module
 */
export { type Chain, digitInputs, type Inputs, layerChain } from "./network.ts";
export * from "./activations.ts";
export * from "./filters.ts";
export {
  type Explained,
  saliency,
  type SaliencyOptions,
  type SmoothGradOptions,
} from "./saliency.ts";
export {
  gradCam,
  type GradCamOptions,
  type GradCamResult,
  layerGeometry,
  MAP_SIDE,
} from "./grad_cam.ts";
export * from "./occlusion.ts";
export * from "./explain.ts";
export * from "./show.ts";

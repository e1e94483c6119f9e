/**
 * Training kernels for tfjs's wasm backend: `Conv2DBackpropFilter` (missing
 * from the stock backend), `Conv2DBackpropInput` and a `BatchMatMul` that
 * keeps transposed and batched products on XNNPACK (the stock ones fall back
 * to scalar loops). These three run on the backend's own XNNPACK `Conv2D` and
 * fully-connected paths. `MaxPoolGrad` replaces the stock scalar loop with
 * plain JS over the wasm heap.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { registerTrainingKernels } from "./mod.ts";
 * await tf.setBackend("wasm");
 * registerTrainingKernels();
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { makeBatchMatMul, stockMatMul } from "./batch_mat_mul.ts";
import { makeConv2DBackpropFilter } from "./conv2d_backprop_filter.ts";
import { conv2DBackpropInput } from "./conv2d_backprop_input.ts";
import { makeMaxPoolGrad } from "./max_pool_grad.ts";
import { WASM, type WasmKernelFunc } from "./wasm_util.ts";

export {
  makeBatchMatMul,
  type MatMulFunc,
  stockMatMul,
} from "./batch_mat_mul.ts";
export { makeConv2DBackpropFilter } from "./conv2d_backprop_filter.ts";
export { conv2DBackpropInput } from "./conv2d_backprop_input.ts";
export { makeMaxPoolGrad } from "./max_pool_grad.ts";

/** Names of the kernels {@link registerTrainingKernels} installs for wasm. */
export const TRAINING_KERNELS = [
  "BatchMatMul",
  "Conv2DBackpropFilter",
  "Conv2DBackpropInput",
  "MaxPoolGrad",
] as const;

/**
 * Marks our kernel functions, shared through the global symbol registry so
 * that a second copy of this module recognises them too.
 */
const OURS = Symbol.for("mnist-cnn.trainingKernel");

type Marked = tf.KernelFunc & { [OURS]?: true };

/**
 * Registers {@link TRAINING_KERNELS} for the `wasm` backend, replacing the
 * stock `BatchMatMul`, `Conv2DBackpropInput` and `MaxPoolGrad` (the stock
 * `BatchMatMul` is kept and called for plain products, the stock `MaxPoolGrad`
 * for cases ours does not handle). Idempotent; call it after importing
 * `@tensorflow/tfjs-backend-wasm`, before or after `tf.setBackend("wasm")`.
 *
 * @throws {Error} when the wasm backend's kernels are not registered.
 */
export function registerTrainingKernels(): void {
  const current = tf.getKernel("BatchMatMul", WASM);
  if (current === undefined) {
    throw new Error(
      "the wasm backend is not loaded: import @tensorflow/tfjs-backend-wasm first",
    );
  }
  if ((current.kernelFunc as Marked)[OURS]) return;

  const stock = current.kernelFunc as unknown as WasmKernelFunc;
  replace({
    kernelName: "BatchMatMul",
    backendName: WASM,
    kernelFunc: mark(makeBatchMatMul(stock)),
    // The stock kernel function needs its setup to have run on the backend.
    setupFunc: current.setupFunc,
    disposeFunc: current.disposeFunc,
  });
  replace({
    kernelName: "Conv2DBackpropFilter",
    backendName: WASM,
    kernelFunc: mark(makeConv2DBackpropFilter(stockMatMul(stock))),
  });
  replace({
    kernelName: "Conv2DBackpropInput",
    backendName: WASM,
    kernelFunc: mark(conv2DBackpropInput),
  });
  const stockPoolGrad = tf.getKernel("MaxPoolGrad", WASM);
  if (stockPoolGrad !== undefined) {
    replace({
      kernelName: "MaxPoolGrad",
      backendName: WASM,
      kernelFunc: mark(
        makeMaxPoolGrad(
          stockPoolGrad.kernelFunc as unknown as WasmKernelFunc,
        ),
      ),
      // The stock kernel, our fallback, needs its setup on the backend.
      setupFunc: stockPoolGrad.setupFunc,
      disposeFunc: stockPoolGrad.disposeFunc,
    });
  }
}

function mark(kernelFunc: unknown): tf.KernelFunc {
  const marked = kernelFunc as Marked;
  marked[OURS] = true;
  return marked;
}

function replace(config: tf.KernelConfig): void {
  if (tf.getKernel(config.kernelName, config.backendName) !== undefined) {
    tf.unregisterKernel(config.kernelName, config.backendName);
  }
  tf.registerKernel(config);
}

/**
 * Training kernels for tfjs's wasm backend: `Conv2DBackpropFilter` (missing
 * from the stock backend), `Conv2DBackpropInput` and a `BatchMatMul` that
 * keeps transposed and batched products on XNNPACK (the stock ones fall back
 * to scalar loops). These three run on the backend's own XNNPACK `Conv2D` and
 * fully-connected paths; `Conv2D` and `FusedConv2D` (and with them the input
 * gradient) run 3x3 convolutions with many channels as Winograd F(6x6,3x3)
 * with WASM SIMD transforms (part of the SIMD module, `simd/`). `MaxPoolGrad`
 * and `Sum` over leading axes (the bias
 * gradients) replace the stock scalar loop and transpose with plain JS over
 * the wasm heap. `Identity` shares its input's data instead of copying it
 * (the engine clones every tensor a gradient keeps). ReLU's gradient runs as
 * one kernel (`relu_grad.ts`, for wasm and cpu) instead of three. At
 * inference, `MnistCnnConv2DReluPool` runs a convolution with its ReLU and
 * the 2x2 max pool after it, the pool in Winograd's output transform.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { assertEquals } from "@std/assert";
 * import { initBackend } from "../backend.ts"; // calls registerTrainingKernels()
 * await initBackend();
 * const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
 * const g = tf.grad((x) => tf.maxPool(x as tf.Tensor4D, 2, 2, "valid").sum())(x);
 * assertEquals(Array.from(g.dataSync()), [0, 0, 0, 1]); // MaxPoolGrad on wasm
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { BackendError } from "../errors.ts";
import {
  makeBatchMatMul,
  makeFusedMatMul,
  stockMatMul,
} from "./batch_mat_mul.ts";
import {
  makeConv2DBackpropFilter,
  registerReluFilterGrad,
} from "./conv2d_backprop_filter.ts";
import { conv2DBackpropInput } from "./conv2d_backprop_input.ts";
import {
  makeConv2D,
  makeFusedConv2D,
  registerConv2DReluPool,
} from "./conv2d.ts";
import { makeCast, makeIdentity } from "./identity.ts";
import { makeMaxPoolGrad } from "./max_pool_grad.ts";
import { registerReluGrad } from "./relu_grad.ts";
import { registerPoolReluGrad } from "./pool_relu_grad.ts";
import { makeSum } from "./sum.ts";
import { WASM, type WasmKernelFunc } from "./wasm_util.ts";

export {
  makeBatchMatMul,
  makeFusedMatMul,
  type MatMulFunc,
  stockMatMul,
  withPackableOperand,
} from "./batch_mat_mul.ts";
export { makeConv2DBackpropFilter } from "./conv2d_backprop_filter.ts";
export { conv2DBackpropInput } from "./conv2d_backprop_input.ts";
export {
  CONV_RELU_POOL,
  FIRST_CONVS_POOL,
  makeConv2D,
  makeFusedConv2D,
  registerConv2DReluPool,
  useWinograd,
} from "./conv2d.ts";
export { makeCast, makeIdentity } from "./identity.ts";
export { makeMaxPoolGrad } from "./max_pool_grad.ts";
export { registerReluGrad, RELU_GRAD } from "./relu_grad.ts";
export {
  canPoolReluGrad,
  POOL_RELU_GRAD,
  registerPoolReluGrad,
} from "./pool_relu_grad.ts";
export { makeSum } from "./sum.ts";
export {
  canReluFilterGrad,
  registerReluFilterGrad,
  RELU_FILTER_GRAD,
} from "./conv2d_backprop_filter.ts";

/** Names of the kernels {@link registerTrainingKernels} installs for wasm. */
export const TRAINING_KERNELS = [
  "BatchMatMul",
  "Cast",
  "Conv2D",
  "Conv2DBackpropFilter",
  "Conv2DBackpropInput",
  "FusedConv2D",
  "Identity",
  "MaxPoolGrad",
  "Sum",
  "_FusedMatMul",
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
 * for cases ours does not handle), and wrapping `_FusedMatMul` so that its
 * cache of packed weights cannot serve data under another shape. Idempotent; call it after importing
 * `@tensorflow/tfjs-backend-wasm`, before or after `tf.setBackend("wasm")`.
 *
 * @throws {BackendError} when the wasm backend's kernels are not registered.
 */
export function registerTrainingKernels(): void {
  const current = tf.getKernel("BatchMatMul", WASM);
  if (current === undefined) {
    throw new BackendError(
      "the wasm backend is not loaded: import @tensorflow/tfjs-backend-wasm first",
    );
  }
  if ((current.kernelFunc as Marked)[OURS]) return;

  const batchMatMul = wrapStock("BatchMatMul", makeBatchMatMul);
  replace({
    kernelName: "Conv2DBackpropFilter",
    backendName: WASM,
    kernelFunc: mark(makeConv2DBackpropFilter(stockMatMul(batchMatMul))),
  });
  replace({
    kernelName: "Conv2DBackpropInput",
    backendName: WASM,
    kernelFunc: mark(conv2DBackpropInput),
  });
  wrapStock("Conv2D", makeConv2D);
  wrapStock("FusedConv2D", makeFusedConv2D);
  wrapStock("Cast", makeCast);
  wrapStock("Identity", makeIdentity);
  wrapStock("MaxPoolGrad", makeMaxPoolGrad);
  wrapStock("Sum", makeSum);
  wrapStock("_FusedMatMul", makeFusedMatMul);
  registerReluGrad();
  registerPoolReluGrad();
  registerReluFilterGrad();
  registerConv2DReluPool();
}

/** The stock wasm kernels that {@linkcode registerTrainingKernels} wrapped. */
const stockKernels = new Map<string, WasmKernelFunc>();

/**
 * The stock wasm kernel function `name` as it was before
 * {@linkcode registerTrainingKernels} wrapped it (`BatchMatMul`, `Conv2D`,
 * `FusedConv2D`, `MaxPoolGrad`, `Sum`), for benchmarks against it.
 *
 * @throws {TypeError} when `name` was not wrapped.
 */
export function stockKernel(name: string): WasmKernelFunc {
  const kernel = stockKernels.get(name);
  if (kernel === undefined) {
    throw new TypeError(`no stock '${name}' kernel was wrapped`);
  }
  return kernel;
}

/**
 * Replaces the stock wasm kernel `name` by `make(stock)`, keeping the stock
 * setup so that the stock function still works as the fallback; returns the
 * stock function.
 */
function wrapStock(
  name: string,
  make: (stock: WasmKernelFunc) => WasmKernelFunc,
): WasmKernelFunc {
  const config = tf.getKernel(name, WASM);
  if (config === undefined) {
    throw new BackendError(`the wasm backend has no '${name}' kernel`);
  }
  const stock = config.kernelFunc as unknown as WasmKernelFunc;
  stockKernels.set(name, stock);
  replace({
    kernelName: name,
    backendName: WASM,
    kernelFunc: mark(make(stock)),
    setupFunc: config.setupFunc,
    disposeFunc: config.disposeFunc,
  });
  return stock;
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

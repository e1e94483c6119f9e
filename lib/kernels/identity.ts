/**
 * `Identity` for the wasm backend without a copy. tfjs's engine clones every
 * tensor a gradient needs (`saveTensorsForBackwardMode` runs `Identity`), and
 * the stock wasm kernel copies the data each time: three copies of conv2's
 * 18.9 MB output per training step, among others. Tensors are immutable
 * (a variable's `assign` swaps its data id, never writes in place), so the
 * clone can share the data under a reference count, as `Reshape` does on the
 * wasm backend and `Identity` does on the `cpu` backend.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { KernelArgs, WasmKernelFunc } from "./wasm_util.ts";

/**
 * Makes the `Identity` kernel function; `stock` (the wasm backend's own,
 * copying kernel) handles string tensors, which live outside the heap.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { assertEquals } from "@std/assert";
 * import { initBackend } from "../backend.ts"; // registers makeIdentity(stock) for wasm
 * await initBackend();
 * const x = tf.tensor([1, 2, 3]);
 * const y = tf.engine().runKernel("Identity", { x }) as tf.Tensor;
 * x.dispose(); // y still holds [1, 2, 3]: the data is freed with its last user
 * assertEquals(Array.from(y.dataSync()), [1, 2, 3]);
 * ```
 */
export function makeIdentity(stock: WasmKernelFunc): WasmKernelFunc {
  return function identity(args: KernelArgs): tf.TensorInfo {
    const x = args.inputs.x as tf.TensorInfo;
    if (x.dtype === "string") return stock(args);
    args.backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

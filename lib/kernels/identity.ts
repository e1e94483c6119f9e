/**
 * `Identity`, and `Cast` to the tensor's own dtype, for the wasm backend
 * without a copy. tfjs's engine clones every
 * tensor a gradient needs (`saveTensorsForBackwardMode` runs `Identity`), and
 * the stock wasm kernel copies the data each time: three copies of conv2's
 * 18.9 MB output per training step, among others. Tensors are immutable
 * (a variable's `assign` swaps its data id, never writes in place), so the
 * clone can share the data under a reference count, as `Reshape` does on the
 * wasm backend and `Identity` does on the `cpu` backend. A `Cast` that
 * changes nothing is the same clone: `tf.mul`'s gradient casts its other
 * operand to float32 (dropout's float32 mask, 4.7 MB a step, copied).
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

/**
 * Makes the `Cast` kernel function: a float32 or int32 tensor cast to its
 * own dtype shares the data as {@link makeIdentity} does; a number cast to
 * bool is 1 where it is not 0, as on the cpu backend (the stock wasm kernel
 * stores the number modulo 256: -3 became 253, 256 became false); `stock`
 * (the wasm backend's own) does every other cast.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { assert, assertEquals } from "@std/assert";
 * import { initBackend } from "../backend.ts"; // registers makeCast(stock) for wasm
 * await initBackend();
 * const x = tf.tensor([1.5, 2, 3]);
 * const same = tf.cast(x, "float32");
 * assert(same.dataId === x.dataId); // shared, not copied
 * const other = tf.cast(x, "int32");
 * assertEquals(Array.from(other.dataSync()), [1, 2, 3]);
 * const truth = tf.cast(tf.tensor([-3, 0, 256]), "bool");
 * assertEquals(Array.from(truth.dataSync()), [1, 0, 1]);
 * tf.dispose([x, same, other, truth]);
 * ```
 */
export function makeCast(stock: WasmKernelFunc): WasmKernelFunc {
  return function cast(args: KernelArgs): tf.TensorInfo {
    const x = args.inputs.x as tf.TensorInfo;
    const { dtype } = args.attrs as unknown as tf.CastAttrs;
    const numeric = x.dtype === "float32" || x.dtype === "int32";
    if (dtype === "bool" && numeric) {
      const out = args.backend.makeOutput(x.shape, "bool");
      const from = args.backend.typedArrayFromHeap(x);
      const to = args.backend.typedArrayFromHeap(out);
      for (let i = 0; i < from.length; i++) to[i] = from[i] !== 0 ? 1 : 0;
      return out;
    }
    if (dtype !== x.dtype || !numeric) return stock(args);
    args.backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

/**
 * Small helpers shared by the training kernels: calling the wasm backend's
 * own (XNNPACK-backed) kernels on raw {@link tf.TensorInfo}s, freeing
 * intermediates, and copying runs of floats on the wasm heap.
 *
 * Heap views go stale whenever the wasm memory grows, which any allocation
 * (`makeOutput`, or a stock kernel making its output) may do: always fetch
 * {@link heapF32} again after allocating.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";

/** Name of the backend the training kernels are registered for. */
export const WASM = "wasm";

/** Arguments every kernel function receives from the tfjs engine. */
export interface KernelArgs {
  /** Named input tensors. */
  inputs: tf.NamedTensorInfoMap;
  /** The backend running the kernel: here always the wasm backend. */
  backend: BackendWasm;
  /** The kernel's attributes. */
  attrs?: tf.NamedAttrMap;
}

/** A kernel function of the wasm backend, with its backend typed. */
export type WasmKernelFunc = (args: KernelArgs) => tf.TensorInfo;

/**
 * Returns the kernel function currently registered for `name` on the wasm
 * backend.
 *
 * @throws {Error} when the wasm backend has no such kernel.
 */
export function wasmKernel(name: string): WasmKernelFunc {
  const config = tf.getKernel(name, WASM);
  if (config === undefined) {
    throw new Error(`the wasm backend has no '${name}' kernel`);
  }
  return config.kernelFunc as unknown as WasmKernelFunc;
}

/** Frees the backend memory behind each given intermediate. */
export function disposeAll(
  backend: BackendWasm,
  ...infos: (tf.TensorInfo | undefined)[]
): void {
  for (const info of infos) {
    if (info !== undefined) backend.disposeData(info.dataId);
  }
}

/**
 * A reshaped alias of `info` (same data, new shape). It shares `info`'s
 * reference, so it must never be disposed on its own.
 */
export function reshaped(info: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return { dataId: info.dataId, shape, dtype: info.dtype };
}

/** Runs the wasm `Transpose` kernel; the caller owns the result. */
export function transpose(
  backend: BackendWasm,
  x: tf.TensorInfo,
  perm: number[],
): tf.TensorInfo {
  return wasmKernel("Transpose")({ inputs: { x }, backend, attrs: { perm } });
}

/**
 * Runs the wasm (XNNPACK) `Conv2D` kernel, stride 1 and dilation 1, NHWC,
 * with explicit non-negative padding; the caller owns the result.
 */
export function conv2dStride1(
  backend: BackendWasm,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  pad: { top: number; bottom: number; left: number; right: number },
): tf.TensorInfo {
  const explicit: tf.backend_util.ExplicitPadding = [
    [0, 0],
    [pad.top, pad.bottom],
    [pad.left, pad.right],
    [0, 0],
  ];
  return wasmKernel("Conv2D")({
    inputs: { x, filter },
    backend,
    attrs: {
      strides: 1,
      dilations: 1,
      pad: explicit,
      dataFormat: "NHWC",
      dimRoundingMode: undefined,
    } as unknown as tf.NamedAttrMap,
  });
}

/** The whole wasm heap as floats (re-fetch after every allocation). */
export function heapF32(backend: BackendWasm): Float32Array {
  return backend.wasm.HEAPF32;
}

/** Index in {@link heapF32} of the first element of `info`. */
export function heapIndex(backend: BackendWasm, info: tf.TensorInfo): number {
  return backend.typedArrayFromHeap(info).byteOffset >>> 2;
}

/** Below this many floats a plain loop beats a native copy or fill call. */
const SHORT_RUN = 48;

/** Copies `len` floats inside the heap from index `src` to index `dst`. */
export function copyRun(
  heap: Float32Array,
  dst: number,
  src: number,
  len: number,
): void {
  if (len >= SHORT_RUN) {
    heap.copyWithin(dst, src, src + len);
  } else {
    for (let i = 0; i < len; i++) heap[dst + i] = heap[src + i];
  }
}

/** Sets `len` floats of the heap to zero from index `dst`. */
export function zeroRun(heap: Float32Array, dst: number, len: number): void {
  if (len >= SHORT_RUN) {
    heap.fill(0, dst, dst + len);
  } else {
    for (let i = 0; i < len; i++) heap[dst + i] = 0;
  }
}

/** Checks a tensor is float32, the only dtype these kernels support. */
export function assertFloat32(kernel: string, ...infos: tf.TensorInfo[]): void {
  for (const info of infos) {
    if (info.dtype !== "float32") {
      throw new Error(
        `${kernel} on wasm supports float32 only, got ${info.dtype}`,
      );
    }
  }
}

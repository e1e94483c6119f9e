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
import { BackendError } from "../errors.ts";
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

/**
 * A float32 NHWC input that is never stored whole: its images are computed
 * a few at a time, as a kernel's chunks reach them, into a buffer that
 * stays in cache (a first layer's output, `direct_conv.ts`'s
 * `directConvImages`). Kernels that take one read each chunk's images from
 * the address {@link ChunkedInput.images} gives.
 */
export interface ChunkedInput {
  /** The whole input's shape, `[N, H, W, C]`. */
  readonly shape: number[];
  /** Always float32. */
  readonly dtype: "float32";
  /** At most this many images at a time. */
  readonly capacity: number;
  /**
   * Images `[at, to)`, computed unless already held: the heap address, in
   * bytes, of image `at` (the others follow it). The address holds until
   * the next call.
   */
  images(at: number, to: number): number;
}

/**
 * Whether a stride or dilation attribute (a number, one per axis, or absent
 * for the default) is 1 on every axis.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { allOnes } from "./wasm_util.ts";
 * assert(allOnes(1) && allOnes([1, 1]) && allOnes(undefined));
 * assert(!allOnes(2) && !allOnes([1, 2]));
 * ```
 */
export function allOnes(v: unknown): boolean {
  return v === undefined || [v].flat().every((n) => n === 1);
}

/** A kernel function of the wasm backend, with its backend typed. */
export type WasmKernelFunc = (args: KernelArgs) => tf.TensorInfo;

/**
 * Returns the kernel function currently registered for `name` on the wasm
 * backend.
 *
 * @throws {BackendError} when the wasm backend has no such kernel.
 */
export function wasmKernel(name: string): WasmKernelFunc {
  const config = tf.getKernel(name, WASM);
  if (config === undefined) {
    throw new BackendError(`the wasm backend has no '${name}' kernel`);
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
 * Runs the registered wasm `Conv2D` kernel (Winograd for 3x3 filters with
 * many channels, else XNNPACK), stride 1 and dilation 1, NHWC, with explicit
 * non-negative padding; the caller owns the result.
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
  // Emscripten's module object; its typings are not loaded here.
  return (backend.wasm as unknown as { HEAPF32: Float32Array }).HEAPF32;
}

/** Index in {@link heapF32} of the first element of `info`. */
export function heapIndex(backend: BackendWasm, info: tf.TensorInfo): number {
  return backend.typedArrayFromHeap(info).byteOffset >>> 2;
}

/** Below this length a plain loop beats a native copy or fill (measured). */
const SHORT_RUN = 24;

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

/**
 * Transposes a `rows × cols` block of the heap: `heap[dst + j·dstStride + i]
 * = heap[src + i·srcStride + j]`. Cache-blocked plain JS; measured 3-4× faster
 * than the wasm `Transpose` kernel on the shapes the training kernels use.
 */
export function transposeBlock(
  heap: Float32Array,
  src: number,
  srcStride: number,
  dst: number,
  dstStride: number,
  rows: number,
  cols: number,
): void {
  if (rows >= cols) {
    // Tall: write along dst rows (contiguous), read down src columns.
    for (let j0 = 0; j0 < cols; j0 += 16) {
      const j1 = Math.min(cols, j0 + 16);
      for (let i0 = 0; i0 < rows; i0 += 64) {
        const i1 = Math.min(rows, i0 + 64);
        for (let j = j0; j < j1; j++) {
          let d = dst + j * dstStride + i0;
          let s = src + i0 * srcStride + j;
          for (let i = i0; i < i1; i++, d++, s += srcStride) heap[d] = heap[s];
        }
      }
    }
  } else {
    // Wide: read along src rows (contiguous), write down dst columns.
    for (let i0 = 0; i0 < rows; i0 += 8) {
      const i1 = Math.min(rows, i0 + 8);
      for (let j0 = 0; j0 < cols; j0 += 64) {
        const j1 = Math.min(cols, j0 + 64);
        for (let i = i0; i < i1; i++) {
          let s = src + i * srcStride + j0;
          let d = dst + j0 * dstStride + i;
          for (let j = j0; j < j1; j++, s++, d += dstStride) heap[d] = heap[s];
        }
      }
    }
  }
}

/**
 * Swaps the last two axes of `x` (any rank ≥ 2) into a fresh tensor; the
 * caller owns the result.
 */
export function swapLastAxes(
  backend: BackendWasm,
  x: tf.TensorInfo,
): tf.TensorInfo {
  const rank = x.shape.length;
  const rows = x.shape[rank - 2];
  const cols = x.shape[rank - 1];
  const outShape = [...x.shape.slice(0, -2), cols, rows];
  const out = backend.makeOutput(outShape, x.dtype);
  const heap = heapF32(backend);
  const src = heapIndex(backend, x);
  const dst = heapIndex(backend, out);
  const size = rows * cols;
  const batch = tf.util.sizeFromShape(x.shape.slice(0, -2));
  for (let b = 0; b < batch; b++) {
    transposeBlock(
      heap,
      src + b * size,
      cols,
      dst + b * size,
      rows,
      rows,
      cols,
    );
  }
  return out;
}

/** Checks a tensor is float32, the only dtype these kernels support. */
export function assertFloat32(kernel: string, ...infos: tf.TensorInfo[]): void {
  for (const info of infos) {
    if (info.dtype !== "float32") {
      throw new TypeError(
        `${kernel} on wasm supports float32 only, got ${info.dtype}`,
      );
    }
  }
}

/**
 * `dy` as a gradient kernel's geometry `info` expects it: `dy` itself, or a
 * fresh copy cropped or zero-padded to `info.outShape`.
 *
 * The spatial size of `dy` can differ from the one the gradient op computes:
 * tfjs's `Conv2D` gradient calls `conv2DBackpropInput` without the forward
 * pass's `dimRoundingMode`, so a rounded-up forward output has a row or
 * column more than the input gradient's geometry; the `cpu` backend then
 * reads only the rows and columns its geometry has, which a crop reproduces.
 * The batch, the channels and the filter must agree.
 *
 * @throws {RangeError} when they do not.
 */
export function fitDy(
  kernel: string,
  backend: BackendWasm,
  info: tf.backend_util.Conv2DInfo,
  dy: tf.TensorInfo,
  filterShape: number[],
): tf.TensorInfo {
  const channelsLast = info.dataFormat === "channelsLast";
  const [n, oh, ow, c] = channelsLast
    ? dy.shape
    : [dy.shape[0], dy.shape[2], dy.shape[3], dy.shape[1]];
  if (
    filterShape.length !== 4 || filterShape[2] !== info.inChannels ||
    dy.shape.length !== 4 || n !== info.batchSize || c !== info.outChannels
  ) {
    throw new RangeError(
      `${kernel}: dy shape ${dy.shape} and filter shape ${filterShape} do ` +
        `not fit input shape ${info.inShape} (expected dy ${info.outShape})`,
    );
  }
  if (tf.util.arraysEqual(dy.shape, info.outShape)) return dy;
  const out = backend.makeOutput(info.outShape, "float32");
  const heap = heapF32(backend);
  const src = heapIndex(backend, dy);
  const dst = heapIndex(backend, out);
  const { outHeight: h, outWidth: w } = info;
  zeroRun(heap, dst, n * h * w * c);
  const rows = Math.min(h, oh), cols = Math.min(w, ow);
  // Copies runs along the innermost axis shared by both layouts.
  const planes = channelsLast ? n : n * c;
  const run = channelsLast ? cols * c : cols;
  for (let p = 0; p < planes; p++) {
    for (let r = 0; r < rows; r++) {
      const from = channelsLast
        ? src + ((p * oh + r) * ow) * c
        : src + (p * oh + r) * ow;
      const to = channelsLast
        ? dst + ((p * h + r) * w) * c
        : dst + (p * h + r) * w;
      copyRun(heap, to, from, run);
    }
  }
  return out;
}

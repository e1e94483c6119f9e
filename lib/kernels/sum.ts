/**
 * `Sum` over leading axes for the wasm backend: the bias gradients of the
 * conv layers (`dy` [N,H,W,C] summed to [C]), and sums of every element (the
 * training step's finiteness check of the gradients). The stock kernel
 * transposes the reduced axes to the end first, and sums scalars; summing
 * rows in place over the wasm heap reads the data once, sequentially, four
 * floats at a time.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  disposeAll,
  heapF32,
  heapIndex,
  type KernelArgs,
  type WasmKernelFunc,
} from "./wasm_util.ts";
import { simdAvailable, simdKernels } from "./simd/simd.ts";

/**
 * Makes the `Sum` kernel function; `stock` (the wasm backend's own kernel)
 * runs every reduction of a float32 tensor that is not over a non-empty
 * prefix of its axes, or over all of them with a size that is a multiple of
 * 4, and every reduction of another dtype.
 */
export function makeSum(stock: WasmKernelFunc): WasmKernelFunc {
  return function sum(args: KernelArgs): tf.TensorInfo {
    const { inputs, backend, attrs } = args;
    const x = inputs.x as tf.TensorInfo;
    const { axis, keepDims } = attrs as unknown as tf.SumAttrs;
    const rank = x.shape.length;
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
    const prefix = axes.length > 0 && axes.length < rank &&
      axes.every((a, i) => a === i);
    const size = tf.util.sizeFromShape(x.shape);
    // Every axis: columns of 4 (or 128) floats, whose sums are then added.
    const all = rank > 0 && axes.length === rank && size % 4 === 0 &&
      simdAvailable(backend);
    if (x.dtype !== "float32" || !(prefix || all)) return stock(args);
    const cols = all
      ? (size % 128 === 0 ? 128 : 4)
      : tf.util.sizeFromShape(x.shape.slice(axes.length));
    const rows = size / cols;
    const outShape = keepDims
      ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
      : all
      ? []
      : x.shape.slice(axes.length);
    const out = backend.makeOutput(outShape, "float32");
    if (cols % 4 === 0 && simdAvailable(backend)) {
      // Float64 sums in the heap (2 floats each), SIMD column sums.
      const acc = backend.makeOutput([2 * cols + 1], "float32");
      try {
        const accIndex = (heapIndex(backend, acc) + 1) & ~1; // 8-byte aligned
        heapF32(backend).fill(0, accIndex, accIndex + 2 * cols);
        simdKernels(backend).columnSums(
          heapIndex(backend, x) * 4,
          accIndex * 4,
          rows,
          cols,
        );
        const heap = heapF32(backend);
        const sums = new Float64Array(heap.buffer, accIndex * 4, cols);
        if (all) heap[heapIndex(backend, out)] = sums.reduce((a, b) => a + b);
        else heap.set(sums, heapIndex(backend, out));
        return out;
      } finally {
        disposeAll(backend, acc);
      }
    }
    const heap = heapF32(backend);
    const src = heapIndex(backend, x);
    const acc = new Float64Array(cols);
    let r = 0;
    // Four rows at a time: fewer passes over the accumulator.
    for (let o = src; r + 4 <= rows; r += 4, o += 4 * cols) {
      for (let c = 0; c < cols; c++) {
        acc[c] += (heap[o + c] + heap[o + cols + c]) +
          (heap[o + 2 * cols + c] + heap[o + 3 * cols + c]);
      }
    }
    for (let o = src + r * cols; r < rows; r++, o += cols) {
      for (let c = 0; c < cols; c++) acc[c] += heap[o + c];
    }
    heap.set(acc, heapIndex(backend, out));
    return out;
  };
}

/**
 * The gradient of a convolution's ReLU followed by a 2×2, stride-2 max pool
 * (the tutorial's conv2 then pooling), with the convolution's bias gradient,
 * as one kernel: {@link POOL_RELU_GRAD}. tfjs runs it as three passes over
 * the activation (`MaxPoolGrad`, ReLU's gradient, `Sum` for the bias); one
 * SIMD pass (`maxPoolReluGrad2x2` of `simd/pool.as.ts`) gives the same `dz`
 * bit for bit and the bias gradient within float rounding. The training pass
 * of `lib/engine/fused_training.ts` calls it.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { canPoolReluGrad } from "./pool_relu_grad.ts";
 * assert(canPoolReluGrad([128, 24, 24, 64])); // conv2's output
 * assert(!canPoolReluGrad([128, 25, 24, 64])); // windows must tile it
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import {
  disposeAll,
  heapF32,
  heapIndex,
  type KernelArgs,
  WASM,
} from "./wasm_util.ts";
import { simdAvailable, simdKernels } from "./simd/simd.ts";

/** The kernel's name (this project's own; tfjs has none). */
export const POOL_RELU_GRAD = "MnistCnnPoolReluGrad";

/**
 * Whether the kernel handles an activation of this shape: NHWC, 2×2
 * windows tiling it exactly (even height and width), channels in fours.
 */
export function canPoolReluGrad(shape: readonly number[]): boolean {
  return shape.length === 4 && shape.every((d) => d > 0) &&
    shape[1] % 2 === 0 && shape[2] % 2 === 0 && shape[3] % 4 === 0;
}

/**
 * Inputs `dy` (the pooled output's gradient, [N, H/2, W/2, C]) and `y` (the
 * ReLU's output, [N, H, W, C]); outputs `dz`, the gradient at the ReLU's
 * input, and the bias gradient Σ dz over N, H, W ([C]).
 */
function poolReluGrad(args: KernelArgs): tf.TensorInfo[] {
  const { dy, y } = args.inputs as { dy: tf.TensorInfo; y: tf.TensorInfo };
  const backend = args.backend as BackendWasm;
  const [n, h, w, c] = y.shape;
  if (
    !canPoolReluGrad(y.shape) || y.dtype !== "float32" ||
    dy.dtype !== "float32" ||
    !tf.util.arraysEqual(dy.shape, [n, h / 2, w / 2, c]) ||
    !simdAvailable(backend)
  ) {
    throw new RangeError(
      `${POOL_RELU_GRAD}: unsupported y ${y.shape} (${y.dtype}), ` +
        `dy ${dy.shape} (${dy.dtype})`,
    );
  }
  const dz = backend.makeOutput(y.shape, "float32");
  const db = backend.makeOutput([c], "float32");
  // Float64 sums (2 floats each, 8-byte aligned) while the pass runs.
  const acc = backend.makeOutput([2 * c + 1], "float32");
  try {
    const at = (heapIndex(backend, acc) + 1) & ~1;
    heapF32(backend).fill(0, at, at + 2 * c);
    simdKernels(backend).maxPoolReluGrad2x2(
      heapIndex(backend, y) * 4,
      heapIndex(backend, dy) * 4,
      heapIndex(backend, dz) * 4,
      at * 4,
      n,
      h,
      w,
      c,
    );
    const heap = heapF32(backend);
    heap.set(new Float64Array(heap.buffer, at * 4, c), heapIndex(backend, db));
    return [dz, db];
  } finally {
    disposeAll(backend, acc);
  }
}

/** Registers {@link POOL_RELU_GRAD} for the wasm backend (once). */
export function registerPoolReluGrad(): void {
  if (tf.getKernel(POOL_RELU_GRAD, WASM) !== undefined) return;
  tf.registerKernel({
    kernelName: POOL_RELU_GRAD,
    backendName: WASM,
    kernelFunc: poolReluGrad as unknown as tf.KernelFunc,
  });
}

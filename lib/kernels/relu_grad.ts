/**
 * ReLU's gradient as one kernel. tfjs computes it as `dy · cast(step(x))`:
 * three kernels and two intermediate tensors the size of the activation, for
 * each of the tutorial's three ReLUs at every step. {@link RELU_GRAD} does it
 * in one pass, as WASM SIMD on the wasm backend and in JS on the `cpu`
 * backend, with tfjs's rule for every value (NaN where `x` is NaN, `dy · 0`
 * where `x ≤ 0`, so a non-finite `dy` still shows). The gradient of `Relu`
 * is re-registered to use it.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { heapIndex, type KernelArgs } from "./wasm_util.ts";
import { simdAvailable, simdKernels } from "./simd/simd.ts";

/** The kernel's name (this project's own; tfjs has none). */
export const RELU_GRAD = "MnistCnnReluGrad";

/** tfjs's `step` at 0 (alpha 0), as one number. */
function step(x: number): number {
  return Number.isNaN(x) ? NaN : x > 0 ? 1 : 0;
}

/** `dy · step(x)` element by element, in JS, into `out`. */
function reluGradJs(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  out: Float32Array,
): void {
  for (let i = 0; i < out.length; i++) out[i] = dy[i] * step(x[i]);
}

function wasmReluGrad(args: KernelArgs): tf.TensorInfo {
  const { dy, x } = args.inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
  const backend = args.backend as BackendWasm;
  const out = backend.makeOutput(x.shape, "float32");
  const n = tf.util.sizeFromShape(x.shape);
  if (
    x.dtype === "float32" && dy.dtype === "float32" &&
    simdAvailable(backend)
  ) {
    simdKernels(backend).reluGrad(
      heapIndex(backend, dy) * 4,
      heapIndex(backend, x) * 4,
      heapIndex(backend, out) * 4,
      n,
    );
  } else {
    reluGradJs(
      backend.typedArrayFromHeap(dy),
      backend.typedArrayFromHeap(x),
      backend.typedArrayFromHeap(out) as Float32Array,
    );
  }
  return out;
}

function cpuReluGrad(
  { inputs, backend }: {
    inputs: tf.NamedTensorInfoMap;
    backend: tf.KernelBackend;
  },
): tf.TensorInfo {
  const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
  const cpu = backend as unknown as {
    data: { get(id: object): { values: ArrayLike<number> } };
    makeTensorInfo(
      shape: number[],
      dtype: tf.DataType,
      values: Float32Array,
    ): tf.TensorInfo;
  };
  const out = new Float32Array(tf.util.sizeFromShape(x.shape));
  reluGradJs(
    cpu.data.get(dy.dataId).values,
    cpu.data.get(x.dataId).values,
    out,
  );
  return cpu.makeTensorInfo(x.shape, "float32", out);
}

/**
 * Registers {@link RELU_GRAD} for the `wasm` and `cpu` backends and makes
 * the gradient of `Relu` use it. Idempotent.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { assertEquals } from "@std/assert";
 * import { initBackend } from "../backend.ts"; // calls registerReluGrad()
 * await initBackend();
 * const g = tf.grad((x: tf.Tensor) => tf.relu(x).sum())(tf.tensor([-1, 2]));
 * assertEquals(Array.from(g.dataSync()), [0, 1]);
 * ```
 */
export function registerReluGrad(): void {
  for (
    const [backendName, kernelFunc] of [
      ["wasm", wasmReluGrad],
      ["cpu", cpuReluGrad],
    ] as const
  ) {
    if (tf.getKernel(RELU_GRAD, backendName) === undefined) {
      tf.registerKernel({
        kernelName: RELU_GRAD,
        backendName,
        kernelFunc: kernelFunc as unknown as tf.KernelFunc,
      });
    }
  }
  tf.registerGradient({
    kernelName: "Relu",
    inputsToSave: ["x"],
    gradFunc: (dy, saved) => {
      const [x] = saved;
      return {
        x: () =>
          tf.engine().runKernel(RELU_GRAD, {
            dy: dy as tf.Tensor,
            x,
          }) as tf.Tensor,
      };
    },
  });
}

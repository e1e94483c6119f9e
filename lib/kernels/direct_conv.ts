/**
 * A direct 3x3 stride-1 convolution of one input channel (a first layer on
 * grayscale images, the tutorial's conv1: 1 → 32 channels) with its bias and
 * ReLU, on the SIMD module's `directConv3x3C1`. Nine multiply-adds per
 * output value leave Winograd's transforms nothing to save and give
 * XNNPACK's product a depth of nine; the direct loop is faster than both
 * (docs/kernels.md, findings 20 and 22), at about half the runtime's peak
 * with its caches evicted.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { canDirectConv } from "./direct_conv.ts";
 * assert(canDirectConv([128, 28, 28, 1], [3, 3, 1, 32])); // conv1
 * assert(!canDirectConv([128, 26, 26, 32], [3, 3, 32, 64])); // conv2
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import type { Pads } from "./winograd.ts";
import { simdKernels } from "./simd/simd.ts";
import {
  copyRun,
  disposeAll,
  heapF32,
  heapIndex,
  zeroRun,
} from "./wasm_util.ts";

/**
 * Whether {@link directConv3x3} takes an NHWC float32 input of `xShape`
 * and an HWIO filter of `filterShape`: one input channel, a 3x3 filter and
 * a multiple of 8 output channels. Strides, dilations and the data format
 * are the caller's to check (1, 1 and NHWC).
 */
export function canDirectConv(
  xShape: readonly number[],
  filterShape: readonly number[],
): boolean {
  return xShape.length === 4 && xShape[3] === 1 &&
    filterShape.length === 4 && filterShape[0] === 3 &&
    filterShape[1] === 3 && filterShape[2] === 1 &&
    filterShape[3] > 0 && filterShape[3] % 8 === 0;
}

/** What {@link directConv3x3} adds to the convolution. */
export interface DirectConvOptions {
  /** Bias, float32 [Cout]; none by default. */
  bias?: tf.TensorInfo;
  /** ReLU after the bias; false by default. */
  relu?: boolean;
}

/**
 * The convolution of x (NHWC [N, H, W, 1], float32) with filter ([3, 3, 1,
 * Cout]) at stride 1 and explicit `pads`: [N, H + top + bottom - 2,
 * W + left + right - 2, Cout], with the bias and ReLU of `options`. A
 * padded input is copied once, zeros around it (one channel: small).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
 * import { assertAlmostEquals } from "@std/assert";
 * import { initBackend } from "../backend.ts";
 * import { directConv3x3 } from "./direct_conv.ts";
 * await initBackend();
 * const x = tf.ones([1, 4, 4, 1]), f = tf.ones([3, 3, 1, 8]);
 * const pads = { top: 1, bottom: 1, left: 1, right: 1 };
 * const y = directConv3x3(tf.backend() as BackendWasm, x, f, pads);
 * const out = tf.engine().makeTensorFromTensorInfo(y) as tf.Tensor4D;
 * assertAlmostEquals(out.arraySync()[0][0][0][0], 4); // a corner: 4 ones
 * assertAlmostEquals(out.arraySync()[0][1][1][7], 9);
 * tf.dispose([x, f, out]);
 * ```
 *
 * @throws {RangeError} when {@link canDirectConv} rejects the shapes, the
 * pads are negative or leave no output, or the bias does not fit.
 * @throws {TypeError} when an input is not float32.
 */
export function directConv3x3(
  backend: BackendWasm,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  pads: Pads,
  options: DirectConvOptions = {},
): tf.TensorInfo {
  const { bias, relu = false } = options;
  const [n, h, w] = x.shape;
  const cout = filter.shape[3];
  const ph = h + pads.top + pads.bottom, pw = w + pads.left + pads.right;
  const padsOk = [pads.top, pads.bottom, pads.left, pads.right].every((p) =>
    Number.isInteger(p) && p >= 0
  );
  if (!canDirectConv(x.shape, filter.shape) || !padsOk || ph < 3 || pw < 3) {
    throw new RangeError(
      `directConv3x3: unsupported x ${x.shape}, filter ${filter.shape}, ` +
        `pads ${JSON.stringify(pads)}`,
    );
  }
  if (
    [x, filter, bias].some((t) => t !== undefined && t.dtype !== "float32")
  ) {
    throw new TypeError("directConv3x3 supports float32 only");
  }
  if (
    bias !== undefined &&
    (bias.shape.length !== 1 || bias.shape[0] !== cout)
  ) {
    throw new RangeError(
      `directConv3x3: bias ${bias.shape} does not fit ${cout} output channels`,
    );
  }
  const padded = pads.top + pads.bottom + pads.left + pads.right > 0;
  const out = backend.makeOutput([n, ph - 2, pw - 2, cout], "float32");
  // The packed filter (9·Cout floats), then the zero bias where none is given.
  const scratch = backend.makeOutput([(bias ? 9 : 10) * cout], "float32");
  let xp: tf.TensorInfo | undefined;
  try {
    if (padded) {
      xp = backend.makeOutput([n, ph, pw], "float32");
      const heap = heapF32(backend);
      const src = heapIndex(backend, x), dst = heapIndex(backend, xp);
      zeroRun(heap, dst, n * ph * pw);
      for (let b = 0; b < n; b++) {
        for (let r = 0; r < h; r++) {
          copyRun(
            heap,
            dst + (b * ph + pads.top + r) * pw + pads.left,
            src + (b * h + r) * w,
            w,
          );
        }
      }
    }
    const s = heapIndex(backend, scratch);
    if (!bias) heapF32(backend).fill(0, s + 9 * cout, s + 10 * cout);
    simdKernels(backend).directConv3x3C1(
      heapIndex(backend, xp ?? x) * 4,
      heapIndex(backend, filter) * 4,
      (bias ? heapIndex(backend, bias) : s + 9 * cout) * 4,
      heapIndex(backend, out) * 4,
      s * 4,
      n,
      ph,
      pw,
      ph - 2,
      pw - 2,
      cout,
      relu ? 1 : 0,
    );
    return out;
  } catch (error) {
    disposeAll(backend, out);
    throw error;
  } finally {
    disposeAll(backend, scratch, xp);
  }
}

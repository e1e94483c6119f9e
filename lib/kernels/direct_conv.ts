/**
 * A direct 3x3 stride-1 convolution of one input channel (a first layer on
 * grayscale images, the tutorial's conv1: 1 → 32 channels) with its bias and
 * ReLU, on the SIMD module's `directConv3x3C1`. Nine multiply-adds per
 * output value leave Winograd's transforms nothing to save and give
 * XNNPACK's product a depth of nine; the direct loop is faster than both
 * (docs/kernels.md, findings 20 and 22), at 59% of the runtime's peak into
 * a buffer in cache. Its stores cost more where the cache is full of dirty
 * lines, as in a training step, which therefore never stores conv1's output:
 * {@link directConvImages} computes it a few images at a time (finding 24).
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
  type ChunkedInput,
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
  const conv = prepare("directConv3x3", backend, x, filter, pads, options);
  try {
    const out = backend.makeOutput(conv.outShape, "float32");
    try {
      conv.run(0, x.shape[0], heapIndex(backend, out) * 4);
      return out;
    } catch (error) {
      disposeAll(backend, out);
      throw error;
    }
  } finally {
    conv.dispose();
  }
}

/**
 * The bytes of output {@link directConvImages} holds by default: conv1's 6
 * images of 86.5 KB, as many as conv2's forward chunk of 96 tiles reads and
 * two of its backward chunks of 48, beside the chunk's transform planes in
 * L2.
 */
export const DIRECT_CONV_CHUNK_BYTES = 512 * 1024;

/** What {@link directConvImages} adds to {@link DirectConvOptions}. */
export interface DirectConvImagesOptions extends DirectConvOptions {
  /**
   * The most images one call of `images` computes (at least 1); by default
   * as many as fit {@link DIRECT_CONV_CHUNK_BYTES}, at least one.
   */
  capacity?: number;
}

/**
 * {@link directConv3x3}'s output as a {@link ChunkedInput}: never stored
 * whole, its images computed `capacity` at most at a time, as a kernel's
 * chunks reach them, into one buffer that stays in cache (x must stay as
 * it is meanwhile). Training and prediction feed conv1's output to conv2 so
 * (`engine/fused_training.ts`, `conv2d.ts`'s `MnistCnnFirstConvsPool`): its
 * 11 MB per 128 images is neither written nor read back, each a pass
 * through memory that the rest of a step has filled with dirty lines. Call
 * `dispose` when done.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
 * import { assertEquals } from "@std/assert";
 * import { initBackend } from "../backend.ts";
 * import { directConv3x3, directConvImages } from "./direct_conv.ts";
 * import { heapF32, heapIndex } from "./wasm_util.ts";
 * await initBackend();
 * const backend = tf.backend() as BackendWasm;
 * const x = tf.randomUniform([5, 6, 6, 1]), f = tf.randomNormal([3, 3, 1, 8]);
 * const pads = { top: 0, bottom: 0, left: 0, right: 0 };
 * const whole = directConv3x3(backend, x, f, pads);
 * const y = directConvImages(backend, x, f, pads, { capacity: 2 });
 * assertEquals(y.shape, [5, 4, 4, 8]);
 * const at = y.images(3, 5) / 4, image = 4 * 4 * 8; // images 3 and 4
 * const heap = heapF32(backend), from = heapIndex(backend, whole);
 * assertEquals(
 *   heap.slice(at, at + 2 * image),
 *   heap.slice(from + 3 * image, from + 5 * image),
 * );
 * y.dispose();
 * backend.disposeData(whole.dataId);
 * tf.dispose([x, f]);
 * ```
 *
 * @throws {RangeError} as {@link directConv3x3}, or where `capacity` is not
 * a positive integer; from `images`, where `[at, to)` is empty, outside the
 * batch or more than `capacity` images.
 * @throws {TypeError} as {@link directConv3x3}.
 */
export function directConvImages(
  backend: BackendWasm,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  pads: Pads,
  options: DirectConvImagesOptions = {},
): ChunkedInput & { dispose(): void } {
  const conv = prepare("directConvImages", backend, x, filter, pads, options);
  const [n, ...image] = conv.outShape;
  const size = image[0] * image[1] * image[2];
  const capacity = options.capacity ??
    Math.max(1, Math.floor(DIRECT_CONV_CHUNK_BYTES / (size * 4)));
  if (!Number.isInteger(capacity) || capacity < 1) {
    conv.dispose();
    throw new RangeError(
      `directConvImages: capacity ${capacity} is not a positive integer`,
    );
  }
  let buffer: tf.TensorInfo;
  try {
    buffer = backend.makeOutput([Math.min(capacity, n) * size], "float32");
  } catch (error) {
    conv.dispose();
    throw error;
  }
  // The images the buffer holds: [held, held + count).
  let held = 0, count = 0;
  return {
    shape: conv.outShape,
    dtype: "float32",
    capacity,
    images(at, to) {
      if (
        !Number.isInteger(at) || !Number.isInteger(to) || at < 0 ||
        to > n || to <= at || to - at > capacity
      ) {
        throw new RangeError(
          `directConvImages: images [${at}, ${to}) of ${n}, at most ` +
            `${capacity} at a time`,
        );
      }
      const address = heapIndex(backend, buffer) * 4;
      if (at < held || to > held + count) {
        conv.run(at, to, address);
        held = at, count = to - at;
      }
      return address + (at - held) * size * 4;
    },
    dispose() {
      disposeAll(backend, buffer);
      conv.dispose();
    },
  };
}

/** A checked convolution: its output's shape; `run` computes images. */
interface Prepared {
  outShape: number[];
  /** Images [at, to) of the output, one after another from `address`. */
  run(at: number, to: number, address: number): void;
  dispose(): void;
}

/**
 * Checks the arguments of {@link directConv3x3} (as `name`), pads x once
 * where `pads` ask, and keeps the filter's packing scratch and a zero bias
 * where none is given.
 */
function prepare(
  name: string,
  backend: BackendWasm,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  pads: Pads,
  options: DirectConvOptions,
): Prepared {
  const { bias, relu = false } = options;
  const [n, h, w] = x.shape;
  const cout = filter.shape[3];
  const ph = h + pads.top + pads.bottom, pw = w + pads.left + pads.right;
  const padsOk = [pads.top, pads.bottom, pads.left, pads.right].every((p) =>
    Number.isInteger(p) && p >= 0
  );
  if (!canDirectConv(x.shape, filter.shape) || !padsOk || ph < 3 || pw < 3) {
    throw new RangeError(
      `${name}: unsupported x ${x.shape}, filter ${filter.shape}, ` +
        `pads ${JSON.stringify(pads)}`,
    );
  }
  if (
    [x, filter, bias].some((t) => t !== undefined && t.dtype !== "float32")
  ) {
    throw new TypeError(`${name} supports float32 only`);
  }
  if (
    bias !== undefined &&
    (bias.shape.length !== 1 || bias.shape[0] !== cout)
  ) {
    throw new RangeError(
      `${name}: bias ${bias.shape} does not fit ${cout} output channels`,
    );
  }
  const padded = pads.top + pads.bottom + pads.left + pads.right > 0;
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
  } catch (error) {
    disposeAll(backend, scratch, xp);
    throw error;
  }
  return {
    outShape: [n, ph - 2, pw - 2, cout],
    run(at, to, address) {
      const s = heapIndex(backend, scratch);
      simdKernels(backend).directConv3x3C1(
        (heapIndex(backend, xp ?? x) + at * ph * pw) * 4,
        heapIndex(backend, filter) * 4,
        (bias ? heapIndex(backend, bias) : s + 9 * cout) * 4,
        address,
        s * 4,
        to - at,
        ph,
        pw,
        ph - 2,
        pw - 2,
        cout,
        relu ? 1 : 0,
      );
    },
    dispose() {
      disposeAll(backend, scratch, xp);
    },
  };
}

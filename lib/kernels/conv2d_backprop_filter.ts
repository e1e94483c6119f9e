/**
 * `Conv2DBackpropFilter` for the wasm backend, which ships none.
 *
 * The filter gradient is one matrix product
 *
 *     dW[(kh,kw,ci), co] = Σ_(oh,ow,n) P[(kh,kw,ci), (oh,ow,n)] · dY[(oh,ow,n), co]
 *
 * where `P` holds the input patches (im2col) and `dY` is `dy` reordered to
 * `[OH·OW·N, Co]`. With `x` first transposed to `[Ci, H, W, N]`, each row of
 * `P` is made of long contiguous runs (`OW·N` floats when the stride is 1), so
 * it is built with native heap copies, and the product runs on the backend's
 * own XNNPACK fully-connected path (the stock non-transposed `BatchMatMul`).
 * The reduction dimension is cut into chunks of about {@link CHUNK_K} so that
 * the packed `dY` chunk stays in cache; the partial products are summed.
 * Strides, every padding and `dimRoundingMode` only change which input
 * element (or zero) lands in `P`.
 *
 * 3x3, stride-1 NHWC gradients with at least 16 input and output channels
 * (the tutorial's conv2) go to the Winograd F(6x6,3x3) weight gradient
 * ({@link winogradBackpropFilter3x3}) instead, about 2x faster there; stride-1
 * NHWC gradients with few taps (`FH·FW·Ci` ≤ {@link DIRECT_MAX_TAPS}, the
 * tutorial's conv1) to a direct SIMD kernel that reads `dy` in place.
 * {@link filterGradPath} makes that choice from the geometry alone; each
 * strategy is its own function.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import type { MatMulFunc } from "./batch_mat_mul.ts";
import {
  assertFloat32,
  type ChunkedInput,
  copyRun,
  disposeAll,
  fitDy,
  heapF32,
  heapIndex,
  type KernelArgs,
  reshaped,
  swapLastAxes,
  transpose,
  transposeBlock,
  WASM,
  zeroRun,
} from "./wasm_util.ts";
import { simdAvailable, simdKernels } from "./simd/simd.ts";
import {
  canUseWinograd,
  type Pads,
  winogradBackpropFilter3x3,
  winogradProfitable,
} from "./winograd.ts";

/** Target length of the reduction dimension of one partial product. */
const CHUNK_K = 1536;

/**
 * Largest `FH·FW·Ci` of the direct SIMD filter gradient (`direct.as.ts`,
 * stride 1, NHWC, `Co` a multiple of 4): the tutorial's conv1 has 9. With
 * few input channels the im2col product is mostly reordering `dy`; the
 * direct kernel reads `dy` in place, once per tap.
 */
export const DIRECT_MAX_TAPS = 27;

/**
 * Builds the `Conv2DBackpropFilter` kernel function. `matMul` must compute
 * `a·b` for 2-D float32 `a`, `b` on the fast XNNPACK path: pass
 * `stockMatMul(stock wasm BatchMatMul kernel function)`.
 */
export function makeConv2DBackpropFilter(
  matMul: MatMulFunc,
): (args: KernelArgs) => tf.TensorInfo {
  return (args) => conv2DBackpropFilter(args, matMul);
}

function conv2DBackpropFilter(
  { inputs, backend, attrs }: KernelArgs,
  matMul: MatMulFunc,
): tf.TensorInfo {
  const { x, dy: given } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
    attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  assertFloat32("Conv2DBackpropFilter", x, given);
  const channelsLast = dataFormat !== "NCHW";
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    channelsLast ? "channelsLast" : "channelsFirst",
  );
  const dy = fitDy("Conv2DBackpropFilter", backend, info, given, filterShape);
  try {
    return backpropFilter(backend, matMul, info, x, dy);
  } finally {
    if (dy !== given) disposeAll(backend, dy);
  }
}

/**
 * How {@link backpropFilter} computes a filter gradient:
 * - `"empty"`: no output pixels, batch or weights, so a tensor of zeros;
 * - `"winograd"`: 3x3, stride 1, dilation 1, NHWC, at least 16 input and
 *   output channels (the tutorial's conv2), by Winograd F(6x6,3x3)
 *   ({@link winogradBackpropFilter3x3});
 * - `"direct"`: stride 1, dilation 1, NHWC, `FH·FW·Ci` ≤
 *   {@link DIRECT_MAX_TAPS} and `Co` a multiple of 4 (the tutorial's conv1),
 *   by the direct SIMD kernel that reads `dy` in place;
 * - `"im2col"`: anything else, as one chunked patches·dY product on XNNPACK.
 */
export type FilterGradPath = "empty" | "winograd" | "direct" | "im2col";

/**
 * The strategy for a filter gradient of geometry `info` (see
 * {@link FilterGradPath}); `simd` says whether the SIMD kernels run here
 * (`simdAvailable`), without which only `"empty"` and `"im2col"` are taken.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { assertEquals } from "@std/assert";
 * import { filterGradPath } from "./conv2d_backprop_filter.ts";
 * const info = (x: [number, number, number, number], f: [number, number, number, number]) =>
 *   tf.backend_util.computeConv2DInfo(x, f, 1, 1, "valid");
 * assertEquals(filterGradPath(info([128, 26, 26, 32], [3, 3, 32, 64])), "winograd");
 * assertEquals(filterGradPath(info([128, 28, 28, 1], [3, 3, 1, 32])), "direct");
 * assertEquals(filterGradPath(info([128, 28, 28, 1], [3, 3, 1, 32]), false), "im2col");
 * assertEquals(filterGradPath(info([128, 28, 28, 8], [5, 5, 8, 8])), "im2col");
 * ```
 */
export function filterGradPath(
  info: tf.backend_util.Conv2DInfo,
  simd = true,
): FilterGradPath {
  const kc = info.inChannels * info.filterHeight * info.filterWidth;
  const pixels = info.outHeight * info.outWidth;
  if (info.batchSize * pixels === 0 || kc * info.outChannels === 0) {
    return "empty";
  }
  if (info.dataFormat !== "channelsLast" || !simd) return "im2col";
  const pads = padsOf(info);
  if (
    info.outHeight === info.inHeight + pads.top + pads.bottom - 2 &&
    info.outWidth === info.inWidth + pads.left + pads.right - 2 &&
    canUseWinograd(
      info.inShape,
      info.filterShape,
      [info.strideHeight, info.strideWidth],
      [info.dilationHeight, info.dilationWidth],
      pads,
    ) && winogradProfitable(info.filterShape)
  ) {
    return "winograd";
  }
  if (
    kc <= DIRECT_MAX_TAPS && info.outChannels % 4 === 0 &&
    info.strideHeight === 1 && info.strideWidth === 1 &&
    info.dilationHeight === 1 && info.dilationWidth === 1
  ) {
    return "direct";
  }
  return "im2col";
}

/** The explicit padding of a convolution's geometry. */
function padsOf(info: tf.backend_util.Conv2DInfo): Pads {
  const { top, bottom, left, right } = info.padInfo;
  return { top, bottom, left, right };
}

/** The filter gradient for `dy` of exactly the geometry's output shape. */
function backpropFilter(
  backend: BackendWasm,
  matMul: MatMulFunc,
  info: tf.backend_util.Conv2DInfo,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
): tf.TensorInfo {
  switch (filterGradPath(info, simdAvailable(backend))) {
    case "empty": {
      const out = backend.makeOutput(info.filterShape, "float32");
      backend.typedArrayFromHeap(out).fill(0);
      return out;
    }
    case "winograd":
      return winogradBackpropFilter3x3(backend, x, dy, padsOf(info));
    case "direct":
      return directFilterGrad(backend, info, x, dy);
    case "im2col":
      return im2colFilterGrad(backend, matMul, info, x, dy);
  }
}

/** The `"direct"` path: the SIMD kernel reads `x` and `dy` in place. */
function directFilterGrad(
  backend: BackendWasm,
  info: tf.backend_util.Conv2DInfo,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
): tf.TensorInfo {
  const out = backend.makeOutput(info.filterShape, "float32");
  simdKernels(backend).directFilterGrad(
    heapIndex(backend, x) * 4,
    heapIndex(backend, dy) * 4,
    heapIndex(backend, out) * 4,
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.outChannels,
    info.filterHeight,
    info.filterWidth,
    info.padInfo.top,
    info.padInfo.left,
  );
  return out;
}

/**
 * The kernel {@link registerReluFilterGrad} installs: ReLU's gradient, then
 * the filter's and the bias's, of a convolution on the `"direct"` path
 * (the tutorial's conv1), in one pass over `dy`. Inputs `x`, `dy` (the
 * ReLU's output's gradient) and `y` (the ReLU's output); attributes `pad`
 * and `filterShape`; outputs the filter gradient and the bias gradient.
 */
export const RELU_FILTER_GRAD = "MnistCnnReluFilterGrad";

/**
 * Whether {@link RELU_FILTER_GRAD} runs a stride-1 NHWC convolution of
 * `xShape` with `filterShape` and `pad`: its filter gradient takes the
 * `"direct"` path ({@link filterGradPath}).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { canReluFilterGrad } from "./conv2d_backprop_filter.ts";
 * assert(canReluFilterGrad([128, 28, 28, 1], [3, 3, 1, 32], "valid")); // conv1
 * assert(!canReluFilterGrad([128, 26, 26, 32], [3, 3, 32, 64], "valid"));
 * ```
 */
export function canReluFilterGrad(
  xShape: readonly number[],
  filterShape: readonly number[],
  pad: "valid" | "same",
): boolean {
  return directInfo(xShape, filterShape, pad) !== undefined;
}

/** The geometry of a stride-1 NHWC convolution on the `"direct"` path. */
function directInfo(
  xShape: readonly number[],
  filterShape: readonly number[],
  pad: "valid" | "same",
): tf.backend_util.Conv2DInfo | undefined {
  if (xShape.length !== 4 || filterShape.length !== 4) return undefined;
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    1,
    1,
    pad,
  );
  return filterGradPath(info) === "direct" ? info : undefined;
}

/**
 * {@link RELU_FILTER_GRAD} over a batch in parts:
 * {@link ReluFilterGradPass.images} adds the next images' terms as soon as
 * their `dy` is complete (a fused backward pass calls it while those images
 * are in cache), and {@link ReluFilterGradPass.finish} gives the two
 * gradients. The same bits however the batch is split.
 */
export interface ReluFilterGradPass {
  /**
   * Adds the terms of the images not added yet before `to`, from `dy`
   * (float32, y's image shape) whose first image is image `at`.
   */
  images(dy: tf.TensorInfo, at: number, to: number): void;
  /** The filter's and the bias's gradients, once every image is added. */
  finish(): [tf.TensorInfo, tf.TensorInfo];
  /** Frees what the pass holds (after an error). */
  abort(): void;
}

/**
 * Starts a {@link ReluFilterGradPass} of ReLU's, the filter's and the
 * bias's gradients of a stride-1 convolution of `x` with a filter of
 * `filterShape` (the `"direct"` path, {@link canReluFilterGrad}) whose ReLU
 * output is `y` (stored, or a {@link ChunkedInput} holding the images each
 * call adds), from its gradient `dy` an image range at a time: dz = dy ·
 * step(y) a strip at a time in scratch (`directFilterGradRelu` of
 * `simd/direct.as.ts`), never stored; the filter gradient as the `"direct"`
 * path computes it from dz, bit for bit; the bias gradient as `Sum` does
 * (float64 column sums; the same bits where an image's pixels come in
 * fours, as conv1's 676).
 *
 * @throws {RangeError} where the shapes, dtypes or backend do not fit, or
 * (from the pass) images come out of order or `finish` comes early.
 */
export function reluFilterGradPass(
  backend: BackendWasm,
  x: tf.TensorInfo,
  y: tf.TensorInfo | ChunkedInput,
  filterShape: number[],
  pad: "valid" | "same",
): ReluFilterGradPass {
  const fits = [x, y].every((t) => t.dtype === "float32") &&
    simdAvailable(backend);
  const info = fits ? directInfo(x.shape, filterShape, pad) : undefined;
  if (!info || !tf.util.arraysEqual(info.outShape, y.shape)) {
    throw new RangeError(
      `${RELU_FILTER_GRAD}: unsupported x ${x.shape} (${x.dtype}), y ` +
        `${y.shape} (${y.dtype}), filter ${filterShape}, pad ${pad}`,
    );
  }
  const co = info.outChannels, n = info.batchSize;
  const image = info.outHeight * info.outWidth * co;
  const inImage = info.inHeight * info.inWidth * info.inChannels;
  const out = backend.makeOutput(info.filterShape, "float32");
  const db = backend.makeOutput([co], "float32");
  // One image of dz (or a strip of it and the filter's running sums), then
  // float64 sums (2 floats each, 8-byte aligned).
  const room = image + tf.util.sizeFromShape(info.filterShape);
  const scratch = backend.makeOutput([room + 2 * co + 1], "float32");
  const base = heapIndex(backend, scratch);
  const acc = (base + room + 1) & ~1;
  const heap = heapF32(backend);
  heap.fill(0, acc, acc + 2 * co);
  const outAt = heapIndex(backend, out);
  heap.fill(0, outAt, outAt + tf.util.sizeFromShape(info.filterShape));
  let done = 0;
  return {
    images(dy, at, to) {
      const [, ...shape] = dy.shape;
      if (
        dy.dtype !== "float32" || at > done || to > n ||
        !tf.util.arraysEqual(shape, y.shape.slice(1)) ||
        at + dy.shape[0] < to
      ) {
        throw new RangeError(
          `${RELU_FILTER_GRAD}: images to ${to} from dy ${dy.shape} ` +
            `(${dy.dtype}) of images from ${at}, after ${done} of ${y.shape}`,
        );
      }
      if (to <= done) return;
      const yAddr = "images" in y
        ? y.images(done, to)
        : (heapIndex(backend, y) + done * image) * 4;
      simdKernels(backend).directFilterGradRelu(
        (heapIndex(backend, x) + done * inImage) * 4,
        (heapIndex(backend, dy) + (done - at) * image) * 4,
        yAddr,
        heapIndex(backend, out) * 4,
        acc * 4,
        base * 4,
        to - done,
        info.inHeight,
        info.inWidth,
        info.inChannels,
        info.outHeight,
        info.outWidth,
        co,
        info.filterHeight,
        info.filterWidth,
        info.padInfo.top,
        info.padInfo.left,
      );
      done = to;
    },
    finish() {
      if (done !== n) {
        throw new RangeError(
          `${RELU_FILTER_GRAD}: ${done} of ${n} images added`,
        );
      }
      const heap = heapF32(backend);
      heap.set(
        new Float64Array(heap.buffer, acc * 4, co),
        heapIndex(backend, db),
      );
      disposeAll(backend, scratch);
      return [out, db];
    },
    abort() {
      disposeAll(backend, out, db, scratch);
    },
  };
}

/** {@link RELU_FILTER_GRAD} on the wasm backend: a whole {@link reluFilterGradPass}. */
function reluFilterGrad(args: KernelArgs): tf.TensorInfo[] {
  const { x, dy, y } = args.inputs as Record<string, tf.TensorInfo>;
  const { pad, filterShape } = args.attrs as unknown as {
    pad: "valid" | "same";
    filterShape: number[];
  };
  if (!tf.util.arraysEqual(dy.shape, y.shape)) {
    throw new RangeError(
      `${RELU_FILTER_GRAD}: unsupported dy ${dy.shape}, not y's ${y.shape}`,
    );
  }
  const pass = reluFilterGradPass(
    args.backend as BackendWasm,
    x,
    y,
    filterShape,
    pad,
  );
  try {
    pass.images(dy, 0, y.shape[0]);
    return pass.finish();
  } catch (e) {
    pass.abort();
    throw e;
  }
}

/** Registers {@link RELU_FILTER_GRAD} for the wasm backend (once). */
export function registerReluFilterGrad(): void {
  if (tf.getKernel(RELU_FILTER_GRAD, WASM) !== undefined) return;
  tf.registerKernel({
    kernelName: RELU_FILTER_GRAD,
    backendName: WASM,
    kernelFunc: reluFilterGrad as unknown as tf.KernelFunc,
  });
}

/**
 * The `"im2col"` path: `P·dY` over chunks of output pixels (see the module
 * comment), NHWC or NCHW, any stride and padding.
 */
function im2colFilterGrad(
  backend: BackendWasm,
  matMul: MatMulFunc,
  info: tf.backend_util.Conv2DInfo,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
): tf.TensorInfo {
  const channelsLast = info.dataFormat === "channelsLast";
  const n = info.batchSize;
  const kc = info.inChannels * info.filterHeight * info.filterWidth;
  const co = info.outChannels;
  const pixels = info.outHeight * info.outWidth;
  const out = backend.makeOutput(info.filterShape, "float32");
  let xT: tf.TensorInfo | undefined; // [Ci, H, W, N]
  let dyNhwc: tf.TensorInfo | undefined;
  let patches: tf.TensorInfo | undefined;
  try {
    xT = channelsLast ? channelsMajor(backend, x) : swapLastAxes(
      backend,
      reshaped(x, [n, x.shape[1] * x.shape[2] * x.shape[3]]),
    );
    dyNhwc = channelsLast ? dy : transpose(backend, dy, [0, 2, 3, 1]);
    const chunkPixels = Math.max(
      1,
      Math.min(pixels, Math.floor(CHUNK_K / n)),
    );
    let first = true;
    for (let p0 = 0; p0 < pixels; p0 += chunkPixels) {
      const p1 = Math.min(pixels, p0 + chunkPixels);
      const k = (p1 - p0) * n;
      if (patches === undefined || patches.shape[1] !== k) {
        disposeAll(backend, patches);
        patches = backend.makeOutput([kc, k], "float32");
      }
      // A fresh tensor for each chunk: XNNPACK caches packed weights by id.
      const grads = backend.makeOutput([k, co], "float32");
      let part: tf.TensorInfo | undefined;
      try {
        const heap = heapF32(backend);
        gatherGrads(
          heap,
          heapIndex(backend, grads),
          heapIndex(backend, dyNhwc),
          {
            info,
            p0,
            p1,
          },
        );
        fillPatches(heap, heapIndex(backend, patches), heapIndex(backend, xT), {
          info,
          p0,
          p1,
        });
        part = matMul(backend, patches, grads);
        accumulate(backend, out, part, first);
        first = false;
      } finally {
        disposeAll(backend, grads, part);
      }
    }
    return out;
  } catch (error) {
    disposeAll(backend, out);
    throw error;
  } finally {
    disposeAll(backend, xT, patches);
    if (dyNhwc !== dy) disposeAll(backend, dyNhwc);
  }
}

/**
 * `x` (`[N, H, W, C]`) transposed to `[C, H, W, N]` in a fresh tensor, one
 * pixel's `[N, C]` slab at a time.
 */
function channelsMajor(backend: BackendWasm, x: tf.TensorInfo): tf.TensorInfo {
  const [n, h, w, c] = x.shape;
  const out = backend.makeOutput([c, h, w, n], "float32");
  const heap = heapF32(backend);
  const src = heapIndex(backend, x);
  const dst = heapIndex(backend, out);
  const pixels = h * w;
  for (let p = 0; p < pixels; p++) {
    transposeBlock(
      heap,
      src + p * c,
      pixels * c,
      dst + p * n,
      pixels * n,
      n,
      c,
    );
  }
  return out;
}

/** Adds (or, for the first chunk, copies) `part` into `out`. */
function accumulate(
  backend: BackendWasm,
  out: tf.TensorInfo,
  part: tf.TensorInfo,
  first: boolean,
): void {
  const heap = heapF32(backend);
  const dst = heapIndex(backend, out);
  const src = heapIndex(backend, part);
  const size = tf.util.sizeFromShape(out.shape);
  if (first) {
    copyRun(heap, dst, src, size);
  } else {
    for (let i = 0; i < size; i++) heap[dst + i] += heap[src + i];
  }
}

/**
 * Writes the rows `(p - p0, n)` of `dY` for output pixels `[p0, p1)` at heap
 * index `dst`: row `(p, n)` is `dy[n, p, :]`, read from NHWC `dy` at `src`.
 */
function gatherGrads(
  heap: Float32Array,
  dst: number,
  src: number,
  { info, p0, p1 }: {
    info: tf.backend_util.Conv2DInfo;
    p0: number;
    p1: number;
  },
): void {
  const n = info.batchSize;
  const co = info.outChannels;
  const pixels = info.outHeight * info.outWidth;
  for (let p = p0; p < p1; p++) {
    for (let b = 0; b < n; b++, dst += co) {
      copyRun(heap, dst, src + (b * pixels + p) * co, co);
    }
  }
}

/**
 * Writes the patch matrix for output pixels `[p0, p1)` at heap index `dst`:
 * row `(kh,kw,ci)`, column `(p - p0, n)` holds
 * `x[n, oh·sh + kh - padTop, ow·sw + kw - padLeft, ci]`, or 0 in the padding,
 * read from `xT` (`[Ci, H, W, N]`) at heap index `src`.
 */
function fillPatches(
  heap: Float32Array,
  dst: number,
  src: number,
  { info, p0, p1 }: {
    info: tf.backend_util.Conv2DInfo;
    p0: number;
    p1: number;
  },
): void {
  const {
    batchSize: n,
    inHeight: h,
    inWidth: w,
    inChannels: ci,
    outWidth: ow,
    filterHeight: fh,
    filterWidth: fw,
    strideHeight: sh,
    strideWidth: sw,
  } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  const k = (p1 - p0) * n;
  let row = dst;
  for (let kh = 0; kh < fh; kh++) {
    for (let kw = 0; kw < fw; kw++) {
      for (let c = 0; c < ci; c++, row += k) {
        const plane = src + c * h * w * n;
        let p = p0;
        while (p < p1) {
          const oh = Math.floor(p / ow);
          const ow0 = p - oh * ow;
          const ow1 = Math.min(ow, ow0 + (p1 - p));
          const at = row + (p - p0) * n;
          const ih = oh * sh + kh - padTop;
          if (ih < 0 || ih >= h) {
            zeroRun(heap, at, (ow1 - ow0) * n);
          } else if (sw === 1) {
            // Input columns ow + kw - padLeft are consecutive: one copy.
            const lo = Math.min(ow1, Math.max(ow0, padLeft - kw));
            const hi = Math.min(ow1, Math.max(lo, w + padLeft - kw));
            zeroRun(heap, at, (lo - ow0) * n);
            copyRun(
              heap,
              at + (lo - ow0) * n,
              plane + (ih * w + lo + kw - padLeft) * n,
              (hi - lo) * n,
            );
            zeroRun(heap, at + (hi - ow0) * n, (ow1 - hi) * n);
          } else {
            for (let o = ow0; o < ow1; o++) {
              const iw = o * sw + kw - padLeft;
              const to = at + (o - ow0) * n;
              if (iw < 0 || iw >= w) zeroRun(heap, to, n);
              else copyRun(heap, to, plane + (ih * w + iw) * n, n);
            }
          }
          p += ow1 - ow0;
        }
      }
    }
  }
}

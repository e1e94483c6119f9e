/**
 * `Conv2D` and `FusedConv2D` for the wasm backend: 3x3 stride-1 convolutions
 * of one input channel (the tutorial's first layer) run on a direct kernel
 * ({@link directConv3x3}); with many channels (the second) as Winograd,
 * with fewer multiplications than the stock XNNPACK convolution; everything
 * else runs on the stock kernels.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import {
  canUseWinograd,
  type Pads,
  winogradConv3x3,
  winogradForwardProfitable,
} from "./winograd.ts";
import {
  canDirectConv,
  directConv3x3,
  directConvImages,
} from "./direct_conv.ts";
import { simdAvailable } from "./simd/simd.ts";
import {
  allOnes,
  copyRun,
  disposeAll,
  heapF32,
  heapIndex,
  type KernelArgs,
  WASM,
  wasmKernel,
  type WasmKernelFunc,
} from "./wasm_util.ts";

/** The attributes of a convolution that decide its kernel (tfjs's names). */
export interface ConvGeometry {
  /** Stride of each spatial axis, or of both; 1 by default. */
  strides?: number | number[];
  /** Dilation of each spatial axis, or of both; 1 by default. */
  dilations?: number | number[];
  /** `"NHWC"` (the default) or `"NCHW"`. */
  dataFormat?: string;
}

/**
 * Whether a stride-1 convolution with these shapes and pads is routed to
 * Winograd: valid for it, faster with these channel counts, and the
 * transforms load on this backend.
 */
export function useWinograd(
  backend: BackendWasm,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  pads: Pads,
  attrs: ConvGeometry = {},
): boolean {
  return canUseWinograd(
    x.shape,
    filter.shape,
    attrs.strides ?? 1,
    attrs.dilations ?? 1,
    pads,
    attrs.dataFormat ?? "NHWC",
  ) && winogradForwardProfitable(filter.shape) && simdAvailable(backend);
}

/**
 * Whether a convolution is routed to the direct kernel of one input channel
 * ({@link directConv3x3}): float32, stride 1, dilation 1, NHWC, a 3x3
 * filter from one channel to a multiple of 8, and the SIMD module loads.
 */
export function useDirect(
  backend: BackendWasm,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  attrs: ConvGeometry = {},
): boolean {
  return x.dtype === "float32" && filter.dtype === "float32" &&
    allOnes(attrs.strides) && allOnes(attrs.dilations) &&
    (attrs.dataFormat ?? "NHWC") === "NHWC" &&
    canDirectConv(x.shape, filter.shape) && simdAvailable(backend);
}

/**
 * The convolution's geometry as tfjs's op declares it, and the explicit pads
 * that give at least that output. The declared output size is the contract:
 * the engine and the gradient ops expect exactly it. It can be smaller than
 * the convolution the pads describe: for a numeric `pad`, tfjs 4.22's
 * `computeConv2DInfo` derives the output width from the filter height and the
 * stride height (and the `cpu` backend computes only those columns).
 */
function padsOf(
  args: KernelArgs,
): { pads: Pads; attrs: tf.Conv2DAttrs; info: tf.backend_util.Conv2DInfo } {
  const { x, filter } = args.inputs as {
    x: tf.TensorInfo;
    filter: tf.TensorInfo;
  };
  const attrs = args.attrs as unknown as tf.Conv2DAttrs;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(attrs.dataFormat),
  );
  // With `dimRoundingMode` "ceil" or "round" the last window may reach past
  // the given padding; pad the bottom and right so explicit pads yield the
  // same output size.
  const { top, left } = info.padInfo;
  const bottom = Math.max(
    info.padInfo.bottom,
    (info.outHeight - 1) * info.strideHeight + info.effectiveFilterHeight -
      info.inHeight - top,
  );
  const right = Math.max(
    info.padInfo.right,
    (info.outWidth - 1) * info.strideWidth + info.effectiveFilterWidth -
      info.inWidth - left,
  );
  return { pads: { top, bottom, left, right }, attrs, info };
}

/**
 * Crops a channels-last result `y` to the declared `[outHeight, outWidth]`
 * of `info` (keeping the top-left rows and columns, as the `cpu` backend
 * computes them); returns `y` itself when it already has the declared shape.
 * Takes ownership of `y`.
 */
function toDeclaredShape(
  backend: BackendWasm,
  y: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
): tf.TensorInfo {
  if (tf.util.arraysEqual(y.shape, info.outShape)) return y;
  const [n, h, w, c] = y.shape;
  const { outHeight: oh, outWidth: ow } = info;
  if (info.dataFormat !== "channelsLast" || oh > h || ow > w) {
    disposeAll(backend, y);
    throw new RangeError(
      `Conv2D: computed shape ${y.shape} cannot be cropped to the declared ${info.outShape}`,
    );
  }
  const out = backend.makeOutput([n, oh, ow, c], y.dtype);
  const heap = heapF32(backend);
  const src = heapIndex(backend, y);
  let dst = heapIndex(backend, out);
  for (let b = 0; b < n; b++) {
    for (let r = 0; r < oh; r++, dst += ow * c) {
      copyRun(heap, dst, src + ((b * h + r) * w) * c, ow * c);
    }
  }
  disposeAll(backend, y);
  return out;
}

/**
 * `args` with the pads made explicit. The stock kernel hands `same` padding
 * to XNNPACK, which splits odd padding differently from tfjs (and its cpu
 * backend and gradients) when the stride exceeds 1; explicit pads agree.
 */
function withExplicitPads(args: KernelArgs, pads: Pads): KernelArgs {
  const explicit = [[0, 0], [pads.top, pads.bottom], [pads.left, pads.right], [
    0,
    0,
  ]];
  // The pads already give the rounded size; rounding again would let the
  // stock kernel declare a larger output than XNNPACK computes.
  return {
    ...args,
    attrs: {
      ...args.attrs,
      pad: explicit,
      dimRoundingMode: undefined,
    } as unknown as tf.NamedAttrMap,
  };
}

/** Makes the `Conv2D` kernel function around the stock one (`stock`). */
export function makeConv2D(stock: WasmKernelFunc): WasmKernelFunc {
  return function conv2d(args: KernelArgs): tf.TensorInfo {
    const { x, filter } = args.inputs as {
      x: tf.TensorInfo;
      filter: tf.TensorInfo;
    };
    const { pads, attrs, info } = padsOf(args);
    const y = useDirect(args.backend, x, filter, attrs)
      ? directConv3x3(args.backend, x, filter, pads)
      : x.dtype !== "float32" ||
          !useWinograd(args.backend, x, filter, pads, attrs)
      ? stock(withExplicitPads(args, pads))
      : winogradConv3x3(args.backend, x, filter, pads);
    return toDeclaredShape(args.backend, y, info);
  };
}

/**
 * Makes the `FusedConv2D` kernel function (convolution, bias, activation, as
 * tfjs-layers runs `Conv2D` layers at inference) around the stock one: the
 * direct convolution of one input channel, or the Winograd convolution,
 * with its bias and relu applied as the output
 * transform stores each value (or the backend's `Add` and `Relu` for a bias
 * of another shape), for no activation or relu; the stock kernel for
 * anything else.
 */
export function makeFusedConv2D(stock: WasmKernelFunc): WasmKernelFunc {
  return function fusedConv2d(args: KernelArgs): tf.TensorInfo {
    const { x, filter, bias, preluActivationWeights } = args.inputs as Record<
      string,
      tf.TensorInfo | undefined
    >;
    const { activation } = args.attrs as unknown as tf.FusedConv2DAttrs;
    const { pads, attrs, info } = padsOf(args);
    const channels = filter!.shape[3];
    const biasFits = bias === undefined ||
      (bias.dtype === "float32" && tf.util.arraysEqual(bias.shape, [channels]));
    const fusable = preluActivationWeights === undefined &&
      (activation === undefined || activation === "linear" ||
        activation === "relu");
    if (fusable && biasFits && useDirect(args.backend, x!, filter!, attrs)) {
      return toDeclaredShape(
        args.backend,
        directConv3x3(args.backend, x!, filter!, pads, {
          bias,
          relu: activation === "relu",
        }),
        info,
      );
    }
    if (
      x!.dtype !== "float32" || !fusable ||
      !useWinograd(args.backend, x!, filter!, pads, attrs)
    ) {
      return toDeclaredShape(
        args.backend,
        stock(withExplicitPads(args, pads)),
        info,
      );
    }
    const backend = args.backend;
    if (biasFits) {
      // Bias and ReLU as the output transform stores each value.
      return toDeclaredShape(
        backend,
        winogradConv3x3(backend, x!, filter!, pads, {
          bias,
          relu: activation === "relu",
        }),
        info,
      );
    }
    let y = winogradConv3x3(backend, x!, filter!, pads);
    if (bias !== undefined) {
      const sum = wasmKernel("Add")({ inputs: { a: y, b: bias }, backend });
      disposeAll(backend, y);
      y = sum;
    }
    if (activation === "relu") {
      const relu = wasmKernel("Relu")({ inputs: { x: y }, backend });
      disposeAll(backend, y);
      y = relu;
    }
    return toDeclaredShape(backend, y, info);
  };
}

/**
 * The kernel name of a `Conv2D` layer's convolution, bias and ReLU followed
 * by a 2×2, stride-2, valid max pool, at inference (this project's own;
 * tfjs has none): {@linkcode registerConv2DReluPool}.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { CONV_RELU_POOL } from "./conv2d.ts";
 * assertEquals(CONV_RELU_POOL, "MnistCnnConv2DReluPool");
 * ```
 */
export const CONV_RELU_POOL = "MnistCnnConv2DReluPool";

/**
 * The kernel name of two `Conv2D` layers with ReLU, the first of one input
 * channel, and the 2×2 max pool after the second, at inference (the
 * tutorial's conv1, conv2 and pool): {@linkcode registerConv2DReluPool}.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { FIRST_CONVS_POOL } from "./conv2d.ts";
 * assertEquals(FIRST_CONVS_POOL, "MnistCnnFirstConvsPool");
 * ```
 */
export const FIRST_CONVS_POOL = "MnistCnnFirstConvsPool";

/** A convolution with ReLU as `FusedConv2D` takes it: stride 1, NHWC. */
function reluConv(
  backend: BackendWasm,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  bias: tf.TensorInfo,
  pad: "valid" | "same",
): KernelArgs {
  return {
    inputs: { x, filter, bias },
    backend,
    attrs: {
      strides: [1, 1],
      pad,
      dataFormat: "NHWC",
      dilations: [1, 1],
      activation: "relu",
    } as unknown as tf.NamedAttrMap,
  };
}

/**
 * The pads of `conv` where it runs as Winograd with the pool in its output
 * transform: float32, a bias of Cout, an output of at least 2×2 that its
 * pads give exactly, not the direct kernel's case. Only `x`'s shape and
 * dtype are read.
 */
function pooledWinogradPads(conv: KernelArgs): Pads | undefined {
  const { x, filter } = conv.inputs as Record<string, tf.TensorInfo>;
  const geometry = padsOf(conv);
  const { pads, attrs, info } = geometry;
  const backend = conv.backend;
  return x.dtype === "float32" && filter.dtype === "float32" &&
      info.outHeight >= 2 && info.outWidth >= 2 &&
      biasAndPadsFit(conv, geometry) &&
      !useDirect(backend, x, filter, attrs) &&
      useWinograd(backend, x, filter, pads, attrs)
    ? pads
    : undefined;
}

/**
 * Whether `conv`'s bias is float32 [Cout] and its explicit pads (`padsOf`)
 * give exactly its declared output for a 3×3 filter: the fused kernels
 * compute no other size.
 */
function biasAndPadsFit(
  conv: KernelArgs,
  { pads, info }: ReturnType<typeof padsOf>,
): boolean {
  const { x, bias } = conv.inputs as Record<string, tf.TensorInfo>;
  const [, h, w] = x.shape;
  return bias.dtype === "float32" &&
    tf.util.arraysEqual(bias.shape, [info.outChannels]) &&
    h + pads.top + pads.bottom - 2 === info.outHeight &&
    w + pads.left + pads.right - 2 === info.outWidth;
}

/**
 * Inputs `x` [N, H, W, Cin], `filter` [FH, FW, Cin, Cout], `bias` [Cout];
 * attribute `pad` ("valid" or "same", stride 1, NHWC): the pooled
 * activation [N, ⌊OH/2⌋, ⌊OW/2⌋, Cout]. Where the convolution runs as
 * Winograd, the pool runs in its output transform (conv2's 18.9 MB output
 * per 128 images is never stored); otherwise (the direct convolution of one
 * channel included) `FusedConv2D` then `MaxPool`. Either way the same bits
 * as the two kernels.
 */
function conv2DReluPool(args: KernelArgs): tf.TensorInfo {
  const { x, filter, bias } = args.inputs as Record<string, tf.TensorInfo>;
  const { pad } = args.attrs as unknown as { pad: "valid" | "same" };
  const backend = args.backend;
  const conv = reluConv(backend, x, filter, bias, pad);
  const pads = pooledWinogradPads(conv);
  if (pads !== undefined) {
    return winogradConv3x3(backend, x, filter, pads, {
      bias,
      relu: true,
      pool: true,
    });
  }
  const y = wasmKernel("FusedConv2D")(conv);
  try {
    return wasmKernel("MaxPool")({
      inputs: { x: y },
      backend,
      attrs: { filterSize: [2, 2], strides: [2, 2], pad: "valid" },
    });
  } finally {
    disposeAll(backend, y);
  }
}

/**
 * Inputs `x` [N, H, W, 1], `filter1`, `bias1`, `filter2`, `bias2`;
 * attributes `pad1`, `pad2`: {@link CONV_RELU_POOL} of the first layer's
 * `FusedConv2D` with ReLU. Where the first runs on the direct kernel and
 * the second as Winograd with the pool, the first's output is computed a
 * few images at a time as the second's tiles reach them, and never stored
 * ({@link directConvImages}: 11 MB per 128 images less written through the
 * cache); otherwise the two kernels. Either way the same bits as they.
 */
function firstConvsPool(args: KernelArgs): tf.TensorInfo {
  const { x, filter1, bias1, filter2, bias2 } = args.inputs as Record<
    string,
    tf.TensorInfo
  >;
  const { pad1, pad2 } = args.attrs as unknown as Record<
    "pad1" | "pad2",
    "valid" | "same"
  >;
  const backend = args.backend;
  const first = reluConv(backend, x, filter1, bias1, pad1);
  const one = padsOf(first);
  const { outHeight, outWidth, outChannels } = one.info;
  const yShape = [x.shape[0], outHeight, outWidth, outChannels];
  const pads = useDirect(backend, x, filter1, one.attrs) &&
      biasAndPadsFit(first, one)
    ? pooledWinogradPads(
      reluConv(
        backend,
        { dataId: {}, shape: yShape, dtype: "float32" },
        filter2,
        bias2,
        pad2,
      ),
    )
    : undefined;
  if (pads !== undefined) {
    const y = directConvImages(backend, x, filter1, one.pads, {
      bias: bias1,
      relu: true,
    });
    try {
      return winogradConv3x3(backend, y, filter2, pads, {
        bias: bias2,
        relu: true,
        pool: true,
      });
    } finally {
      y.dispose();
    }
  }
  const y = wasmKernel("FusedConv2D")(first);
  try {
    return conv2DReluPool({
      inputs: { x: y, filter: filter2, bias: bias2 },
      backend,
      attrs: { pad: pad2 },
    });
  } finally {
    disposeAll(backend, y);
  }
}

/**
 * Registers {@link CONV_RELU_POOL} and {@link FIRST_CONVS_POOL} for the wasm
 * backend (once; no gradient: inference only, see `lib/engine/forward.ts`).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 * import { initBackend } from "../backend.ts"; // registers it
 * import { CONV_RELU_POOL } from "./conv2d.ts";
 * await initBackend();
 * const x = tf.ones([1, 6, 6, 16]);
 * const filter = tf.ones([3, 3, 16, 16]);
 * const bias = tf.fill([16], -100);
 * const z = tf.engine().runKernel(CONV_RELU_POOL, { x, filter, bias }, {
 *   pad: "valid",
 * }) as tf.Tensor;
 * assertEquals(z.shape, [1, 2, 2, 16]);
 * // 9·16 - 100, the ReLU and pool of 44s (F(6×6) Winograd rounds a little)
 * assertAlmostEquals(z.dataSync()[0], 44, 1e-3);
 * ```
 */
export function registerConv2DReluPool(): void {
  if (tf.getKernel(CONV_RELU_POOL, WASM) !== undefined) return;
  tf.registerKernel({
    kernelName: CONV_RELU_POOL,
    backendName: WASM,
    kernelFunc: conv2DReluPool as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: FIRST_CONVS_POOL,
    backendName: WASM,
    kernelFunc: firstConvsPool as unknown as tf.KernelFunc,
  });
}

/**
 * `Conv2D` and `FusedConv2D` for the wasm backend: 3x3 stride-1 convolutions
 * with many channels (the tutorial's second layer) run as Winograd
 * F(2x2,3x3), with 2.25x fewer multiplications than the stock XNNPACK
 * convolution; everything else runs on the stock kernels.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import {
  canUseWinograd,
  type Pads,
  winogradAvailable,
  winogradConv3x3,
  winogradProfitable,
} from "./winograd.ts";
import {
  disposeAll,
  type KernelArgs,
  wasmKernel,
  type WasmKernelFunc,
} from "./wasm_util.ts";

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
  attrs: {
    strides?: number | number[];
    dilations?: number | number[];
    dataFormat?: string;
  } = {},
): boolean {
  return canUseWinograd(
    x.shape,
    filter.shape,
    attrs.strides ?? 1,
    attrs.dilations ?? 1,
    pads,
    attrs.dataFormat ?? "NHWC",
  ) && winogradProfitable(filter.shape) && winogradAvailable(backend);
}

/** The explicit pads that give a convolution tfjs's geometry. */
function padsOf(args: KernelArgs): { pads: Pads; attrs: tf.Conv2DAttrs } {
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
  return { pads: { top, bottom, left, right }, attrs };
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
  return {
    ...args,
    attrs: { ...args.attrs, pad: explicit } as unknown as tf.NamedAttrMap,
  };
}

/** Makes the `Conv2D` kernel function around the stock one (`stock`). */
export function makeConv2D(stock: WasmKernelFunc): WasmKernelFunc {
  return function conv2d(args: KernelArgs): tf.TensorInfo {
    const { x, filter } = args.inputs as {
      x: tf.TensorInfo;
      filter: tf.TensorInfo;
    };
    const { pads, attrs } = padsOf(args);
    if (
      x.dtype !== "float32" ||
      !useWinograd(args.backend, x, filter, pads, attrs)
    ) {
      return stock(withExplicitPads(args, pads));
    }
    return winogradConv3x3(args.backend, x, filter, pads);
  };
}

/**
 * Makes the `FusedConv2D` kernel function (convolution, bias, activation, as
 * tfjs-layers runs `Conv2D` layers at inference) around the stock one: the
 * Winograd convolution, then the backend's `Add` and `Relu`, for no
 * activation or relu; the stock kernel for anything else.
 */
export function makeFusedConv2D(stock: WasmKernelFunc): WasmKernelFunc {
  return function fusedConv2d(args: KernelArgs): tf.TensorInfo {
    const { x, filter, bias, preluActivationWeights } = args.inputs as Record<
      string,
      tf.TensorInfo | undefined
    >;
    const { activation } = args.attrs as unknown as tf.FusedConv2DAttrs;
    const { pads, attrs } = padsOf(args);
    if (
      x!.dtype !== "float32" || preluActivationWeights !== undefined ||
      !(activation === undefined || activation === "linear" ||
        activation === "relu") ||
      !useWinograd(args.backend, x!, filter!, pads, attrs)
    ) {
      return stock(withExplicitPads(args, pads));
    }
    const backend = args.backend;
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
    return y;
  };
}

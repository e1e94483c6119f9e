/**
 * The training forward pass with each `Conv2D` layer's convolution, bias and
 * ReLU run as one op. tfjs fuses them only at inference: under a gradient
 * tape, `tf.fused.conv2d` runs three ops and the tape keeps the convolution's
 * output (for the bias's gradient shape) and the sum (for the ReLU's), two
 * tensors of the layer's output size more than the gradient needs (per 64
 * samples, 2 × 9.4 MB for the second convolution, 2 × 5.5 MB for the first).
 * The op here keeps only its input, filter and output, computes its forward
 * pass with the backend's `FusedConv2D` kernel (on wasm, the Winograd
 * convolution with bias and ReLU in place), and has a gradient of its own
 * that computes only what the tape asks for: where the tape asks for both the
 * input's and the filter's, of a 3x3 convolution the Winograd kernels run,
 * one pass over `dy`'s tiles ({@link CONV_BACKPROP}) computes the two. A
 * first layer of one input channel and the pooled layer after it (the
 * tutorial's conv1 and conv2) are one op of one kernel each way: forward
 * ({@link FIRST_CONVS_CODES}), the first layer's output is computed a few
 * images at a time as the second's tiles reach them and never stored;
 * backward ({@link FIRST_CONVS_BACKPROP}), it is computed again so, and the
 * first layer's gradients are taken an image at a time as the second's
 * input gradient completes it, in cache.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { RELU_GRAD } from "../kernels/relu_grad.ts";
import {
  canReluFilterGrad,
  RELU_FILTER_GRAD,
  reluFilterGradPass,
} from "../kernels/conv2d_backprop_filter.ts";
import { simdAvailable } from "../kernels/simd/simd.ts";
import { canDirectConv, directConvImages } from "../kernels/direct_conv.ts";
import {
  canPoolCodes,
  canUseWinograd,
  type Pads,
  winogradBackprop3x3,
  winogradBackpropPooled3x3,
  winogradConv3x3,
  winogradProfitable,
} from "../kernels/winograd.ts";
import { canPoolReluGrad, POOL_RELU_GRAD } from "../kernels/pool_relu_grad.ts";
import { allOnes, disposeAll } from "../kernels/wasm_util.ts";
import { chainLayers } from "./chain.ts";
import { layerMask } from "./dropout.ts";

/** The op's kernel name (this project's own; tfjs has none). */
export const CONV_BIAS_RELU = "MnistCnnConv2DBiasRelu";

/**
 * The same op followed by a 2×2, stride-2 max pool (the tutorial's conv2
 * and pooling): its outputs are the pooled activation and the ReLU's output.
 * The training pass runs it inside a custom gradient whose one output is the
 * pooled activation, the ReLU's output saved for the gradient, which runs
 * the pool's, the ReLU's and the bias's in one pass ({@link POOL_RELU_GRAD}).
 */
export const CONV_BIAS_RELU_POOL = "MnistCnnConv2DBiasReluPool";

/**
 * Both gradients of the op's 3x3 convolution, of its input and of its
 * filter, in one kernel (`winogradBackprop3x3`): inputs `x`, `dy`, `filter`,
 * attribute `pad`; outputs `[dx, dFilter]`.
 */
export const CONV_BACKPROP = "MnistCnnConv2DBackprop";

/**
 * The pooled op as conv2 runs it on the Winograd kernels ({@link
 * canPoolCodes}): outputs the pooled activation and, instead of the ReLU's
 * whole output, each pool window's code (int32, the pooled shape): which of
 * its four values the gradient goes to, if any. Inputs `x`, `filter`,
 * `bias`, attribute `pad`.
 */
export const CONV_POOL_CODES = "MnistCnnConv2DBiasReluPoolCodes";

/**
 * The gradients of {@link CONV_POOL_CODES}'s input, filter and bias from the
 * pooled gradient and the codes, in one pass (`winogradBackpropPooled3x3`):
 * inputs `x`, `dy`, `codes`, `filter`, attribute `pad`; outputs `[dx,
 * dFilter, dBias]`.
 */
export const CONV_POOL_BACKPROP = "MnistCnnConv2DPoolBackprop";

/**
 * A first layer of one input channel on the direct path ({@link
 * CONV_BIAS_RELU}) and the pooled op on codes after it ({@link
 * CONV_POOL_CODES}), in one pass: the first layer's output is computed a
 * chunk of images at a time as the second's tiles reach them, in cache, and
 * never stored (`directConvImages`). Inputs `x`, `filter1`, `bias1`,
 * `filter2`, `bias2` (and `mask`); attributes `pad1`, `pad2`; outputs
 * `[pooled, codes]`, the same bits as the two kernels.
 */
export const FIRST_CONVS_CODES = "MnistCnnFirstConvsPoolCodes";

/**
 * The gradients of {@link FIRST_CONVS_CODES}'s two layers, four weights, in
 * one pass: the pooled op's ({@link CONV_POOL_BACKPROP}) and, as each image
 * of its input gradient is complete, in cache, the first layer's filter and
 * bias gradients ({@link RELU_FILTER_GRAD}); the input gradient of neither
 * layer is kept. The first layer's output, which both need, is computed
 * again a chunk at a time, as in the forward pass. Inputs `x`, `filter1`,
 * `bias1`, `dy`, `codes`, `filter2` (and `mask`); attributes `pad1`,
 * `pad2`; outputs `[dFilter1, dBias1, dFilter2, dBias2]`, the same bits as
 * the separate kernels.
 */
export const FIRST_CONVS_BACKPROP = "MnistCnnFirstConvsPoolBackprop";

/** The attributes of {@link FIRST_CONVS_CODES} and {@link FIRST_CONVS_BACKPROP}. */
interface FirstConvsAttrs {
  pad1: "valid" | "same";
  pad2: "valid" | "same";
  [key: string]: unknown;
}

/**
 * The first layer's output of {@link FIRST_CONVS_CODES} and {@link
 * FIRST_CONVS_BACKPROP}, produced a chunk at a time.
 */
function firstLayerImages(
  backend: BackendWasm,
  inputs: Record<"x" | "filter1" | "bias1", tf.TensorInfo>,
  pad1: "valid" | "same",
): ReturnType<typeof directConvImages> {
  const { x, filter1, bias1 } = inputs;
  return directConvImages(backend, x, filter1, padsOf(pad1), {
    bias: bias1,
    relu: true,
  });
}

/** The attributes of {@linkcode CONV_BIAS_RELU}: a stride-1 NHWC convolution. */
interface ConvAttrs {
  pad: "valid" | "same";
  [key: string]: unknown;
}

/** The explicit padding of a 3x3 convolution padded `pad`. */
function padsOf(pad: "valid" | "same"): Pads {
  const p = pad === "same" ? 1 : 0;
  return { top: p, bottom: p, left: p, right: p };
}

/** The output shape of a 3x3 convolution padded `pad`. */
function convShape(
  xShape: readonly number[],
  filterShape: readonly number[],
  pad: "valid" | "same",
): number[] {
  const [n, h, w] = xShape, p = pad === "same" ? 2 : 0;
  return [n, h + p - 2, w + p - 2, filterShape[3]];
}

/** The 2×2-pooled output shape of a 3x3 convolution padded `pad`. */
function pooledShape(
  xShape: readonly number[],
  filterShape: readonly number[],
  pad: "valid" | "same",
): number[] {
  const [n, h, w] = xShape, p = pad === "same" ? 2 : 0;
  return [n, (h + p - 2) >> 1, (w + p - 2) >> 1, filterShape[3]];
}

function convAttrs(pad: "valid" | "same"): tf.NamedAttrMap {
  return { strides: [1, 1], pad, dataFormat: "NHWC", dilations: [1, 1] };
}

/**
 * Registers the op's wasm kernel (once) and its gradient; false where the
 * wasm backend lacks what they run on (before `initBackend`).
 */
function register(): boolean {
  if (tf.getKernel(CONV_BIAS_RELU, "wasm") !== undefined) return true;
  const fused = tf.getKernel("FusedConv2D", "wasm");
  if (fused === undefined || tf.getKernel(RELU_GRAD, "wasm") === undefined) {
    return false;
  }
  tf.registerKernel({
    kernelName: CONV_BIAS_RELU,
    backendName: "wasm",
    kernelFunc: (args) =>
      fused.kernelFunc({
        ...args,
        attrs: {
          ...convAttrs((args.attrs as unknown as ConvAttrs).pad),
          activation: "relu",
        } as unknown as tf.NamedAttrMap,
      }),
  });
  tf.registerKernel({
    kernelName: CONV_BACKPROP,
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dy, filter } = inputs as Record<string, tf.TensorInfo>;
      const p = (attrs as unknown as ConvAttrs).pad === "same" ? 1 : 0;
      const pads = { top: p, bottom: p, left: p, right: p };
      const both = winogradBackprop3x3(
        backend as BackendWasm,
        x,
        dy,
        filter,
        pads,
      );
      return [both.dx, both.filter];
    },
  });
  tf.registerKernel({
    kernelName: CONV_POOL_CODES,
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, filter, bias, mask } = inputs as
        & Record<"x" | "filter" | "bias", tf.TensorInfo>
        & { mask?: tf.TensorInfo };
      const wasm = backend as BackendWasm;
      const { pad } = attrs as unknown as ConvAttrs;
      const codes = wasm.makeOutput(
        pooledShape(x.shape, filter.shape, pad),
        "int32",
      );
      try {
        const pooled = winogradConv3x3(wasm, x, filter, padsOf(pad), {
          bias,
          relu: true,
          pool: true,
          codes,
          mask,
        });
        return [pooled, codes];
      } catch (error) {
        wasm.disposeData(codes.dataId);
        throw error;
      }
    },
  });
  tf.registerKernel({
    kernelName: CONV_POOL_BACKPROP,
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dy, codes, filter, mask } = inputs as
        & Record<
          "x" | "dy" | "codes" | "filter",
          tf.TensorInfo
        >
        & { mask?: tf.TensorInfo };
      const got = winogradBackpropPooled3x3(
        backend as BackendWasm,
        x,
        dy,
        codes,
        filter,
        padsOf((attrs as unknown as ConvAttrs).pad),
        { mask },
      );
      return [got.dx, got.filter, got.bias];
    },
  });
  tf.registerKernel({
    kernelName: FIRST_CONVS_CODES,
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const all = inputs as
        & Record<"x" | "filter1" | "bias1" | "filter2" | "bias2", tf.TensorInfo>
        & { mask?: tf.TensorInfo };
      const { pad1, pad2 } = attrs as unknown as FirstConvsAttrs;
      const wasm = backend as BackendWasm;
      const y = firstLayerImages(wasm, all, pad1);
      const codes = wasm.makeOutput(
        pooledShape(y.shape, all.filter2.shape, pad2),
        "int32",
      );
      try {
        const pooled = winogradConv3x3(wasm, y, all.filter2, padsOf(pad2), {
          bias: all.bias2,
          relu: true,
          pool: true,
          codes,
          mask: all.mask,
        });
        return [pooled, codes];
      } catch (error) {
        wasm.disposeData(codes.dataId);
        throw error;
      } finally {
        y.dispose();
      }
    },
  });
  tf.registerKernel({
    kernelName: FIRST_CONVS_BACKPROP,
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const all = inputs as
        & Record<
          "x" | "filter1" | "bias1" | "dy" | "codes" | "filter2",
          tf.TensorInfo
        >
        & { mask?: tf.TensorInfo };
      const { pad1, pad2 } = attrs as unknown as FirstConvsAttrs;
      const wasm = backend as BackendWasm;
      const y = firstLayerImages(wasm, all, pad1);
      let pass: ReturnType<typeof reluFilterGradPass> | undefined;
      let second: ReturnType<typeof winogradBackpropPooled3x3> | undefined;
      try {
        pass = reluFilterGradPass(wasm, all.x, y, all.filter1.shape, pad1);
        second = winogradBackpropPooled3x3(
          wasm,
          y,
          all.dy,
          all.codes,
          all.filter2,
          padsOf(pad2),
          { mask: all.mask, after: (dx, at, to) => pass!.images(dx, at, to) },
        );
        const [df1, db1] = pass.finish();
        return [df1, db1, second.filter, second.bias];
      } catch (error) {
        pass?.abort();
        if (second) disposeAll(wasm, second.filter, second.bias);
        throw error;
      } finally {
        y.dispose();
      }
    },
  });
  const maxPool = tf.getKernel("MaxPool", "wasm");
  if (maxPool !== undefined && tf.getKernel(POOL_RELU_GRAD, "wasm")) {
    tf.registerKernel({
      kernelName: CONV_BIAS_RELU_POOL,
      backendName: "wasm",
      kernelFunc: (args) => {
        const y = fused.kernelFunc({
          ...args,
          attrs: {
            ...convAttrs((args.attrs as unknown as ConvAttrs).pad),
            activation: "relu",
          } as unknown as tf.NamedAttrMap,
        }) as tf.TensorInfo;
        const pooled = maxPool.kernelFunc({
          inputs: { x: y },
          backend: args.backend,
          attrs: { filterSize: [2, 2], strides: [2, 2], pad: "valid" },
        }) as tf.TensorInfo;
        return [pooled, y];
      },
    });
  }
  tf.registerGradient({
    kernelName: CONV_BIAS_RELU,
    inputsToSave: ["x", "filter"],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter, y] = saved;
      const { pad } = attrs as unknown as ConvAttrs;
      const engine = tf.engine();
      // dy · step(y): y > 0 exactly where the ReLU's input was.
      const reluGrad = () =>
        engine.runKernel(RELU_GRAD, { dy: dy as tf.Tensor, x: y }) as tf.Tensor;
      if (
        tf.getKernel(RELU_FILTER_GRAD, "wasm") !== undefined &&
        canReluFilterGrad(x.shape, filter.shape, pad)
      ) {
        return firstLayerGradients(
          x,
          filter,
          y,
          dy as tf.Tensor,
          pad,
          reluGrad,
        );
      }
      return convGradients(x, filter, reluGrad(), undefined, pad);
    },
  });
  return true;
}

/**
 * Tensors {@link convGradients} or {@link firstLayerGradients} computed for
 * an input whose closure the tape has not called yet, disposed at the next
 * call of either if it never does (the tape calls a node's closures before
 * the next node's gradient).
 */
let unclaimed: tf.Tensor[] = [];

/** Frees {@link unclaimed}: at the start of a node's gradient. */
function releaseUnclaimed(): void {
  tf.dispose(unclaimed);
  unclaimed = [];
}

/**
 * A gradient one closure computed for another: `put` keeps it (in
 * {@link unclaimed} until taken), `take` hands it over once.
 */
function stash(): { put(t: tf.Tensor): void; take(): tf.Tensor | undefined } {
  let kept: tf.Tensor | undefined;
  return {
    put(t) {
      kept = tf.keep(t);
      unclaimed.push(t);
    },
    take() {
      const t = kept;
      kept = undefined;
      unclaimed = unclaimed.filter((u) => u !== t);
      return t;
    },
  };
}

/**
 * The gradient closures of the op's convolution, bias and ReLU: `dz` is the
 * gradient at the convolution's output, `db` the bias's when already summed.
 * The tape calls the closure of each input it needs, `x` first: where the
 * convolution is one {@link CONV_BACKPROP} runs, the `x` closure computes
 * both gradients and the filter's waits for its closure.
 */
function convGradients(
  x: tf.Tensor,
  filter: tf.Tensor,
  dz: tf.Tensor,
  db: tf.Tensor | undefined,
  pad: "valid" | "same",
): Record<string, () => tf.Tensor> {
  const engine = tf.engine();
  releaseUnclaimed();
  const p = pad === "same" ? 1 : 0;
  const pads = { top: p, bottom: p, left: p, right: p };
  const fusable = filter.shape[0] === 3 && filter.shape[1] === 3 &&
    winogradProfitable(filter.shape) &&
    simdAvailable(tf.backend() as BackendWasm) &&
    canUseWinograd(x.shape, filter.shape, 1, 1, pads);
  const filterGrad = stash();
  return {
    x: () => {
      if (!fusable) {
        return engine.runKernel("Conv2DBackpropInput", { dy: dz, filter }, {
          ...convAttrs(pad),
          inputShape: x.shape,
        }) as tf.Tensor;
      }
      const [dx, df] = engine.runKernel(
        CONV_BACKPROP,
        { x, dy: dz, filter },
        { pad },
      ) as tf.Tensor[];
      filterGrad.put(df);
      return dx;
    },
    filter: () =>
      filterGrad.take() ??
        engine.runKernel("Conv2DBackpropFilter", { x, dy: dz }, {
          ...convAttrs(pad),
          filterShape: filter.shape,
        }) as tf.Tensor,
    bias: () => db ?? tf.sum(dz, [0, 1, 2]),
  };
}

/**
 * The gradient closures of a convolution whose filter gradient takes the
 * direct path (a first layer, `canReluFilterGrad`): the filter's and the
 * bias's come from one pass over `dy` and `y` ({@link RELU_FILTER_GRAD}),
 * without ReLU's gradient ever stored; the bias's waits for its closure.
 * The input's (not asked for in training: a first layer's input is data)
 * forms ReLU's gradient for itself.
 */
function firstLayerGradients(
  x: tf.Tensor,
  filter: tf.Tensor,
  y: tf.Tensor,
  dy: tf.Tensor,
  pad: "valid" | "same",
  reluGrad: () => tf.Tensor,
): Record<string, () => tf.Tensor> {
  const engine = tf.engine();
  releaseUnclaimed();
  const biasGrad = stash();
  return {
    x: () =>
      engine.runKernel("Conv2DBackpropInput", { dy: reluGrad(), filter }, {
        ...convAttrs(pad),
        inputShape: x.shape,
      }) as tf.Tensor,
    filter: () => {
      const [df, db] = engine.runKernel(RELU_FILTER_GRAD, { x, dy, y }, {
        pad,
        filterShape: filter.shape,
      }) as tf.Tensor[];
      biasGrad.put(db);
      return df;
    },
    bias: () => biasGrad.take() ?? tf.sum(reluGrad(), [0, 1, 2]),
  };
}

/**
 * {@link CONV_BIAS_RELU_POOL} on the tape as one node whose only output is the
 * pooled activation; the ReLU's output, which its gradient needs, is saved
 * with it. Registered as a two-output op, the tape would give the unused
 * output a gradient of zeros, made in JS and copied into the heap: 4.7 M
 * floats a step at batch 128, each page of them faulted in anew.
 */
function convPool(
  x: tf.Tensor,
  filter: tf.Tensor,
  bias: tf.Tensor,
  pad: "valid" | "same",
): tf.Tensor {
  if (onCodes(x.shape, filter.shape, pad)) {
    return convPoolCodes(x, filter, bias, pad);
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, filter, bias] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const [pooled, y] = tf.engine().runKernel(
      CONV_BIAS_RELU_POOL,
      { x, filter, bias },
      { pad },
    ) as tf.Tensor[];
    save([x, filter, y]);
    return {
      value: pooled,
      gradFunc: (dy, saved) => {
        const [x, filter, y] = saved;
        // dz = step(y) · the pool's gradient, and Σ dz for the bias.
        const [dz, db] = tf.engine().runKernel(POOL_RELU_GRAD, {
          dy: dy as tf.Tensor,
          y,
        }) as tf.Tensor[];
        const grads = convGradients(x, filter, dz, db, pad);
        const dx = grads.x();
        // The filter's gradient, kept by the x closure for its own, becomes
        // this scope's: the tape may not ask for it (a frozen filter).
        const kept = grads.filter();
        const df = tf.clone(kept);
        kept.dispose();
        return [dx, df, grads.bias()];
      },
    };
  });
  return op(x, filter, bias);
}

/**
 * Whether {@link convPool} runs on codes ({@link CONV_POOL_CODES}): a 3x3
 * convolution the Winograd kernels take with codes, where the SIMD module
 * runs and Winograd is the faster way.
 */
function onCodes(
  xShape: readonly number[],
  filterShape: readonly number[],
  pad: "valid" | "same",
): boolean {
  return filterShape[0] === 3 && filterShape[1] === 3 &&
    winogradProfitable(filterShape) &&
    simdAvailable(tf.backend() as BackendWasm) &&
    canPoolCodes(xShape, filterShape, padsOf(pad));
}

/**
 * {@link convPool} on codes: the tape keeps the pooled activation's codes
 * (a quarter of the ReLU's output, int32) instead of the ReLU's output, and
 * the gradient forms the pool's, the ReLU's, the bias's, the input's and
 * the filter's in one pass over the tiles ({@link CONV_POOL_BACKPROP}),
 * never the convolution's output gradient.
 */
function convPoolCodes(
  x: tf.Tensor,
  filter: tf.Tensor,
  bias: tf.Tensor,
  pad: "valid" | "same",
  mask?: tf.Tensor,
): tf.Tensor {
  // The mask is a constant of the op (no gradient), not one of its inputs.
  const masked: tf.NamedTensorMap = mask ? { mask } : {};
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, filter, bias] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const [pooled, codes] = tf.engine().runKernel(
      CONV_POOL_CODES,
      { x, filter, bias, ...masked },
      { pad },
    ) as tf.Tensor[];
    save(mask ? [x, filter, codes, mask] : [x, filter, codes]);
    return {
      value: pooled,
      gradFunc: (dy, saved) => {
        releaseUnclaimed();
        const [x, filter, codes, mask] = saved;
        return tf.engine().runKernel(CONV_POOL_BACKPROP, {
          x,
          dy: dy as tf.Tensor,
          codes,
          filter,
          ...(mask ? { mask } : {}),
        }, { pad }) as tf.Tensor[];
      },
    };
  });
  return op(x, filter, bias);
}

/**
 * Whether {@link firstConvs} runs a first layer of `xShape` and `filter1`
 * padded `pad1` (the direct convolution, its filter gradient on the direct
 * path) and, after it, the pooled op on codes with `filter2` padded `pad2`.
 */
function onFirstConvs(
  xShape: readonly number[],
  filter1: readonly number[],
  pad1: "valid" | "same",
  filter2: readonly number[],
  pad2: "valid" | "same",
): boolean {
  return canDirectConv(xShape, filter1) &&
    canReluFilterGrad(xShape, filter1, pad1) &&
    onCodes(convShape(xShape, filter1, pad1), filter2, pad2);
}

/**
 * The first layer (data in, no input gradient) and the pooled op on codes
 * after it, as one node of the tape, whose gradient is one kernel ({@link
 * FIRST_CONVS_BACKPROP}). The data `x` is a constant of the op, not one of
 * its inputs: the tape asks for the weights' gradients only, and the first
 * layer's input gradient is never formed.
 */
function firstConvs(
  x: tf.Tensor,
  weights: {
    filter1: tf.Tensor;
    bias1: tf.Tensor;
    filter2: tf.Tensor;
    bias2: tf.Tensor;
  },
  pad1: "valid" | "same",
  pad2: "valid" | "same",
  mask?: tf.Tensor,
): tf.Tensor {
  const masked: tf.NamedTensorMap = mask ? { mask } : {};
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [filter1, bias1, filter2, bias2] = args as tf.Tensor[];
    const save = args[4] as tf.GradSaveFunc;
    const [pooled, codes] = tf.engine().runKernel(FIRST_CONVS_CODES, {
      x,
      filter1,
      bias1,
      filter2,
      bias2,
      ...masked,
    }, { pad1, pad2 }) as tf.Tensor[];
    const kept = [x, filter1, bias1, codes, filter2];
    save(mask ? [...kept, mask] : kept);
    return {
      value: pooled,
      gradFunc: (dy, saved) => {
        releaseUnclaimed();
        const [x, filter1, bias1, codes, filter2, mask] = saved;
        return tf.engine().runKernel(FIRST_CONVS_BACKPROP, {
          x,
          filter1,
          bias1,
          dy: dy as tf.Tensor,
          codes,
          filter2,
          ...(mask ? { mask } : {}),
        }, { pad1, pad2 }) as tf.Tensor[];
      },
    };
  });
  const { filter1, bias1, filter2, bias2 } = weights;
  return op(filter1, bias1, filter2, bias2);
}

/** The layer's padding when it is a `Conv2D` the op can run. */
function fusablePad(layer: tf.layers.Layer): "valid" | "same" | undefined {
  if (layer.getClassName() !== "Conv2D") return undefined;
  const config = layer.getConfig() as {
    strides?: number | number[];
    dilationRate?: number | number[];
    padding?: string;
    dataFormat?: string;
    activation?: string;
    useBias?: boolean;
  };
  const { padding } = config;
  const ok = allOnes(config.strides) && allOnes(config.dilationRate) &&
    (padding === "valid" || padding === "same") &&
    (config.dataFormat ?? "channelsLast") === "channelsLast" &&
    config.activation === "relu" && config.useBias === true &&
    layer.weights.length === 2;
  return ok ? padding : undefined;
}

/**
 * Each layer of a chain, with its padding where the op runs it, and `pool`
 * where the next layer, a 2×2 stride-2 max pool, runs in the same op (and
 * is left out of the plan).
 */
type Plan = {
  layer: tf.layers.Layer;
  pad?: "valid" | "same";
  pool?: true;
  /** A `Dropout` layer right after the pool, applied in the op on codes. */
  dropout?: tf.layers.Layer;
}[];

/**
 * Whether `layer` is a 2×2, stride-2, valid max pool whose windows tile
 * `conv`'s output exactly, in channels of fours.
 */
function fusablePool(conv: tf.layers.Layer, layer: tf.layers.Layer): boolean {
  if (layer.getClassName() !== "MaxPooling2D") return false;
  const config = layer.getConfig() as {
    poolSize?: number | number[];
    strides?: number | number[];
    padding?: string;
    dataFormat?: string;
  };
  const twos = (v: number | number[] | undefined) =>
    v !== undefined && [v].flat().length > 0 &&
    [v].flat().every((n) => n === 2);
  const [, h, w, c] = conv.outputShape as number[];
  return twos(config.poolSize) && twos(config.strides) &&
    config.padding === "valid" &&
    (config.dataFormat ?? "channelsLast") === "channelsLast" &&
    canPoolReluGrad([1, h, w, c]);
}

/** The plan of each model, made on its first training step. */
const plans = new WeakMap<tf.LayersModel, Plan | null>();

function planOf(model: tf.LayersModel): Plan | null {
  let plan = plans.get(model);
  if (plan === undefined) {
    const found = chainLayers(model);
    if ("problem" in found) {
      plan = null;
    } else {
      const pools = tf.getKernel(CONV_BIAS_RELU_POOL, "wasm") !== undefined;
      plan = [];
      const layers = found.layers;
      for (let i = 0; i < layers.length; i++) {
        const pad = fusablePad(layers[i]);
        if (
          pad !== undefined && pools && i + 1 < layers.length &&
          fusablePool(layers[i], layers[i + 1])
        ) {
          const next = layers[i + 2];
          const dropout = next?.getClassName() === "Dropout" ? next : undefined;
          plan.push({ layer: layers[i], pad, pool: true, dropout });
          i++; // the pool runs in the op
        } else {
          plan.push({ layer: layers[i], pad });
        }
      }
    }
    plans.set(model, plan);
  }
  return plan;
}

/**
 * `model.apply(xs, { training: true })`, with every stride-1 `Conv2D` with
 * bias and ReLU run as one op that keeps only what its gradient needs, on
 * the wasm backend. A model that is not a chain of layers, or another
 * backend, gets `model.apply` itself. The output, and the gradients a tape computes
 * through it, are the same as `model.apply`'s up to float rounding.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import * as tf from "@tensorflow/tfjs";
 * import { buildModel, initBackend } from "../mod.ts";
 * import { applyTraining } from "./fused_training.ts";
 * await initBackend();
 * const model = buildModel({ seed: 1 });
 * const xs = tf.randomUniform([2, 28, 28, 1], 0, 1, "float32", 1);
 * const fused = model.predict(xs) as tf.Tensor; // dropout off in both
 * const ours = tf.tidy(() => applyTraining(model, xs, { training: false }));
 * assert(tf.max(tf.abs(tf.sub(fused, ours))).dataSync()[0] < 1e-6);
 * tf.dispose([xs, fused, ours]);
 * ```
 */
export function applyTraining(
  model: tf.LayersModel,
  xs: tf.Tensor,
  kwargs: { training: boolean } = { training: true },
): tf.Tensor {
  // The wasm engine's alone (its pool is where the memory goes); another
  // backend keeps tfjs's own ops, whose gradients the tests compare across
  // backends.
  const plan = tf.getBackend() === "wasm" && register() ? planOf(model) : null;
  if (plan === null) return model.apply(xs, kwargs) as tf.Tensor;
  let x = xs;
  let applied: tf.layers.Layer | undefined;
  for (let i = 0; i < plan.length; i++) {
    const { layer, pad, pool, dropout } = plan[i];
    if (layer === applied) continue; // the op before ran it
    if (pad === undefined) {
      x = layer.apply(x, kwargs) as tf.Tensor;
      continue;
    }
    const [filter, bias] = layer.weights.map((w) => w.read());
    const next = plan[i + 1];
    if (x === xs && !pool && next?.pad !== undefined && next.pool) {
      const [filter2, bias2] = next.layer.weights.map((w) => w.read());
      if (onFirstConvs(x.shape, filter.shape, pad, filter2.shape, next.pad)) {
        const y = convShape(x.shape, filter.shape, pad);
        const mask = next.dropout && kwargs.training
          ? layerMask(
            model,
            next.dropout,
            pooledShape(y, filter2.shape, next.pad),
          )
          : null;
        if (mask !== undefined) {
          const weights = { filter1: filter, bias1: bias, filter2, bias2 };
          x = firstConvs(x, weights, pad, next.pad, mask ?? undefined);
          mask?.dispose();
          applied = next.dropout ?? next.layer;
          i++; // the second layer ran in the op
          continue;
        }
      }
    }
    if (pool && dropout && onCodes(x.shape, filter.shape, pad)) {
      // The keyed dropout after the pool, in the op: its mask (none at
      // inference, or at rate 0) on the pooled output and its gradient.
      const mask = kwargs.training
        ? layerMask(model, dropout, pooledShape(x.shape, filter.shape, pad))
        : null;
      if (mask !== undefined) {
        x = convPoolCodes(x, filter, bias, pad, mask ?? undefined);
        mask?.dispose();
        applied = dropout;
        continue;
      }
    }
    if (pool) {
      x = convPool(x, filter, bias, pad);
    } else {
      x = tf.engine().runKernel(CONV_BIAS_RELU, { x, filter, bias }, {
        pad,
      }) as tf.Tensor;
    }
  }
  return x;
}

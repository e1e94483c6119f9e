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
 * that computes only what the tape asks for.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { RELU_GRAD } from "../kernels/relu_grad.ts";

/** The op's kernel name (this project's own; tfjs has none). */
export const CONV_BIAS_RELU = "MnistCnnConv2DBiasRelu";

/** The attributes of {@linkcode CONV_BIAS_RELU}: a stride-1 NHWC convolution. */
interface ConvAttrs {
  pad: "valid" | "same";
  [key: string]: unknown;
}

function convAttrs(pad: "valid" | "same"): tf.NamedAttrMap {
  return { strides: [1, 1], pad, dataFormat: "NHWC", dilations: [1, 1] };
}

/** Registers the op's forward kernel on `backendName` (once) and its gradient. */
function register(backendName: string): boolean {
  if (tf.getKernel(CONV_BIAS_RELU, backendName) !== undefined) return true;
  const fused = tf.getKernel("FusedConv2D", backendName);
  if (fused === undefined) return false;
  tf.registerKernel({
    kernelName: CONV_BIAS_RELU,
    backendName,
    kernelFunc: (args) =>
      fused.kernelFunc({
        ...args,
        attrs: {
          ...convAttrs((args.attrs as unknown as ConvAttrs).pad),
          activation: "relu",
        } as unknown as tf.NamedAttrMap,
      }),
  });
  tf.registerGradient({
    kernelName: CONV_BIAS_RELU,
    inputsToSave: ["x", "filter"],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter, y] = saved;
      const { pad } = attrs as unknown as ConvAttrs;
      const engine = tf.engine();
      // dy · step(y): y > 0 exactly where the ReLU's input was.
      const dz = tf.getKernel(RELU_GRAD, tf.getBackend()) === undefined
        ? tf.mul(dy as tf.Tensor, tf.step(y))
        : engine.runKernel(RELU_GRAD, {
          dy: dy as tf.Tensor,
          x: y,
        }) as tf.Tensor;
      return {
        x: () =>
          engine.runKernel("Conv2DBackpropInput", { dy: dz, filter }, {
            ...convAttrs(pad),
            inputShape: x.shape,
          }) as tf.Tensor,
        filter: () =>
          engine.runKernel("Conv2DBackpropFilter", { x, dy: dz }, {
            ...convAttrs(pad),
            filterShape: filter.shape,
          }) as tf.Tensor,
        bias: () => tf.sum(dz, [0, 1, 2]),
      };
    },
  });
  return true;
}

/** The layer's kernel and bias when it is a `Conv2D` the op can run. */
function fusable(layer: tf.layers.Layer): tf.LayerVariable[] | undefined {
  if (layer.getClassName() !== "Conv2D") return undefined;
  const config = layer.getConfig() as {
    strides?: number | number[];
    dilationRate?: number | number[];
    padding?: string;
    dataFormat?: string;
    activation?: string;
    useBias?: boolean;
  };
  const ones = (v: number | number[] | undefined) =>
    v === undefined || [v].flat().every((n) => n === 1);
  const ok = ones(config.strides) && ones(config.dilationRate) &&
    (config.padding === "valid" || config.padding === "same") &&
    (config.dataFormat ?? "channelsLast") === "channelsLast" &&
    config.activation === "relu" && config.useBias === true &&
    layer.weights.length === 2;
  return ok ? layer.weights : undefined;
}

/** The model's layers in order when each takes the previous one's output alone. */
function chain(model: tf.LayersModel): tf.layers.Layer[] | undefined {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return undefined;
  const layers = model.layers.filter((l) => l.getClassName() !== "InputLayer");
  for (let i = 1; i < layers.length; i++) {
    const from = layers[i].inboundNodes.at(-1)?.inboundLayers ?? [];
    if (from.length !== 1 || from[0] !== layers[i - 1]) return undefined;
  }
  return layers;
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
  const layers = chain(model);
  // The wasm engine's alone (its pool is where the memory goes); another
  // backend keeps tfjs's own ops, whose gradients the tests compare across
  // backends.
  if (
    layers === undefined || tf.getBackend() !== "wasm" || !register("wasm")
  ) {
    return model.apply(xs, kwargs) as tf.Tensor;
  }
  let x = xs;
  for (const layer of layers) {
    const weights = fusable(layer);
    if (weights === undefined) {
      x = layer.apply(x, kwargs) as tf.Tensor;
      continue;
    }
    const [kernel, bias] = weights.map((w) => w.read());
    const { padding } = layer.getConfig() as { padding: "valid" | "same" };
    x = tf.engine().runKernel(CONV_BIAS_RELU, { x, filter: kernel, bias }, {
      pad: padding,
    }) as tf.Tensor;
  }
  return x;
}

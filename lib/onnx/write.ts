/**
 * Writes TensorFlow.js Layers models as ONNX (opset 13, IR version 8, a
 * dynamic batch): the input stays NHWC as the model takes it, a Transpose
 * makes it NCHW before the first convolution or pooling, and another makes
 * it NHWC again before a Flatten, so a Dense's rows stay as Keras orders
 * them. Class names and preprocessing travel in `metadata_props`.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { ModelFileError } from "../errors.ts";
import { writeFileAtomic } from "../files.ts";
import { type Node, onnx, type Tensor } from "./proto.ts";

/** The opset exports are written in. */
export const EXPORT_OPSET = 13;
/** The IR version exports are written in (ONNX 1.10–1.12 read it). */
export const EXPORT_IR_VERSION = 8;
/** The Keras layer classes {@linkcode onnxBytes} writes. */
export const EXPORTED_LAYERS: readonly string[] = [
  "InputLayer",
  "Conv2D",
  "MaxPooling2D",
  "AveragePooling2D",
  "GlobalAveragePooling2D",
  "Flatten",
  "Dense",
  "Dropout",
  "SpatialDropout2D",
  "Activation",
  "ReLU",
  "LeakyReLU",
  "Softmax",
  "LogSoftmax",
  "BatchNormalization",
  "Rescaling",
  "ZeroPadding2D",
  "Permute",
  "Reshape",
];

type Layout = "nhwc" | "nchw";

/** Builds the graph one layer at a time. */
class Writer {
  readonly nodes: Node[] = [];
  readonly initializers: Tensor[] = [];
  #count = 0;
  /** Keras's shape of the current tensor, batch left out. */
  shape: number[];
  layout: Layout = "nhwc";
  current = "input";

  constructor(readonly file: string, inputShape: number[]) {
    this.shape = inputShape;
  }

  fresh(base: string): string {
    return `${base}_${this.#count++}`;
  }

  node(
    opType: string,
    inputs: string[],
    attrs: Record<string, number | number[]> = {},
  ): string {
    const out = this.fresh(opType.toLowerCase());
    this.nodes.push({
      opType,
      name: out,
      input: inputs,
      output: [out],
      attribute: Object.entries(attrs).map(([name, v]) =>
        Array.isArray(v)
          ? { name, type: onnx.AttributeProto.AttributeType.INTS, ints: v }
          : Number.isInteger(v) &&
              !["alpha", "epsilon", "momentum"].includes(name)
          ? { name, type: onnx.AttributeProto.AttributeType.INT, i: v }
          : { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: v }
      ),
    });
    return out;
  }

  apply(
    opType: string,
    extra: string[] = [],
    attrs: Record<string, number | number[]> = {},
  ) {
    this.current = this.node(opType, [this.current, ...extra], attrs);
  }

  constant(values: ArrayLike<number>, dims: number[], int = false): string {
    const name = this.fresh("const");
    const bytes = int
      ? new Uint8Array(BigInt64Array.from(Array.from(values, BigInt)).buffer)
      : new Uint8Array(Float32Array.from(values).buffer);
    this.initializers.push({
      name,
      dims,
      dataType: int
        ? onnx.TensorProto.DataType.INT64
        : onnx.TensorProto.DataType.FLOAT,
      rawData: bytes,
    });
    return name;
  }

  to(layout: Layout): void {
    if (this.layout === layout || this.shape.length !== 3) {
      this.layout = layout;
      return;
    }
    this.apply("Transpose", [], {
      perm: layout === "nchw" ? [0, 3, 1, 2] : [0, 2, 3, 1],
    });
    this.layout = layout;
  }

  activation(name: string, layer: string): void {
    switch (name) {
      case "linear":
        return;
      case "relu":
      case "sigmoid":
      case "tanh":
      case "elu":
      case "selu":
      case "softplus":
      case "softsign": {
        const op = {
          relu: "Relu",
          sigmoid: "Sigmoid",
          tanh: "Tanh",
          elu: "Elu",
          selu: "Selu",
          softplus: "Softplus",
          softsign: "Softsign",
        }[name];
        return this.apply(op);
      }
      case "relu6":
        return this.apply("Clip", [
          this.constant([0], []),
          this.constant([6], []),
        ]);
      case "softmax":
        return this.apply("Softmax", [], { axis: this.kerasAxis(-1) });
    }
    throw new ModelFileError(
      this.file,
      `layer "${layer}": activation ${name} is not written to ONNX`,
    );
  }

  /** The ONNX axis of a Keras axis (negative from the end, batch left out). */
  kerasAxis(axis: number): number {
    const rank = this.shape.length + 1;
    const k = axis < 0 ? axis + rank : axis;
    if (this.layout === "nchw" && rank === 4) return [0, 2, 3, 1][k];
    return k;
  }

  /** TensorFlow's "same" pads `[top, left, bottom, right]`. */
  samePads(kernel: number[], strides: number[], dilations: number[]) {
    const before: number[] = [];
    const after: number[] = [];
    for (let i = 0; i < 2; i++) {
      const size = this.shape[i];
      const out = Math.ceil(size / strides[i]);
      const total = Math.max(
        (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size,
        0,
      );
      before.push(Math.floor(total / 2));
      after.push(total - Math.floor(total / 2));
    }
    return [...before, ...after];
  }

  layer(layer: tf.layers.Layer): void {
    const cls = layer.getClassName();
    // deno-lint-ignore no-explicit-any
    const c = layer.getConfig() as any;
    const out = (layer.outputShape as (number | null)[]).slice(1) as number[];
    const weights = layer.getWeights().map((w) => ({
      values: w.dataSync() as Float32Array,
      shape: w.shape,
    }));
    const channelsFirst = c.dataFormat === "channelsFirst";
    if (channelsFirst) {
      throw new ModelFileError(
        this.file,
        `layer "${layer.name}": channels_first is not written`,
      );
    }
    switch (cls) {
      case "InputLayer":
      case "Dropout":
      case "SpatialDropout2D":
        break;
      case "Conv2D": {
        this.to("nchw");
        const [kh, kw, ci, m] = weights[0].shape;
        const k = weights[0].values;
        const w = new Float32Array(k.length);
        for (let y = 0; y < kh; y++) {
          for (let x = 0; x < kw; x++) {
            for (let i = 0; i < ci; i++) {
              for (let o = 0; o < m; o++) {
                w[((o * ci + i) * kh + y) * kw + x] =
                  k[((y * kw + x) * ci + i) * m + o];
              }
            }
          }
        }
        const strides = c.strides as number[];
        const dilations = c.dilationRate as number[] ?? [1, 1];
        const pads = c.padding === "same"
          ? this.samePads([kh, kw], strides, dilations)
          : [0, 0, 0, 0];
        const inputs = [this.constant(w, [m, ci, kh, kw])];
        if (c.useBias) inputs.push(this.constant(weights[1].values, [m]));
        this.apply("Conv", inputs, {
          kernel_shape: [kh, kw],
          strides,
          dilations,
          pads,
        });
        this.activation(c.activation, layer.name);
        break;
      }
      case "MaxPooling2D":
      case "AveragePooling2D": {
        this.to("nchw");
        const kernel = c.poolSize as number[];
        const strides = (c.strides ?? kernel) as number[];
        const pads = c.padding === "same"
          ? this.samePads(kernel, strides, [1, 1])
          : [0, 0, 0, 0];
        this.apply(cls === "MaxPooling2D" ? "MaxPool" : "AveragePool", [], {
          kernel_shape: kernel,
          strides,
          pads,
        });
        break;
      }
      case "GlobalAveragePooling2D":
        this.to("nchw");
        this.apply("GlobalAveragePool");
        this.apply("Flatten", [], { axis: 1 });
        break;
      case "Flatten":
        this.to("nhwc");
        this.apply("Flatten", [], { axis: 1 });
        break;
      case "Dense": {
        this.to("nhwc");
        const [k, n] = weights[0].shape;
        const kernel = this.constant(weights[0].values, [k, n]);
        if (this.shape.length === 1) {
          const inputs = [kernel];
          if (c.useBias) inputs.push(this.constant(weights[1].values, [n]));
          this.apply("Gemm", inputs);
        } else {
          this.apply("MatMul", [kernel]);
          if (c.useBias) {
            this.apply("Add", [this.constant(weights[1].values, [n])]);
          }
        }
        this.shape = out;
        this.activation(c.activation, layer.name);
        break;
      }
      case "Activation":
        this.activation(c.activation, layer.name);
        break;
      case "ReLU":
        if (c.maxValue !== null && c.maxValue !== undefined) {
          this.apply("Clip", [
            this.constant([0], []),
            this.constant([c.maxValue], []),
          ]);
        } else this.apply("Relu");
        break;
      case "LeakyReLU":
        this.apply("LeakyRelu", [], { alpha: c.alpha });
        break;
      case "Softmax":
        this.apply("Softmax", [], { axis: this.kerasAxis(c.axis ?? -1) });
        break;
      case "LogSoftmax":
        this.apply("LogSoftmax", [], { axis: this.kerasAxis(c.axis ?? -1) });
        break;
      case "BatchNormalization": {
        const axis = this.kerasAxis(c.axis ?? -1);
        if (
          axis !== 1 && !(axis === this.shape.length && this.shape.length === 1)
        ) {
          this.to("nchw");
        }
        const n = weights[0].shape[0];
        let [gamma, beta] = [weights[0]?.values, weights[1]?.values];
        let at = 2;
        if (!c.scale) {
          gamma = new Float32Array(n).fill(1);
          at--;
          beta = weights[at - 1].values;
        }
        if (!c.center) {
          beta = new Float32Array(n);
          at--;
        }
        this.apply("BatchNormalization", [
          this.constant(gamma, [n]),
          this.constant(beta, [n]),
          this.constant(weights[at].values, [n]),
          this.constant(weights[at + 1].values, [n]),
        ], { epsilon: c.epsilon, momentum: c.momentum });
        break;
      }
      case "Rescaling":
        this.apply("Mul", [this.constant([c.scale], [])]);
        if (c.offset) this.apply("Add", [this.constant([c.offset], [])]);
        break;
      case "ZeroPadding2D": {
        this.to("nchw");
        const [[t, b], [l, r]] = c.padding as number[][];
        this.apply("Pad", [
          this.constant([0, 0, t, l, 0, 0, b, r], [8], true),
        ]);
        break;
      }
      case "Permute":
        this.to("nhwc");
        this.apply("Transpose", [], { perm: [0, ...(c.dims as number[])] });
        break;
      case "Reshape":
        this.to("nhwc");
        this.apply("Reshape", [
          this.constant(
            [0, ...(c.targetShape as number[])],
            [out.length + 1],
            true,
          ),
        ]);
        break;
      default:
        throw new ModelFileError(
          this.file,
          `layer "${layer.name}" (${cls}) is not written to ONNX; written: ${
            EXPORTED_LAYERS.join(", ")
          }`,
        );
    }
    this.shape = out;
  }
}

/** Options of {@linkcode onnxBytes} and {@linkcode saveOnnx}. */
export interface OnnxWriteOptions {
  /** Extra `metadata_props`, beside `class_names` and `preprocessing`. */
  metadata?: Record<string, string>;
}

/**
 * The ONNX bytes of a chain-shaped `model` (a Sequential, or a functional
 * one shaped like it).
 *
 * @throws {ModelFileError} when a layer or activation is not written.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel } from "../model.ts";
 * import { onnx } from "./proto.ts";
 * import { onnxBytes } from "./write.ts";
 * const bytes = onnxBytes(buildModel({ seed: 1 }));
 * const model = onnx.ModelProto.decode(bytes);
 * assertEquals(model.graph?.node?.map((n) => n.opType).slice(0, 3), ["Transpose", "Conv", "Relu"]);
 * ```
 */
export function onnxBytes(
  model: tf.LayersModel,
  options: OnnxWriteOptions & { file?: string } = {},
): Uint8Array {
  const file = options.file ?? "model.onnx";
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new ModelFileError(
      file,
      "only models of one input and one output are written",
    );
  }
  const layers = model.layers;
  for (let i = 1; i < layers.length; i++) {
    const from = layers[i].inboundNodes.at(-1)?.inboundLayers ?? [];
    if (from.length !== 1 || from[0] !== layers[i - 1]) {
      throw new ModelFileError(
        file,
        `layer "${layers[i].name}" does not take "${
          layers[i - 1].name
        }"'s output alone: only chains of layers are written`,
      );
    }
  }
  const inputShape = model.inputs[0].shape.slice(1) as number[];
  const writer = new Writer(file, inputShape);
  for (const layer of layers) writer.layer(layer);
  writer.to("nhwc");
  if (writer.nodes.length === 0) writer.apply("Identity");
  writer.nodes.at(-1)!.output = ["output"];
  const meta = (model.getUserDefinedMetadata() ?? {}) as Record<
    string,
    unknown
  >;
  const outputs = model.outputs[0].shape.slice(1) as number[];
  const props: Record<string, string> = {
    input_layout: inputShape.length === 3 ? "NHWC" : "as the model's input",
    input_range: "pixel values / 255, in [0, 1]",
    preprocessing: meta.preprocessing === "grey" ? "grey" : "mnist",
    ...options.metadata,
  };
  if (Array.isArray(meta.classNames)) {
    props.class_names = JSON.stringify(meta.classNames);
  }
  const dims = (shape: number[]) => ({
    dim: [{ dimParam: "batch" }, ...shape.map((d) => ({ dimValue: d }))],
  });
  return onnx.ModelProto.encode({
    irVersion: EXPORT_IR_VERSION,
    opsetImport: [{ domain: "", version: EXPORT_OPSET }],
    producerName: "mnist-cnn-deno",
    producerVersion: "1",
    docString: `${model.name}, converted from TensorFlow.js`,
    metadataProps: Object.entries(props).map(([key, value]) => ({
      key,
      value,
    })),
    graph: {
      name: model.name,
      node: writer.nodes,
      initializer: writer.initializers,
      input: [{
        name: "input",
        type: { tensorType: { elemType: 1, shape: dims(inputShape) } },
      }],
      output: [{
        name: "output",
        type: { tensorType: { elemType: 1, shape: dims(outputs) } },
      }],
    },
  }).finish();
}

/**
 * Writes `model` as an ONNX file at `path` (atomically: a temporary name,
 * then a rename).
 *
 * @throws {ModelFileError} when a layer is not written or the file cannot be.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel } from "../model.ts";
 * import { loadOnnx, saveOnnx } from "./mod.ts";
 * const dir = await Deno.makeTempDir();
 * await saveOnnx(buildModel({ seed: 1 }), `${dir}/mnist_cnn.onnx`);
 * assertEquals((await loadOnnx(`${dir}/mnist_cnn.onnx`)).countParams(), 1199882);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function saveOnnx(
  model: tf.LayersModel,
  path: string,
  options: OnnxWriteOptions = {},
): Promise<void> {
  const bytes = onnxBytes(model, { ...options, file: path });
  try {
    await writeFileAtomic(path, bytes);
  } catch (error) {
    throw new ModelFileError(
      path,
      `could not write: ${(error as Error).message}`,
    );
  }
}

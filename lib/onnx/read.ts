/**
 * Reads ONNX models into TensorFlow.js Layers models: a graph that is one
 * chain of the ops a small vision network uses (see
 * {@linkcode SUPPORTED_OPS}), NCHW turned into NHWC. Every check (file,
 * opset, shapes, ops, the chain) runs before any tfjs tensor or layer
 * exists, so a refused file leaves nothing behind.
 *
 * Layout: each tensor of the chain is held in Keras's layout, and `order`
 * says which ONNX axis each Keras axis is (`[0, 2, 3, 1]` for an NCHW
 * tensor held as NHWC). Transposes that keep the batch axis only change
 * `order`; a Permute layer is added where an op needs another order. A
 * Flatten of an NCHW tensor followed by a Dense permutes the Dense's rows
 * instead (ONNX flattens C·H·W, Keras H·W·C).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { ModelFileError } from "../errors.ts";
import {
  Attributes,
  type Constant,
  decodeModel,
  type Graph,
  MAX_VALUES,
  type Model,
  type Node,
  num,
  OPSETS,
  tensorValues,
} from "./proto.ts";
import { LogSoftmax } from "./log_softmax.ts";

/** The ONNX ops read (default domain), each as the Keras layers it becomes. */
export const SUPPORTED_OPS: readonly string[] = [
  "Conv",
  "Gemm",
  "MatMul",
  "Add",
  "Sub",
  "Mul",
  "Div",
  "Relu",
  "LeakyRelu",
  "Sigmoid",
  "Tanh",
  "Elu",
  "Selu",
  "Softplus",
  "Softsign",
  "Clip",
  "Softmax",
  "LogSoftmax",
  "MaxPool",
  "AveragePool",
  "GlobalAveragePool",
  "Flatten",
  "Reshape",
  "Transpose",
  "Pad",
  "Dropout",
  "BatchNormalization",
  "Identity",
  "Constant",
];

/** Ops that act value by value: a pending Flatten permutation passes them. */
const ELEMENTWISE = new Set([
  "Relu",
  "LeakyRelu",
  "Sigmoid",
  "Tanh",
  "Elu",
  "Selu",
  "Softplus",
  "Softsign",
  "Clip",
  "Dropout",
  "Identity",
]);

/** Options of {@linkcode onnxToLayers}. */
export interface OnnxReadOptions {
  /** The file named in errors (default `"model.onnx"`). */
  file?: string;
  /**
   * What a LogSoftmax at the end of the graph becomes: `"softmax"` (the
   * probabilities the project predicts and trains on; default) or `"keep"`.
   */
  finalLogSoftmax?: "softmax" | "keep";
}

/** What {@linkcode onnxToLayers} returns beside the model. */
export interface OnnxConversion {
  /** The Layers model (uncompiled). */
  model: tf.LayersModel;
  /** For each axis of the model's input, the ONNX input's axis it holds. */
  inputOrder: number[];
  /** For each axis of the model's output, the ONNX output's axis it holds. */
  outputOrder: number[];
  /** The graph's input and output names. */
  names: { input: string; output: string };
  /** The default domain's opset. */
  opset: number;
  /** The model's `metadata_props`. */
  metadata: Record<string, string>;
  /** Notes on what changed (e.g. a final LogSoftmax made a Softmax). */
  notes: string[];
}

type Dim = number | null;

/** A layer to create once everything is checked. */
interface LayerSpec {
  kind: string;
  args: Record<string, unknown>;
  weights: { values: Float32Array; shape: number[] }[];
}

/** The tensor flowing down the chain. */
interface Flow {
  name: string;
  /** Its ONNX shape; the batch (axis 0) may be null. */
  shape: Dim[];
  /** For each Keras axis, the ONNX axis it holds. */
  order: number[];
  /** After a Flatten in another order: ONNX feature index of each Keras one. */
  features?: Int32Array;
  /** The layer that produced exactly this tensor, if any (for folding). */
  producer?: LayerSpec;
}

const identity = (rank: number) => Array.from({ length: rank }, (_, i) => i);
const same = (a: number[], b: number[]) =>
  a.length === b.length && a.every((v, i) => v === b[i]);
const product = (dims: Dim[]) => dims.reduce<number>((p, d) => p * (d ?? 1), 1);

/** Converts a graph; see {@linkcode onnxToLayers}. */
class Converter {
  readonly specs: LayerSpec[] = [];
  readonly constants = new Map<string, Constant>();
  readonly notes: string[] = [];
  readonly producers = new Map<string, Node>();
  readonly consumers = new Map<string, Node[]>();

  constructor(
    readonly file: string,
    readonly graph: Graph,
    readonly opset: number,
    readonly options: OnnxReadOptions,
  ) {}

  fail(problem: string): never {
    throw new ModelFileError(this.file, problem);
  }

  where(node: Node): string {
    return `node "${
      node.name || node.output?.[0] || "?"
    }" (${node.opType}, opset ${this.opset})`;
  }

  constant(name: string, node: Node): Constant {
    const c = this.constants.get(name);
    if (!c && !this.producers.has(name)) {
      this.fail(
        `${
          this.where(node)
        } reads "${name}", which no initializer or node provides`,
      );
    }
    if (!c) {
      this.fail(
        `${
          this.where(node)
        } reads "${name}", which is computed: only a chain of layers is read (its weights must be constants)`,
      );
    }
    return c;
  }

  /** Indexes nodes, checks single assignment and that the graph has no cycle. */
  index(): Node[] {
    const nodes = this.graph.node ?? [];
    for (const node of nodes) {
      for (const out of node.output ?? []) {
        if (out === "") continue;
        if (this.producers.has(out)) {
          this.fail(`tensor "${out}" is produced by two nodes`);
        }
        this.producers.set(out, node);
      }
    }
    for (const t of this.graph.initializer ?? []) {
      this.constants.set(t.name ?? "", tensorValues(t));
    }
    // Kahn's algorithm: nodes in an order where each comes after its inputs.
    const waiting = new Map<Node, number>();
    const ready: Node[] = [];
    for (const node of nodes) {
      for (const name of new Set(node.input ?? [])) {
        const list = this.consumers.get(name) ?? [];
        list.push(node);
        this.consumers.set(name, list);
      }
      const deps = new Set(
        (node.input ?? []).filter((i) => this.producers.has(i)),
      );
      waiting.set(node, deps.size);
      if (deps.size === 0) ready.push(node);
    }
    const sorted: Node[] = [];
    while (ready.length > 0) {
      const node = ready.pop()!;
      sorted.push(node);
      for (const out of new Set(node.output ?? [])) {
        for (const next of this.consumers.get(out) ?? []) {
          if (!waiting.has(next)) continue;
          const left = waiting.get(next)! - 1;
          waiting.set(next, left);
          if (left === 0) ready.push(next);
        }
      }
    }
    if (sorted.length < nodes.length) {
      const stuck = nodes.find((n) => waiting.get(n)! > 0)!;
      this.fail(
        `the graph has a cycle: ${this.where(stuck)} depends on its own output`,
      );
    }
    // Constant nodes become constants.
    for (const node of sorted) {
      if (node.opType === "Constant" && (node.domain ?? "") === "") {
        this.constants.set(node.output?.[0] ?? "", this.constantNode(node));
      }
    }
    return sorted;
  }

  constantNode(node: Node): Constant {
    const a = new Attributes(node);
    const t = a.tensor("value");
    if (t) return tensorValues(t);
    if (a.has("value_float")) {
      return {
        dims: [],
        values: Float32Array.of(a.float("value_float", 0)),
        integer: false,
      };
    }
    if (a.has("value_floats")) {
      const v = a.floats("value_floats")!;
      return { dims: [v.length], values: Float32Array.from(v), integer: false };
    }
    if (a.has("value_int")) {
      return {
        dims: [],
        values: Float32Array.of(a.int("value_int", 0)),
        integer: true,
      };
    }
    if (a.has("value_ints")) {
      const v = a.ints("value_ints")!;
      return { dims: [v.length], values: Float32Array.from(v), integer: true };
    }
    this.fail(
      `${this.where(node)} has a value of a kind not read (${a.names()})`,
    );
  }

  /** Walks the chain from the input to the output. */
  run(): {
    flow: Flow;
    input: string;
    inputShape: Dim[];
    inputOrder: number[];
  } {
    const sorted = this.index();
    const inputs = (this.graph.input ?? []).filter((v) =>
      !this.constants.has(v.name ?? "")
    );
    if (inputs.length !== 1) {
      this.fail(
        `the graph has ${inputs.length} inputs besides its weights: one is read (${
          inputs.map((v) => `"${v.name}"`).join(", ")
        })`,
      );
    }
    const input = inputs[0];
    const tensorType = input.type?.tensorType;
    if (!tensorType || num(tensorType.elemType) !== 1) {
      this.fail(`the input "${input.name}" is not a float tensor`);
    }
    const dims = tensorType.shape?.dim ?? [];
    if (dims.length < 2 || dims.length > 4) {
      this.fail(
        `the input "${input.name}" has rank ${dims.length}: a batch axis and 1 to 3 more are read`,
      );
    }
    const inputShape: Dim[] = dims.map((d, i) => {
      const v = d.dimValue !== undefined && d.dimValue !== null
        ? num(d.dimValue)
        : 0;
      if (i === 0) return v > 0 ? v : null;
      if (!(v >= 1 && v <= 65536)) {
        this.fail(
          `the input "${input.name}" has axis ${i} of size ${
            d.dimParam || v
          }: each axis but the batch must be a fixed size from 1 to 65536`,
        );
      }
      return v;
    });
    if (product(inputShape.slice(1)) > 2 ** 24) {
      this.fail(
        `the input "${input.name}" of shape [${inputShape}] is too large`,
      );
    }
    // A rank-4 input is NCHW unless the graph starts by transposing it
    // (past value-by-value ops and normalisation).
    const rank = inputShape.length;
    let first = this.consumers.get(input.name ?? "") ?? [];
    for (let hops = 0; hops < 16 && first.length === 1; hops++) {
      const op = first[0].opType ?? "";
      if (!ELEMENTWISE.has(op) && !["Add", "Sub", "Mul", "Div"].includes(op)) {
        break;
      }
      first = this.consumers.get(first[0].output?.[0] ?? "") ?? [];
    }
    const inputOrder = rank === 4 && first[0]?.opType !== "Transpose"
      ? [0, 2, 3, 1]
      : identity(rank);
    let flow: Flow = {
      name: input.name ?? "",
      shape: inputShape,
      order: inputOrder,
    };
    const visited = new Set<Node>();
    const outputs = this.graph.output ?? [];
    if (outputs.length !== 1) {
      this.fail(`the graph has ${outputs.length} outputs: one is read`);
    }
    const output = outputs[0].name ?? "";
    while (flow.name !== output) {
      const next = this.consumers.get(flow.name) ?? [];
      if (next.length === 0) {
        this.fail(
          `tensor "${flow.name}" leads nowhere: the graph's output "${output}" is not reached from its input along one chain`,
        );
      }
      if (next.length > 1) {
        this.fail(
          `tensor "${flow.name}" feeds ${next.length} nodes (${
            next.map((n) => this.where(n)).join(", ")
          }): only a chain of layers is read`,
        );
      }
      const node = next[0];
      visited.add(node);
      flow = this.step(node, flow);
    }
    for (const node of sorted) {
      if (!visited.has(node) && node.opType !== "Constant") {
        this.fail(
          `${
            this.where(node)
          } is not on the chain from the input to the output`,
        );
      }
    }
    return { flow, input: input.name ?? "", inputShape, inputOrder };
  }

  add(spec: LayerSpec, flow: Flow, shape: Dim[], order = flow.order): Flow {
    this.specs.push(spec);
    return { name: flow.name, shape, order, producer: spec };
  }

  /** Adds a Permute so the Keras axes hold ONNX axes `target`. */
  toOrder(flow: Flow, target: number[]): Flow {
    if (same(flow.order, target)) return flow;
    if (flow.features) {
      this.fail("internal: a permuted Flatten meets a Permute");
    }
    const dims = target.slice(1).map((t) => flow.order.indexOf(t));
    return this.add(
      { kind: "permute", args: { dims }, weights: [] },
      flow,
      flow.shape,
      target,
    );
  }

  /** The node's dynamic input (the flow) is its first; the rest are constants. */
  step(node: Node, flow: Flow): Flow {
    const op = node.opType ?? "";
    const domain = node.domain ?? "";
    if (domain !== "" && domain !== "ai.onnx") {
      this.fail(
        `${
          this.where(node)
        } is of domain "${domain}": only the default ONNX domain is read`,
      );
    }
    if (!SUPPORTED_OPS.includes(op) || op === "Constant") {
      this.fail(
        `${this.where(node)}: op ${op} is not supported; supported: ${
          SUPPORTED_OPS.join(", ")
        } (a chain of them, opsets ${OPSETS.min}–${OPSETS.max})`,
      );
    }
    const ins = node.input ?? [];
    const position = ins.indexOf(flow.name);
    if (
      position !== 0 && !["Add", "Sub", "Mul", "Div"].includes(op)
    ) {
      this.fail(
        `${
          this.where(node)
        } takes the computed tensor "${flow.name}" as input ${position}: only as its first`,
      );
    }
    const out = (node.output ?? [])[0] ?? "";
    const extraOutputs = (node.output ?? []).slice(1).filter((o) => o !== "");
    if (extraOutputs.length > 0) {
      this.fail(
        `${
          this.where(node)
        } has ${extraOutputs.length} more outputs (${extraOutputs}): only one is read (training mode, masks or indices are not)`,
      );
    }
    const next = this.convert(node, op, new Attributes(node), flow, position);
    return { ...next, name: out };
  }

  convert(
    node: Node,
    op: string,
    a: Attributes,
    flow: Flow,
    position: number,
  ): Flow {
    const rank = flow.shape.length;
    const axisOf = (axis: number) => {
      const onnxAxis = axis < 0 ? axis + rank : axis;
      if (onnxAxis <= 0 || onnxAxis >= rank) {
        this.fail(
          `${
            this.where(node)
          } acts along axis ${axis} of a rank-${rank} tensor: the batch axis cannot be`,
        );
      }
      return flow.order.indexOf(onnxAxis);
    };
    switch (op) {
      case "Identity":
        return flow;
      case "Relu":
      case "Sigmoid":
      case "Tanh":
        return this.activation(flow, op.toLowerCase());
      case "Elu":
      case "Selu":
      case "Softplus":
      case "Softsign": {
        const keras: Record<string, [string, number][]> = {
          Elu: [["alpha", 1]],
          Selu: [["alpha", 1.6732632423543772], ["gamma", 1.0507009873554805]],
        };
        for (const [name, value] of keras[op] ?? []) {
          if (Math.abs(a.float(name, value) - value) > 1e-6) {
            this.fail(
              `${this.where(node)} has ${name} ${
                a.float(name, value)
              }: only Keras's ${value} is read`,
            );
          }
        }
        return this.activation(flow, op.toLowerCase());
      }
      case "Clip": {
        const ins = node.input ?? [];
        const bound = (i: number, name: string, fallback: number) =>
          this.opset < 11
            ? a.float(name, fallback)
            : ins[i]
            ? this.constant(ins[i], node).values[0]
            : fallback;
        const min = bound(1, "min", -Infinity);
        const max = bound(2, "max", Infinity);
        if (min !== 0 || !(max > 0)) {
          this.fail(
            `${
              this.where(node)
            } clips to [${min}, ${max}]: only [0, max] (a ReLU with a ceiling) is read`,
          );
        }
        return {
          ...this.add(
            {
              kind: "reLU",
              args: Number.isFinite(max) ? { maxValue: max } : {},
              weights: [],
            },
            flow,
            flow.shape,
          ),
          features: flow.features,
        };
      }
      case "Pad":
        return this.pad(node, a, flow);
      case "LeakyRelu":
        return {
          ...this.add(
            {
              kind: "leakyReLU",
              args: { alpha: a.float("alpha", 0.01) },
              weights: [],
            },
            flow,
            flow.shape,
          ),
          features: flow.features,
        };
      case "Dropout": {
        let rate = a.float("ratio", 0.5);
        const ins = node.input ?? [];
        if (ins[1]) rate = this.constant(ins[1], node).values[0];
        if (ins[2] && this.constant(ins[2], node).values[0] !== 0) {
          this.fail(`${this.where(node)} is in training mode`);
        }
        if (!(rate >= 0 && rate < 1)) {
          this.fail(`${this.where(node)} has a ratio ${rate}`);
        }
        if (rate === 0) return flow;
        return {
          ...this.add(
            { kind: "dropout", args: { rate }, weights: [] },
            flow,
            flow.shape,
          ),
          features: flow.features,
        };
      }
      case "Softmax":
      case "LogSoftmax": {
        this.dropFeatures(flow, node);
        const fallback = this.opset >= 13 ? -1 : 1;
        const axis = a.int("axis", fallback);
        const onnxAxis = axis < 0 ? axis + rank : axis;
        if (
          this.opset < 13 && onnxAxis !== rank - 1 &&
          product(flow.shape.slice(onnxAxis + 1)) !== 1
        ) {
          this.fail(
            `${
              this.where(node)
            }: before opset 13, ${op} along axis ${axis} of a rank-${rank} tensor is taken over the axes from ${axis} on together, which no layer does`,
          );
        }
        axisOf(onnxAxis); // refuses the batch axis
        // tfjs takes a softmax along the last axis only: move it there.
        if (flow.order[rank - 1] !== onnxAxis) {
          flow = this.toOrder(flow, [
            ...flow.order.filter((o) => o !== onnxAxis),
            onnxAxis,
          ]);
        }
        const isOutput = (node.output ?? [])[0] ===
          (this.graph.output ?? [])[0]?.name;
        let logs = op === "LogSoftmax";
        if (
          logs && isOutput && this.options.finalLogSoftmax !== "keep"
        ) {
          logs = false;
          this.notes.push(
            `the final LogSoftmax ("${node.name}") became a Softmax: the model outputs probabilities`,
          );
        }
        if (logs) {
          return this.add(
            {
              kind: "logSoftmax",
              args: { axis: -1 },
              weights: [],
            },
            flow,
            flow.shape,
          );
        }
        const p = flow.producer;
        if (p && p.kind === "dense" && p.args.activation === "linear") {
          p.args.activation = "softmax";
          return { ...flow };
        }
        return this.add(
          { kind: "activation", args: { activation: "softmax" }, weights: [] },
          flow,
          flow.shape,
        );
      }
      case "Transpose": {
        this.dropFeatures(flow, node);
        const perm = a.ints("perm") ?? identity(rank).reverse();
        if (
          perm.length !== rank || perm[0] !== 0 ||
          !same([...perm].sort((x, y) => x - y), identity(rank))
        ) {
          this.fail(
            `${
              this.where(node)
            } has perm [${perm}]: only transposes that keep the batch axis first (layout changes) are read`,
          );
        }
        const inverse = identity(rank).map((i) => perm.indexOf(i));
        return {
          name: flow.name,
          shape: perm.map((p) => flow.shape[p]),
          order: flow.order.map((o) => inverse[o]),
        };
      }
      case "Flatten": {
        const axis = a.int("axis", 1);
        if ((axis < 0 ? axis + rank : axis) !== 1) {
          this.fail(
            `${
              this.where(node)
            } has axis ${axis}: only axis 1 (keeping the batch axis) is read`,
          );
        }
        return this.flatten(node, flow);
      }
      case "Reshape":
        return this.reshape(node, a, flow);
      case "Gemm":
        return this.gemm(node, a, flow);
      case "MatMul":
        return this.matmul(node, flow);
      case "Add":
      case "Sub":
      case "Mul":
      case "Div":
        return this.arithmetic(node, op, flow, position);
      case "Conv":
        return this.conv(node, a, flow);
      case "MaxPool":
      case "AveragePool":
        return this.pool(node, op, a, flow);
      case "GlobalAveragePool": {
        const f = this.spatial(node, flow);
        const c = f.shape[1] as number;
        const pooled = this.add(
          { kind: "globalAveragePooling2d", args: {}, weights: [] },
          f,
          [f.shape[0], c],
          [0, 1],
        );
        return this.add(
          { kind: "reshape", args: { targetShape: [1, 1, c] }, weights: [] },
          pooled,
          [f.shape[0], c, 1, 1],
          [0, 2, 3, 1],
        );
      }
      case "BatchNormalization":
        return this.batchNorm(node, a, flow);
    }
    this.fail(`${this.where(node)}: op ${op} is not supported`);
  }

  /** An activation: the previous Conv2D's or Dense's if it has none. */
  activation(flow: Flow, activation: string): Flow {
    const p = flow.producer;
    if (
      p && (p.kind === "dense" || p.kind === "conv2d") &&
      p.args.activation === "linear"
    ) {
      p.args.activation = activation;
      return { ...flow };
    }
    return {
      ...this.add(
        { kind: "activation", args: { activation }, weights: [] },
        flow,
        flow.shape,
      ),
      features: flow.features,
    };
  }

  /** Zero padding of the two spatial axes: ZeroPadding2D. */
  pad(node: Node, a: Attributes, flow: Flow): Flow {
    const ins = node.input ?? [];
    const mode = a.string("mode", "constant");
    if (mode !== "constant") {
      this.fail(
        `${this.where(node)} pads in mode ${mode}: only zeros are read`,
      );
    }
    const pads = this.opset < 11
      ? a.ints("pads") ?? []
      : [...this.constant(ins[1] ?? "", node).values];
    const value = this.opset < 11
      ? a.float("value", 0)
      : ins[2]
      ? this.constant(ins[2], node).values[0] ?? 0
      : 0;
    if (ins[3]) this.fail(`${this.where(node)} has axes: not read`);
    const rank = flow.shape.length;
    if (
      rank !== 4 || pads.length !== 8 || value !== 0 ||
      pads.some((p) => !(Number.isInteger(p) && p >= 0 && p <= 1024)) ||
      pads[0] !== 0 || pads[1] !== 0 || pads[4] !== 0 || pads[5] !== 0
    ) {
      this.fail(
        `${
          this.where(node)
        } pads [${pads}] with ${value} on a rank-${rank} tensor: only zeros around 2-D pictures (NCHW) are read`,
      );
    }
    const f = this.spatial(node, flow);
    const [, , t, l, , , b, r] = pads;
    return this.add(
      {
        kind: "zeroPadding2d",
        args: { padding: [[t, b], [l, r]] },
        weights: [],
      },
      f,
      [
        f.shape[0],
        f.shape[1],
        (f.shape[2] as number) + t + b,
        (f.shape[3] as number) + l + r,
      ],
    );
  }

  dropFeatures(flow: Flow, node: Node): void {
    if (flow.features) {
      this.fail(
        `internal: ${
          this.where(node)
        } follows a Flatten whose order was deferred`,
      );
    }
  }

  /** A rank-4 NCHW tensor, held as NHWC. */
  spatial(node: Node, flow: Flow): Flow {
    if (flow.shape.length !== 4) {
      this.fail(
        `${
          this.where(node)
        } has a rank-${flow.shape.length} input: only 2-D pictures (rank 4, NCHW) are read`,
      );
    }
    return this.toOrder(flow, [0, 2, 3, 1]);
  }

  flatten(node: Node, flow: Flow): Flow {
    const rank = flow.shape.length;
    const size = product(flow.shape.slice(1));
    const shape = [flow.shape[0], size];
    if (rank === 2) return flow;
    if (!same(flow.order, identity(rank)) && this.nextIsDense(node)) {
      // Keras flattens its own order; remember where each feature comes from.
      const kerasDims = flow.order.slice(1).map((o) => flow.shape[o] as number);
      const onnxStrides = flow.shape.map((_, i) =>
        product(flow.shape.slice(i + 1))
      );
      const features = new Int32Array(size);
      const index = new Array(kerasDims.length).fill(0);
      for (let j = 0; j < size; j++) {
        let at = 0;
        for (let k = 0; k < kerasDims.length; k++) {
          at += index[k] * onnxStrides[flow.order[k + 1]];
        }
        features[j] = at;
        for (let k = kerasDims.length - 1; k >= 0; k--) {
          if (++index[k] < kerasDims[k]) break;
          index[k] = 0;
        }
      }
      const flat = this.add(
        { kind: "flatten", args: {}, weights: [] },
        flow,
        shape,
        [0, 1],
      );
      return { ...flat, features };
    }
    const ordered = this.toOrder(flow, identity(rank));
    return this.add(
      { kind: "flatten", args: {}, weights: [] },
      ordered,
      shape,
      [0, 1],
    );
  }

  /** Whether the op after `node`, past value-by-value ops, is a Dense. */
  nextIsDense(node: Node): boolean {
    let at = node;
    for (;;) {
      const next = this.consumers.get(at.output?.[0] ?? "") ?? [];
      if (next.length !== 1) return false;
      const op = next[0].opType ?? "";
      if (op === "Gemm" || op === "MatMul") {
        return next[0].input?.[0] === at.output?.[0] &&
          (op === "MatMul" || new Attributes(next[0]).int("transA", 0) === 0);
      }
      if (!ELEMENTWISE.has(op)) return false;
      at = next[0];
    }
  }

  reshape(node: Node, a: Attributes, flow: Flow): Flow {
    // Before opset 5 the shape is an attribute.
    const target = this.opset < 5
      ? a.ints("shape") ?? []
      : [...this.constant(node.input?.[1] ?? "", node).values];
    const rank = flow.shape.length;
    if (a.int("allowzero", 0) === 1 && target.includes(0)) {
      this.fail(`${this.where(node)} has allowzero with a 0 in its shape`);
    }
    const resolved = target.map((t, i) => (t === 0 ? flow.shape[i] : t));
    const rest = product(flow.shape.slice(1));
    const batch = flow.shape[0];
    if (resolved[0] !== null && resolved[0] !== batch && resolved[0] !== -1) {
      this.fail(
        `${
          this.where(node)
        } reshapes to [${target}], which changes the batch axis: only reshapes that keep it are read`,
      );
    }
    const known = product(
      resolved.slice(1).map((d) => (d === -1 ? 1 : d)),
    );
    const holes = resolved.filter((d) => d === -1).length;
    if (holes > 1 || resolved.slice(1).some((d) => d !== null && d < -1)) {
      this.fail(`${this.where(node)} has a malformed shape [${target}]`);
    }
    let out: Dim[];
    if (resolved[0] === -1) {
      if (holes !== 1 || known !== rest) {
        this.fail(
          `${
            this.where(node)
          } reshapes to [${target}], which changes the batch axis: only reshapes that keep it are read`,
        );
      }
      out = [batch, ...resolved.slice(1) as number[]];
    } else {
      if (holes === 1 ? rest % known !== 0 : known !== rest) {
        this.fail(
          `${this.where(node)} cannot reshape [${flow.shape}] to [${target}]`,
        );
      }
      out = [
        batch,
        ...resolved.slice(1).map((d) => (d === -1 ? rest / known : d)),
      ];
    }
    if (out.length === 2) return this.flatten(node, flow);
    if (out.length > 4) {
      this.fail(`${this.where(node)} makes a rank-${out.length} tensor`);
    }
    const ordered = this.toOrder(flow, identity(rank));
    if (same(out as number[], flow.shape as number[])) return ordered;
    return this.add(
      {
        kind: "reshape",
        args: { targetShape: out.slice(1) },
        weights: [],
      },
      ordered,
      out,
      identity(out.length),
    );
  }

  /** A Dense from kernel `[k, n]` (ONNX rows) and bias. */
  dense(
    node: Node,
    flow: Flow,
    kernel: Float32Array,
    k: number,
    n: number,
    bias: Float32Array | undefined,
  ): Flow {
    const rank = flow.shape.length;
    if (flow.shape[rank - 1] !== k) {
      this.fail(
        `${
          this.where(node)
        } multiplies [${flow.shape}] by a [${k}, ${n}] matrix: the sizes do not match`,
      );
    }
    let f = flow;
    if (rank > 2 && f.order[rank - 1] !== rank - 1) {
      f = this.toOrder(f, identity(rank));
    }
    if (f.features) {
      const rows = new Float32Array(k * n);
      f.features.forEach((from, j) =>
        rows.set(kernel.subarray(from * n, from * n + n), j * n)
      );
      kernel = rows;
    }
    const spec: LayerSpec = {
      kind: "dense",
      args: { units: n, useBias: bias !== undefined, activation: "linear" },
      weights: [{ values: kernel, shape: [k, n] }],
    };
    if (bias) spec.weights.push({ values: bias, shape: [n] });
    return this.add(spec, f, [...f.shape.slice(0, -1), n], f.order);
  }

  gemm(node: Node, a: Attributes, flow: Flow): Flow {
    if (flow.shape.length !== 2) {
      this.fail(`${this.where(node)} has a rank-${flow.shape.length} input`);
    }
    if (a.int("transA", 0) !== 0) {
      this.fail(
        `${
          this.where(node)
        } has transA 1: only the data as A, untransposed, is read`,
      );
    }
    const b = this.constant(node.input?.[1] ?? "", node);
    if (b.dims.length !== 2) {
      this.fail(`${this.where(node)}: B is not a matrix`);
    }
    const transB = a.int("transB", 0) === 1;
    const [k, n] = transB ? [b.dims[1], b.dims[0]] : b.dims;
    const alpha = a.float("alpha", 1);
    const beta = a.float("beta", 1);
    const kernel = new Float32Array(k * n);
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < n; j++) {
        kernel[i * n + j] = alpha *
          (transB ? b.values[j * k + i] : b.values[i * n + j]);
      }
    }
    let bias: Float32Array | undefined;
    const cName = node.input?.[2];
    if (cName) {
      const c = this.constant(cName, node);
      bias = this.vector(node, c, n, "C");
      bias = bias.map((v) => v * beta);
    }
    return this.dense(node, flow, kernel, k, n, bias);
  }

  /** A constant broadcast to a vector of `n` along the last axis. */
  vector(node: Node, c: Constant, n: number, what: string): Float32Array {
    const size = c.values.length;
    const leading = c.dims.slice(0, -1).every((d) => d === 1);
    if (size === 1) return new Float32Array(n).fill(c.values[0]);
    if (size === n && leading) return Float32Array.from(c.values);
    this.fail(
      `${
        this.where(node)
      }: ${what} of shape [${c.dims}] is not one value per output (${n})`,
    );
  }

  matmul(node: Node, flow: Flow): Flow {
    const b = this.constant(node.input?.[1] ?? "", node);
    if (b.dims.length !== 2) {
      this.fail(
        `${
          this.where(node)
        }: the constant factor has shape [${b.dims}], not a matrix`,
      );
    }
    if (flow.shape.length < 2) this.fail(`${this.where(node)}: a rank-1 input`);
    return this.dense(node, flow, b.values, b.dims[0], b.dims[1], undefined);
  }

  /** Add/Sub/Mul/Div by a constant: a bias folded in, or a Rescaling. */
  arithmetic(node: Node, op: string, flow: Flow, position: number): Flow {
    const other = this.constant((node.input ?? [])[1 - position] ?? "", node);
    const rank = flow.shape.length;
    const p = flow.producer;
    // Per channel: the axis that is ONNX's 1 for pictures, the last else.
    const channels = rank === 4
      ? flow.shape[1] as number
      : flow.shape[rank - 1] as number;
    const perChannel = other.values.length === channels &&
      (rank === 4
        ? other.dims.length >= 3 && other.dims.slice(-2).every((d) =>
          d === 1
        ) &&
          other.dims.slice(0, -3).every((d) => d === 1)
        : other.dims.slice(0, -1).every((d) => d === 1));
    const scalar = other.values.every((v) => v === other.values[0]) &&
      other.dims.length <= rank &&
      other.values.length <= channels;
    if (
      (op === "Add" || op === "Sub") && position === 0 && p &&
      (p.kind === "dense" || p.kind === "conv2d") &&
      p.args.activation === "linear" && (perChannel || scalar) &&
      (p.kind === "dense" ? rank === 2 || flow.order.at(-1) === rank - 1 : true)
    ) {
      const n = p.weights[0].shape.at(-1)!;
      const add = other.values.length === 1
        ? new Float32Array(n).fill(other.values[0])
        : other.values;
      const sign = op === "Sub" ? -1 : 1;
      if (!p.args.useBias) {
        p.args.useBias = true;
        p.weights.push({ values: new Float32Array(n), shape: [n] });
      }
      const bias = p.weights[1].values;
      for (let i = 0; i < n; i++) bias[i] += sign * add[i];
      return { ...flow };
    }
    if (!scalar) {
      this.fail(
        `${
          this.where(node)
        }: ${op} by a constant of shape [${other.dims}] is read only as the bias of the Dense or Conv just before it, or when it is one value`,
      );
    }
    const c = other.values[0];
    if ((op === "Div" && (position === 1 || c === 0))) {
      this.fail(
        `${this.where(node)} divides ${
          position === 1 ? "a constant by the data" : "by 0"
        }`,
      );
    }
    const [scale, offset] = op === "Add"
      ? [1, c]
      : op === "Sub"
      ? (position === 0 ? [1, -c] : [-1, c])
      : op === "Mul"
      ? [c, 0]
      : [1 / c, 0];
    if (p && p.kind === "rescaling") {
      const s = p.args.scale as number;
      const o = p.args.offset as number;
      p.args.scale = s * scale;
      p.args.offset = o * scale + offset;
      return { ...flow };
    }
    return {
      ...this.add(
        { kind: "rescaling", args: { scale, offset }, weights: [] },
        flow,
        flow.shape,
      ),
      features: flow.features,
    };
  }

  /** Explicit pads `[top, left, bottom, right]` from the attributes. */
  pads(
    node: Node,
    a: Attributes,
    size: number[],
    kernel: number[],
    strides: number[],
    dilations: number[],
  ): number[] {
    const auto = a.string("auto_pad", "NOTSET");
    if (auto === "VALID") return [0, 0, 0, 0];
    if (auto === "SAME_UPPER" || auto === "SAME_LOWER") {
      const before: number[] = [];
      const after: number[] = [];
      for (let i = 0; i < 2; i++) {
        const out = Math.ceil(size[i] / strides[i]);
        const total = Math.max(
          (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size[i],
          0,
        );
        const small = Math.floor(total / 2);
        before.push(auto === "SAME_UPPER" ? small : total - small);
        after.push(auto === "SAME_UPPER" ? total - small : small);
      }
      return [...before, ...after];
    }
    if (auto !== "NOTSET") this.fail(`${this.where(node)}: auto_pad ${auto}`);
    const pads = a.ints("pads") ?? [0, 0, 0, 0];
    if (pads.length !== 4 || pads.some((p) => p < 0 || p > 1024)) {
      this.fail(`${this.where(node)} has pads [${pads}]`);
    }
    return pads;
  }

  /** Whether pads are TensorFlow's "same" for these sizes. */
  isSame(
    pads: number[],
    size: number[],
    kernel: number[],
    strides: number[],
    dilations: number[],
  ): boolean {
    for (let i = 0; i < 2; i++) {
      const out = Math.ceil(size[i] / strides[i]);
      const total = Math.max(
        (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size[i],
        0,
      );
      const before = Math.floor(total / 2);
      if (pads[i] !== before || pads[i + 2] !== total - before) return false;
    }
    return true;
  }

  geometry(node: Node, a: Attributes, flow: Flow, kernel: number[]) {
    const size = [flow.shape[2] as number, flow.shape[3] as number];
    const strides = a.ints("strides") ?? [1, 1];
    const dilations = a.ints("dilations") ?? [1, 1];
    if (
      kernel.length !== 2 || strides.length !== 2 || dilations.length !== 2 ||
      [...kernel, ...strides, ...dilations].some((v) =>
        !(Number.isInteger(v) && v >= 1 && v <= 1024)
      )
    ) {
      this.fail(
        `${
          this.where(node)
        } has kernel [${kernel}], strides [${strides}], dilations [${dilations}]: 2-D, each from 1 to 1024`,
      );
    }
    const pads = this.pads(node, a, size, kernel, strides, dilations);
    const out = [0, 1].map((i) =>
      (size[i] + pads[i] + pads[i + 2] - ((kernel[i] - 1) * dilations[i] + 1)) /
        strides[i] + 1
    );
    if (out.some((o) => o < 1)) {
      this.fail(
        `${
          this.where(node)
        }: a [${kernel}] window does not fit a [${size}] picture`,
      );
    }
    return { size, strides, dilations, pads, out };
  }

  /** A ZeroPadding2D, "same" or "valid" for these pads. */
  padding(
    pads: number[],
    g: { size: number[]; strides: number[]; dilations: number[] },
    kernel: number[],
    flow: Flow,
    allowZeros: boolean,
    node: Node,
  ): { padding: "same" | "valid"; flow: Flow } {
    if (pads.every((p) => p === 0)) return { padding: "valid", flow };
    if (this.isSame(pads, g.size, kernel, g.strides, g.dilations)) {
      return { padding: "same", flow };
    }
    if (!allowZeros) {
      this.fail(
        `${
          this.where(node)
        } has pads [${pads}], which are neither none nor TensorFlow's "same"`,
      );
    }
    const [t, l, b, r] = pads;
    return {
      padding: "valid",
      flow: this.add(
        {
          kind: "zeroPadding2d",
          args: { padding: [[t, b], [l, r]] },
          weights: [],
        },
        flow,
        [flow.shape[0], flow.shape[1], g.size[0] + t + b, g.size[1] + l + r],
      ),
    };
  }

  conv(node: Node, a: Attributes, flow: Flow): Flow {
    const f = this.spatial(node, flow);
    const w = this.constant(node.input?.[1] ?? "", node);
    if (w.dims.length !== 4) {
      this.fail(`${this.where(node)}: only 2-D convolutions are read`);
    }
    if (a.int("group", 1) !== 1) {
      this.fail(
        `${this.where(node)} has group ${
          a.int("group", 1)
        }: grouped and depthwise convolutions are not read`,
      );
    }
    const [m, c, kh, kw] = w.dims;
    if (c !== f.shape[1]) {
      this.fail(
        `${this.where(node)}: weights for ${c} channels, the input has ${
          f.shape[1]
        }`,
      );
    }
    const kernel = a.ints("kernel_shape") ?? [kh, kw];
    if (!same(kernel, [kh, kw])) {
      this.fail(
        `${this.where(node)}: kernel_shape [${kernel}] ≠ [${kh}, ${kw}]`,
      );
    }
    const g = this.geometry(node, a, f, kernel);
    if (g.strides.some((s) => s > 1) && g.dilations.some((d) => d > 1)) {
      this.fail(`${this.where(node)}: both strides and dilations above 1`);
    }
    const padded = this.padding(g.pads, g, kernel, f, true, node);
    const out = g.out.map(Math.floor);
    // [M, C, kh, kw] → [kh, kw, C, M]
    const values = new Float32Array(w.values.length);
    for (let o = 0; o < m; o++) {
      for (let i = 0; i < c; i++) {
        for (let y = 0; y < kh; y++) {
          for (let x = 0; x < kw; x++) {
            values[((y * kw + x) * c + i) * m + o] =
              w.values[((o * c + i) * kh + y) * kw + x];
          }
        }
      }
    }
    const spec: LayerSpec = {
      kind: "conv2d",
      args: {
        filters: m,
        kernelSize: [kh, kw],
        strides: g.strides,
        dilationRate: g.dilations,
        padding: padded.padding,
        useBias: false,
        activation: "linear",
      },
      weights: [{ values, shape: [kh, kw, c, m] }],
    };
    const biasName = node.input?.[2];
    if (biasName) {
      spec.args.useBias = true;
      spec.weights.push({
        values: this.vector(node, this.constant(biasName, node), m, "B"),
        shape: [m],
      });
    }
    return this.add(spec, padded.flow, [f.shape[0], m, out[0], out[1]]);
  }

  pool(node: Node, op: string, a: Attributes, flow: Flow): Flow {
    const f = this.spatial(node, flow);
    const kernel = a.ints("kernel_shape") ?? [];
    const g = this.geometry(node, a, f, kernel);
    if (g.dilations.some((d) => d !== 1)) {
      this.fail(`${this.where(node)} has dilations [${g.dilations}]`);
    }
    const ceil = a.int("ceil_mode", 0) === 1;
    if (ceil && g.out.some((o) => !Number.isInteger(o))) {
      this.fail(
        `${
          this.where(node)
        }: ceil_mode 1 makes the output larger here, which no Keras pooling does`,
      );
    }
    const max = op === "MaxPool";
    const includePad = !max && a.int("count_include_pad", 0) === 1;
    let padded: { padding: "same" | "valid"; flow: Flow };
    if (includePad && g.pads.some((p) => p > 0)) {
      const [t, l, b, r] = g.pads;
      padded = {
        padding: "valid",
        flow: this.add(
          {
            kind: "zeroPadding2d",
            args: { padding: [[t, b], [l, r]] },
            weights: [],
          },
          f,
          [f.shape[0], f.shape[1], g.size[0] + t + b, g.size[1] + l + r],
        ),
      };
    } else {
      padded = this.padding(g.pads, g, kernel, f, false, node);
    }
    const out = g.out.map(Math.floor);
    return this.add(
      {
        kind: max ? "maxPooling2d" : "averagePooling2d",
        args: { poolSize: kernel, strides: g.strides, padding: padded.padding },
        weights: [],
      },
      padded.flow,
      [f.shape[0], f.shape[1], out[0], out[1]],
    );
  }

  batchNorm(node: Node, a: Attributes, flow: Flow): Flow {
    this.dropFeatures(flow, node);
    if (
      a.int("training_mode", 0) !== 0 ||
      (this.opset < 7 && a.int("is_test", 0) === 0)
    ) {
      this.fail(`${this.where(node)} is in training mode`);
    }
    if (a.has("spatial") && a.int("spatial", 1) !== 1) {
      this.fail(`${this.where(node)} has spatial 0`);
    }
    const rank = flow.shape.length;
    if (rank < 2) this.fail(`${this.where(node)}: a rank-1 input`);
    const c = flow.shape[1] as number;
    const [scale, bias, mean, variance] = (node.input ?? []).slice(1, 5).map(
      (name) => this.vector(node, this.constant(name, node), c, name),
    );
    if (!variance) this.fail(`${this.where(node)} lacks an input`);
    return this.add(
      {
        kind: "batchNormalization",
        args: {
          axis: flow.order.indexOf(1),
          epsilon: a.float("epsilon", 1e-5),
          momentum: a.float("momentum", 0.9),
        },
        weights: [scale, bias, mean, variance].map((values) => ({
          values,
          shape: [c],
        })),
      },
      flow,
      flow.shape,
    );
  }
}

/** The model's `metadata_props` as an object. */
function metadataOf(model: Model): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of model.metadataProps ?? []) {
    if (p.key) out[p.key] = p.value ?? "";
  }
  return out;
}

/** Creates the layers, builds the model, sets the weights. */
function build(
  specs: LayerSpec[],
  inputShape: number[],
  file: string,
): tf.LayersModel {
  let total = 0;
  for (const s of specs) {
    for (const w of s.weights) total += w.values.length;
  }
  if (total > MAX_VALUES) {
    throw new ModelFileError(file, `${total} weights: more than ${MAX_VALUES}`);
  }
  if (specs.length === 0) {
    specs.push({
      kind: "activation",
      args: { activation: "linear" },
      weights: [],
    });
  }
  const variablesBefore = new Set(Object.keys(tf.engine().registeredVariables));
  let model: tf.LayersModel | undefined;
  try {
    // Keras-style names, numbered per kind: conv2d_1, conv2d_2, dense_1…
    const counts = new Map<string, number>();
    for (const s of specs) {
      const base = s.kind === "leakyReLU"
        ? "leaky_re_lu"
        : s.kind.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
      const n = (counts.get(base) ?? 0) + 1;
      counts.set(base, n);
      s.args.name = `${base}_${n}`;
    }
    const layers = specs.map((s) =>
      s.kind === "logSoftmax"
        ? new LogSoftmax(s.args as { axis: number; name: string })
        : (tf.layers as unknown as Record<
          string,
          (a: unknown) => tf.layers.Layer
        >)[
          s.kind
        ](s.args)
    );
    model = tf.sequential({
      layers: [tf.layers.inputLayer({ inputShape }), ...layers],
    });
    layers.forEach((layer, i) => {
      const w = specs[i].weights;
      if (w.length === 0) return;
      const tensors = w.map((x) => tf.tensor(x.values, x.shape, "float32"));
      try {
        layer.setWeights(tensors);
      } finally {
        tf.dispose(tensors);
      }
    });
    return model;
  } catch (error) {
    model?.dispose();
    for (
      const [name, variable] of Object.entries(tf.engine().registeredVariables)
    ) {
      if (!variablesBefore.has(name)) variable.dispose();
    }
    throw new ModelFileError(
      file,
      `the converted model cannot be built: ${(error as Error).message}`,
    );
  }
}

/**
 * Converts an ONNX model (its bytes) into a TensorFlow.js Layers model.
 * Rank-4 inputs are taken as NCHW and become NHWC (see `inputOrder`).
 *
 * @throws {ModelFileError} naming the file and the problem (an unsupported
 * op names the node, the op and the opset, and lists what is supported).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { onnx } from "./proto.ts";
 * import { onnxToLayers } from "./read.ts";
 * const bytes = onnx.ModelProto.encode({
 *   irVersion: 8,
 *   opsetImport: [{ domain: "", version: 13 }],
 *   graph: {
 *     input: [{ name: "x", type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: "N" }, { dimValue: 3 }] } } } }],
 *     output: [{ name: "y" }],
 *     node: [{ opType: "Relu", input: ["x"], output: ["y"] }],
 *   },
 * }).finish();
 * const { model } = onnxToLayers(bytes);
 * const y = model.predict(tf.tensor2d([[-1, 0, 2]])) as tf.Tensor;
 * assertEquals(Array.from(y.dataSync()), [0, 0, 2]);
 * import * as tf from "@tensorflow/tfjs";
 * ```
 */
export function onnxToLayers(
  bytes: Uint8Array,
  options: OnnxReadOptions = {},
): OnnxConversion {
  const file = options.file ?? "model.onnx";
  const { model, graph, opset } = decodeModel(bytes, file);
  const converter = new Converter(file, graph, opset, options);
  let walked;
  try {
    walked = converter.run();
  } catch (error) {
    if (error instanceof ModelFileError) throw error;
    throw new ModelFileError(
      file,
      `the graph cannot be read: ${(error as Error).message}`,
    );
  }
  const { flow, input, inputShape, inputOrder } = walked;
  if (flow.features) {
    throw new ModelFileError(
      file,
      "internal: a deferred Flatten at the output",
    );
  }
  const kerasInput = inputOrder.slice(1).map((o) => inputShape[o] as number);
  return {
    model: build(converter.specs, kerasInput, file),
    inputOrder,
    outputOrder: flow.order,
    names: { input, output: flow.name },
    opset,
    metadata: metadataOf(model),
    notes: converter.notes,
  };
}

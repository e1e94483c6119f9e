/**
 * ONNX's protobuf messages, through `onnx-proto` (onnx.proto compiled by
 * protobufjs): decoding a model with the checks that come before anything
 * large is allocated (file size, IR version, opsets, external data, node
 * count, a tensor's size against its bytes), and reading tensors and
 * attributes as plain numbers.
 *
 * @module
 */
import pkg from "onnx-proto";
import type { onnx as OnnxTypes } from "onnx-proto";
import { ModelFileError } from "../errors.ts";

/** onnx.proto's messages (`onnx.ModelProto`, `onnx.TensorProto`, …). */
export const onnx: typeof OnnxTypes = pkg.onnx;
/** A decoded `ModelProto`. */
export type Model = OnnxTypes.IModelProto;
/** A decoded `GraphProto`. */
export type Graph = OnnxTypes.IGraphProto;
/** A decoded `NodeProto`. */
export type Node = OnnxTypes.INodeProto;
/** A decoded `TensorProto`. */
export type Tensor = OnnxTypes.ITensorProto;
/** A decoded `AttributeProto`. */
export type Attribute = OnnxTypes.IAttributeProto;

/** The largest ONNX file read (1 GiB). */
export const MAX_FILE_BYTES = 1024 * 1024 * 1024;
/** The most nodes a graph may have: a small vision network has tens. */
export const MAX_NODES = 2000;
/** The most values all weights together may hold (2²⁷, 512 MiB of float32). */
export const MAX_VALUES = 2 ** 27;
/** The opsets of the default domain read (`ai.onnx`). */
export const OPSETS = { min: 1, max: 22 } as const;
/** The IR versions read. */
export const IR_VERSIONS = { min: 3, max: 10 } as const;

/** A protobuf int64 (a number or protobufjs's `Long`) as a number. */
export function num(value: number | { toNumber(): number } | null | undefined) {
  if (value === null || value === undefined) return 0;
  return typeof value === "number" ? value : value.toNumber();
}

/**
 * Decodes an ONNX model and checks what can be checked before converting:
 * IR version, the default domain's opset, no external data, at most
 * {@linkcode MAX_NODES} nodes, initializers whose declared sizes match their
 * data and add up to at most {@linkcode MAX_VALUES}.
 *
 * @throws {ModelFileError} naming `file` and the problem.
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { decodeModel, onnx } from "./proto.ts";
 * const bytes = onnx.ModelProto.encode({
 *   irVersion: 8,
 *   opsetImport: [{ domain: "", version: 13 }],
 *   graph: { node: [{ opType: "Relu", input: ["x"], output: ["y"] }] },
 * }).finish();
 * assertEquals(decodeModel(bytes, "relu.onnx").opset, 13);
 * assertThrows(() => decodeModel(bytes.subarray(0, 9), "cut.onnx"), Error, "cut.onnx: ");
 * ```
 */
export function decodeModel(
  bytes: Uint8Array,
  file: string,
): { model: Model; graph: Graph; opset: number } {
  if (bytes.length > MAX_FILE_BYTES) {
    throw new ModelFileError(
      file,
      `${bytes.length} bytes: larger than the ${MAX_FILE_BYTES} an ONNX file may have here`,
    );
  }
  let model: Model;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new ModelFileError(
      file,
      `not an ONNX model (its protobuf cannot be decoded: ${
        (error as Error).message
      }); truncated or corrupt?`,
    );
  }
  const ir = num(model.irVersion);
  if (ir < IR_VERSIONS.min || ir > IR_VERSIONS.max) {
    throw new ModelFileError(
      file,
      `ONNX IR version ${ir}: only ${IR_VERSIONS.min}–${IR_VERSIONS.max} are read (not an ONNX model, or a newer one)`,
    );
  }
  const graph = model.graph;
  if (!graph) throw new ModelFileError(file, "an ONNX model without a graph");
  let opset: number | undefined;
  for (const imp of model.opsetImport ?? []) {
    const domain = imp.domain ?? "";
    if (domain === "" || domain === "ai.onnx") opset = num(imp.version);
  }
  if (opset === undefined) {
    throw new ModelFileError(
      file,
      "the model imports no opset of the default ONNX domain",
    );
  }
  if (opset < OPSETS.min || opset > OPSETS.max) {
    throw new ModelFileError(
      file,
      `opset ${opset} of the default ONNX domain: only ${OPSETS.min}–${OPSETS.max} are read`,
    );
  }
  const nodes = graph.node ?? [];
  if (nodes.length > MAX_NODES) {
    throw new ModelFileError(
      file,
      `${nodes.length} nodes: more than the ${MAX_NODES} a chain-shaped vision network may have here`,
    );
  }
  let total = 0;
  for (const t of graph.initializer ?? []) {
    total += checkTensor(t, file, MAX_VALUES - total);
  }
  if ((graph.sparseInitializer ?? []).length > 0) {
    throw new ModelFileError(file, "sparse initializers are not supported");
  }
  for (const node of nodes) {
    for (const a of node.attribute ?? []) {
      if (a.t) total += checkTensor(a.t, file, MAX_VALUES - total);
    }
  }
  return { model, graph, opset };
}

/** Bytes per value of the tensor types read. */
const TYPE_BYTES: Record<number, number> = {
  [1]: 4, // FLOAT
  [6]: 4, // INT32
  [7]: 8, // INT64
  [11]: 8, // DOUBLE
  [9]: 1, // BOOL
};

/** Checks a tensor's size and data; returns its number of values. */
function checkTensor(t: Tensor, file: string, room: number): number {
  const name = t.name ? `"${t.name}"` : "(unnamed)";
  if (
    num(t.dataLocation) === onnx.TensorProto.DataLocation.EXTERNAL ||
    (t.externalData ?? []).length > 0
  ) {
    const location = t.externalData?.find((e) => e.key === "location")?.value;
    throw new ModelFileError(
      file,
      `tensor ${name} keeps its data in an external file${
        location ? ` (${JSON.stringify(location)})` : ""
      }: external data is not read`,
    );
  }
  let count = 1;
  for (const d of t.dims ?? []) {
    const n = num(d);
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new ModelFileError(file, `tensor ${name} has a dimension ${n}`);
    }
    count *= n;
    if (count > room) {
      throw new ModelFileError(
        file,
        `tensor ${name} of shape [${
          (t.dims ?? []).map(num)
        }] is too large: the weights may hold at most ${MAX_VALUES} values in all`,
      );
    }
  }
  const type = num(t.dataType);
  const size = TYPE_BYTES[type];
  if (size === undefined) {
    throw new ModelFileError(
      file,
      `tensor ${name} is of type ${
        onnx.TensorProto.DataType[type] ?? type
      }: only FLOAT, DOUBLE, INT32, INT64 and BOOL are read`,
    );
  }
  const stored = t.rawData && t.rawData.length > 0
    ? t.rawData.length / size
    : type === 1
    ? t.floatData?.length ?? 0
    : type === 11
    ? t.doubleData?.length ?? 0
    : type === 6 || type === 9
    ? t.int32Data?.length ?? 0
    : t.int64Data?.length ?? 0;
  if (stored !== count) {
    throw new ModelFileError(
      file,
      `tensor ${name} of shape [${
        (t.dims ?? []).map(num)
      }] needs ${count} values, its data holds ${stored}`,
    );
  }
  return count;
}

/** A constant: its shape and values (float32 for float types, else numbers). */
export interface Constant {
  /** The shape. */
  dims: number[];
  /** The values, row-major. */
  values: Float32Array;
  /** True for integer tensors (INT32, INT64). */
  integer: boolean;
}

/** A checked tensor's values (see {@linkcode decodeModel}). */
export function tensorValues(t: Tensor): Constant {
  const dims = (t.dims ?? []).map(num);
  const type = num(t.dataType);
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : undefined;
  let values: Float32Array;
  if (raw) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const n = raw.length / TYPE_BYTES[type];
    values = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      values[i] = type === 1
        ? view.getFloat32(4 * i, true)
        : type === 11
        ? view.getFloat64(8 * i, true)
        : type === 6
        ? view.getInt32(4 * i, true)
        : type === 9
        ? view.getUint8(i)
        : Number(view.getBigInt64(8 * i, true));
    }
  } else if (type === 1) values = Float32Array.from(t.floatData ?? []);
  else if (type === 11) values = Float32Array.from(t.doubleData ?? []);
  else if (type === 6 || type === 9) {
    values = Float32Array.from(t.int32Data ?? []);
  } else values = Float32Array.from((t.int64Data ?? []).map(num));
  return { dims, values, integer: type !== 1 && type !== 11 };
}

/** A node's attributes by name. */
export class Attributes {
  readonly #byName: Map<string, Attribute>;
  /** Reads `node`'s attributes. */
  constructor(node: Node) {
    this.#byName = new Map(
      (node.attribute ?? []).map((a) => [a.name ?? "", a]),
    );
  }
  /** Whether the attribute is present. */
  has(name: string): boolean {
    return this.#byName.has(name);
  }
  /** The names present. */
  names(): string[] {
    return [...this.#byName.keys()];
  }
  /** An INT attribute. */
  int(name: string, fallback: number): number {
    const a = this.#byName.get(name);
    return a ? num(a.i) : fallback;
  }
  /** A FLOAT attribute. */
  float(name: string, fallback: number): number {
    const a = this.#byName.get(name);
    return a ? a.f ?? 0 : fallback;
  }
  /** An INTS attribute. */
  ints(name: string): number[] | undefined {
    const a = this.#byName.get(name);
    return a ? (a.ints ?? []).map(num) : undefined;
  }
  /** A FLOATS attribute. */
  floats(name: string): number[] | undefined {
    const a = this.#byName.get(name);
    return a ? [...(a.floats ?? [])] : undefined;
  }
  /** A STRING attribute. */
  string(name: string, fallback: string): string {
    const a = this.#byName.get(name);
    return a ? new TextDecoder().decode(a.s ?? new Uint8Array()) : fallback;
  }
  /** A TENSOR attribute. */
  tensor(name: string): Tensor | undefined {
    return this.#byName.get(name)?.t ?? undefined;
  }
}

/**
 * The checks a Keras model config passes before anything is built from it,
 * so that a hostile file costs neither a stack overflow nor a huge
 * allocation: its nesting depth (measured without recursion), and each
 * layer's weight shapes (inferred from the config alone, for the layers of
 * `SUPPORTED_LAYERS`) against the shapes of the weights the file stores, with
 * a bound on their total size. TensorFlow.js allocates every weight when it
 * builds a model, so a `Dense` with `units: 100000000` must be refused here.
 *
 * @module
 */
import { ModelFileError } from "../errors.ts";
import type { Json } from "./config.ts";

/** How deep a model config may nest (real ones nest about a dozen levels). */
export const MAX_CONFIG_DEPTH = 100;

/** The most weight values a model may hold (128 Mi floats, 512 MiB). */
export const MAX_WEIGHT_VALUES = 128 * 1024 * 1024;

/**
 * How deeply `value` nests arrays and objects (a scalar is 0), counted
 * with an explicit stack and giving up past `limit`: any depth is safe.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { jsonDepth } from "./shapes.ts";
 * assertEquals(jsonDepth({ a: [1, { b: 2 }] }), 3);
 * let deep: unknown = 0;
 * for (let i = 0; i < 5000; i++) deep = [deep];
 * assertEquals(jsonDepth(deep, 100), 101); // stops counting past the limit
 * ```
 */
export function jsonDepth(value: unknown, limit = Infinity): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    const d = depth + 1;
    if (d > deepest) deepest = d;
    if (deepest > limit) return deepest;
    for (const child of Object.values(v)) stack.push([child, d]);
  }
  return deepest;
}

/**
 * Refuses a parsed config nested more than {@linkcode MAX_CONFIG_DEPTH}
 * levels, before any recursive walk over it.
 *
 * @throws {ModelFileError} naming `file` and the depth.
 */
export function checkConfigDepth(config: unknown, file: string): void {
  const depth = jsonDepth(config, MAX_CONFIG_DEPTH);
  if (depth > MAX_CONFIG_DEPTH) {
    throw new ModelFileError(
      file,
      `the model config nests deeper than ${MAX_CONFIG_DEPTH} levels ` +
        "(not a Keras model config)",
    );
  }
}

/** A weight as the file stores it: its path in the file and its shape. */
export interface StoredWeight {
  /** Where it is in the file (for messages). */
  path: string;
  /** Its shape (HDF5 metadata; nothing is read). */
  shape: number[];
}

/** A layer's output shape without the batch dimension. */
type Shape = number[];

const pair = (v: unknown, fallback: number): [number, number] =>
  Array.isArray(v)
    ? [Number(v[0]), Number(v[1] ?? v[0])]
    : v === undefined || v === null
    ? [fallback, fallback]
    : [Number(v), Number(v)];

/** Output size of a window over `n` cells (Keras's `conv_output_length`). */
function windowed(n: number, size: number, stride: number, padding: unknown) {
  return padding === "same"
    ? Math.ceil(n / stride)
    : Math.ceil((n - size + 1) / stride);
}

/**
 * One layer's weight shapes and output shape, from its config and input
 * shape alone.
 */
function inferLayer(
  cls: string,
  c: Json,
  input: Shape,
): { weights: Shape[]; output: Shape } {
  const last = input.at(-1) ?? NaN;
  const bias = (n: number) => c.use_bias === false ? [] : [[n]];
  switch (cls) {
    case "Dense": {
      const units = Number(c.units);
      return {
        weights: [[last, units], ...bias(units)],
        output: [...input.slice(0, -1), units],
      };
    }
    case "Conv2D": {
      const filters = Number(c.filters);
      const [kh, kw] = pair(c.kernel_size, NaN);
      const [sh, sw] = pair(c.strides, 1);
      return {
        weights: [[kh, kw, last, filters], ...bias(filters)],
        output: [
          windowed(input[0], kh, sh, c.padding),
          windowed(input[1], kw, sw, c.padding),
          filters,
        ],
      };
    }
    case "MaxPooling2D":
    case "AveragePooling2D": {
      const [ph, pw] = pair(c.pool_size, 2);
      const [sh, sw] = c.strides == null ? [ph, pw] : pair(c.strides, 1);
      return {
        weights: [],
        output: [
          windowed(input[0], ph, sh, c.padding),
          windowed(input[1], pw, sw, c.padding),
          last,
        ],
      };
    }
    case "GlobalAveragePooling2D":
      return { weights: [], output: c.keepdims ? [1, 1, last] : [last] };
    case "Flatten":
      return { weights: [], output: [input.reduce((a, b) => a * b, 1)] };
    case "Reshape": {
      const target = (c.target_shape as number[]).map(Number);
      const size = input.reduce((a, b) => a * b, 1);
      const known = target.reduce((a, b) => b === -1 ? a : a * b, 1);
      return {
        weights: [],
        output: target.map((d) => d === -1 ? size / known : d),
      };
    }
    case "BatchNormalization": {
      const axes = Array.isArray(c.axis) ? c.axis : [c.axis ?? -1];
      const axis = Number(axes[0]);
      // Keras counts the axis with the batch dimension.
      const channels = axis < 0 ? input.at(axis) : input[axis - 1];
      const n = channels ?? NaN;
      const count = (c.scale === false ? 0 : 1) + (c.center === false ? 0 : 1) +
        2;
      return {
        weights: Array.from({ length: count }, () => [n]),
        output: input,
      };
    }
    default: // InputLayer, Dropout, SpatialDropout2D, Activation, Rescaling
      return { weights: [], output: input };
  }
}

const valid = (shape: Shape) =>
  shape.every((d) => Number.isSafeInteger(d) && d > 0);

/**
 * The input shapes (without the batch) a topology declares: its
 * `InputLayer`s', or a Sequential's first layer's `batch_input_shape`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { declaredInputShapes } from "./shapes.ts";
 * const layers = [{ class_name: "Dense", config: { batch_input_shape: [null, 784] } }];
 * assertEquals(declaredInputShapes({ class_name: "Sequential", config: { layers } }), [[784]]);
 * ```
 */
export function declaredInputShapes(topology: Json): unknown[][] {
  const config = topology.config as Json;
  const layers = (Array.isArray(config) ? config : config.layers) as Json[];
  return layers.filter((layer, index) =>
    layer.class_name === "InputLayer" ||
    (topology.class_name === "Sequential" && index === 0)
  ).map((layer) => (layer.config as Json | undefined)?.batch_input_shape)
    .filter(Array.isArray).map((shape) => shape.slice(1));
}

/**
 * Checks, before the model is built, that the weights each layer of
 * `topology` (Keras 2 form, layers already checked by `checkLayers`) would
 * allocate are the ones `stored(name, index)` gives for it (the layer's
 * name and its index in the config's layer list; `undefined` where the file
 * has none), shape for shape, and that all of them together hold at most
 * {@linkcode MAX_WEIGHT_VALUES} values. Shapes are inferred from the config
 * alone; the inputs must already be known to be pictures.
 *
 * @throws {ModelFileError} naming `file`, the layer and what does not fit.
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { ModelFileError } from "../errors.ts";
 * import { checkWeightShapes } from "./shapes.ts";
 * const topology = {
 *   class_name: "Sequential",
 *   config: {
 *     layers: [
 *       { class_name: "Flatten", config: { name: "f", batch_input_shape: [null, 28, 28, 1] } },
 *       { class_name: "Dense", config: { name: "d", units: 100000000 } },
 *     ],
 *   },
 * };
 * const stored = () => [
 *   { path: "d/kernel:0", shape: [784, 10] },
 *   { path: "d/bias:0", shape: [10] },
 * ];
 * assertThrows(
 *   () => checkWeightShapes(topology, "m.h5", stored),
 *   ModelFileError,
 *   "the layer needs [784,100000000]",
 * );
 * ```
 */
export function checkWeightShapes(
  topology: Json,
  file: string,
  stored: (name: string, index: number) => StoredWeight[] | undefined,
): void {
  const config = topology.config as Json;
  const layers = (Array.isArray(config) ? config : config.layers) as Json[];
  const outputs = new Map<string, Shape>();
  let previous: Shape | undefined;
  let total = 0;
  layers.forEach((layer, index) => {
    const cls = String(layer.class_name);
    const c = (layer.config ?? {}) as Json;
    const name = String(c.name ?? layer.name ?? "?");
    const where = `layer "${name}" (${cls})`;
    const declared = c.batch_input_shape;
    const nodes = layer.inbound_nodes as unknown[][][] | undefined;
    const from = nodes?.[0]?.[0]?.[0];
    const first = cls === "InputLayer" ||
      (topology.class_name === "Sequential" && index === 0);
    const input = first
      ? (Array.isArray(declared) ? declared.slice(1).map(Number) : undefined)
      : typeof from === "string"
      ? outputs.get(from)
      : previous;
    if (input === undefined || !valid(input)) {
      throw new ModelFileError(
        file,
        `${where}: the model config gives it no valid input shape`,
      );
    }
    const { weights, output } = inferLayer(cls, c, input);
    if (!valid(output) || !weights.every(valid)) {
      throw new ModelFileError(
        file,
        `${where}: the model config gives it an invalid shape ` +
          `(output [${output}], weights ${
            weights.map((w) => `[${w}]`).join(" ") || "none"
          })`,
      );
    }
    outputs.set(name, output);
    previous = output;
    if (weights.length === 0) return;
    const found = stored(name, index) ?? [];
    if (found.length !== weights.length) {
      throw new ModelFileError(
        file,
        `missing weights of layer "${name}": expected ${weights.length}, found ${found.length}`,
      );
    }
    weights.forEach((want, i) => {
      const shape = found[i].shape;
      if (shape.length !== want.length || shape.some((d, j) => d !== want[j])) {
        throw new ModelFileError(
          file,
          `weight ${
            found[i].path
          } of layer "${name}" has shape [${shape}], the layer needs [${want}]`,
        );
      }
      total += want.reduce((a, b) => a * b, 1);
    });
    if (total > MAX_WEIGHT_VALUES) {
      throw new ModelFileError(
        file,
        `${where}: the model's weights would hold over ${MAX_WEIGHT_VALUES} values`,
      );
    }
  });
}

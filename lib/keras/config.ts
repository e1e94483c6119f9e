/**
 * Keras model configs: Keras 3's (`module`, `registered_name`, dtype-policy
 * objects, `batch_shape`, keras-tensor call arguments) translated to the
 * Keras 2 form that TensorFlow.js builds models from, and back; and the check
 * that a model uses only layers and options this project reads correctly.
 *
 * @module
 */
import { ModelFileError } from "../errors.ts";

/** A JSON object. */
export type Json = Record<string, unknown>;

/** Layer classes read and written, with the options checked for each. */
export const SUPPORTED_LAYERS: readonly string[] = [
  "InputLayer",
  "Conv2D",
  "MaxPooling2D",
  "AveragePooling2D",
  "Dropout",
  "SpatialDropout2D",
  "Flatten",
  "Dense",
  "Activation",
  "BatchNormalization",
  "Reshape",
  "GlobalAveragePooling2D",
  "Rescaling",
];

/** Activations TensorFlow.js computes as Keras does. */
const ACTIVATIONS = [
  "linear",
  "relu",
  "relu6",
  "softmax",
  "sigmoid",
  "tanh",
  "elu",
  "selu",
  "softplus",
  "softsign",
  "hard_sigmoid",
  "swish",
  "gelu",
];

const isObject = (v: unknown): v is Json =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** A Keras 3 serialized object: `{module, class_name, config, registered_name}`. */
const isKeras3Object = (v: unknown): v is Json =>
  isObject(v) && "class_name" in v && "config" in v &&
  ("module" in v || "registered_name" in v);

/** True when a model config is in Keras 3's form. */
export function isKeras3Config(config: Json): boolean {
  return JSON.stringify(config).includes('"registered_name"') ||
    JSON.stringify(config).includes('"__keras_tensor__"');
}

/**
 * A Keras 3 value in Keras 2's form: serialized objects lose `module`,
 * `registered_name` and `build_config`; dtype policies become their name;
 * `batch_shape` becomes `batch_input_shape`.
 */
function toKeras2Value(value: unknown, key = ""): unknown {
  if (Array.isArray(value)) return value.map((v) => toKeras2Value(v));
  if (!isObject(value)) return value;
  if (key === "dtype" && isKeras3Object(value)) {
    return (value.config as Json).name;
  }
  if (isKeras3Object(value)) {
    return {
      class_name: value.class_name,
      config: toKeras2Value(value.config),
      ...(value.name !== undefined ? { name: value.name } : {}),
      ...(value.inbound_nodes !== undefined
        ? { inbound_nodes: toKeras2Nodes(value.inbound_nodes) }
        : {}),
    };
  }
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === "batch_shape") out.batch_input_shape = v;
    else out[k] = toKeras2Value(v, k);
  }
  return out;
}

/** Keras 3 inbound nodes (`args` of keras tensors) as Keras 2's lists. */
function toKeras2Nodes(nodes: unknown): unknown {
  if (!Array.isArray(nodes)) return nodes;
  return nodes.map((node) => {
    if (Array.isArray(node)) return node; // already Keras 2
    const tensors: unknown[] = [];
    const collect = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(collect);
      else if (isObject(v) && v.class_name === "__keras_tensor__") {
        const [layer, nodeIndex, tensorIndex] = (v.config as Json)
          .keras_history as [string, number, number];
        tensors.push([layer, nodeIndex, tensorIndex, {}]);
      }
    };
    collect((node as Json).args);
    return tensors;
  });
}

/**
 * The model config of a Keras file (`{class_name, config}`, either Keras
 * version) as TensorFlow.js builds it: Keras 2's form, a Sequential's
 * `InputLayer` folded into its first layer's `batch_input_shape`.
 */
export function toTfjsTopology(modelConfig: Json): Json {
  const topology = toKeras2Value(modelConfig) as Json;
  if (topology.class_name === "Sequential") {
    let config = topology.config as Json | Json[];
    if (Array.isArray(config)) config = { layers: config };
    const layers = [...(config.layers as Json[])];
    if (layers[0]?.class_name === "InputLayer") {
      const input = layers.shift()!.config as Json;
      if (layers[0]) {
        layers[0] = {
          ...layers[0],
          config: {
            ...(layers[0].config as Json),
            batch_input_shape: input.batch_input_shape,
          },
        };
      }
    }
    topology.config = { ...config, layers };
  }
  return topology;
}

/**
 * Checks every layer of a (Keras 2 form) topology against
 * {@linkcode SUPPORTED_LAYERS} and the options this project reads correctly.
 *
 * @throws {ModelFileError} naming the layer, its class, the option and `file`.
 */
export function checkLayers(topology: Json, file: string): void {
  const config = topology.config as Json;
  const layers = (Array.isArray(config) ? config : config.layers) as Json[];
  if (!Array.isArray(layers) || layers.length === 0) {
    throw new ModelFileError(file, "the model config lists no layers");
  }
  for (const layer of layers) {
    const cls = String(layer.class_name);
    const c = (layer.config ?? {}) as Json;
    const where = `layer "${c.name ?? "?"}" (${cls})`;
    if (!SUPPORTED_LAYERS.includes(cls)) {
      throw new ModelFileError(
        file,
        `${where}: layer class ${cls} is not supported (supported: ${
          SUPPORTED_LAYERS.join(", ")
        })`,
      );
    }
    if (c.data_format !== undefined && c.data_format !== "channels_last") {
      throw new ModelFileError(
        file,
        `${where}: data_format "${c.data_format}" is not supported (channels_last only)`,
      );
    }
    const activation = c.activation;
    if (activation !== undefined) {
      const name = isObject(activation) ? activation.class_name : activation;
      if (typeof name !== "string" || !ACTIVATIONS.includes(name)) {
        throw new ModelFileError(
          file,
          `${where}: activation ${JSON.stringify(name)} is not supported`,
        );
      }
    }
    for (const key of ["dilation_rate", "groups"]) {
      const v = c[key];
      const trivial = v === undefined || v === 1 ||
        (Array.isArray(v) && v.every((x) => x === 1));
      if (!trivial) {
        throw new ModelFileError(
          file,
          `${where}: ${key} ${JSON.stringify(v)} is not supported`,
        );
      }
    }
  }
}

/** Keras 3's serialization of a Keras 2 value (see {@linkcode toKeras3Layer}). */
function toKeras3Value(value: unknown, key = "", module = "keras"): unknown {
  if (Array.isArray(value)) return value.map((v) => toKeras3Value(v));
  if (!isObject(value)) return value;
  if ("class_name" in value && "config" in value) {
    const kind = key.endsWith("initializer")
      ? "keras.initializers"
      : key.endsWith("regularizer")
      ? "keras.regularizers"
      : key.endsWith("constraint")
      ? "keras.constraints"
      : module;
    return {
      module: kind,
      class_name: value.class_name,
      config: toKeras3Value(value.config),
      registered_name: null,
    };
  }
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === "dtype" && typeof v === "string") {
      out.dtype = {
        module: "keras",
        class_name: "DTypePolicy",
        config: { name: v },
        registered_name: null,
      };
    } else if (k === "batch_input_shape") {
      out.batch_shape = v;
    } else {
      out[k] = toKeras3Value(v, k);
    }
  }
  return out;
}

/**
 * A Keras 2 form Sequential topology (as TensorFlow.js writes it) in Keras
 * 3's `config.json` form: an explicit `InputLayer` with `batch_shape`, each
 * layer as `{module, class_name, config, registered_name, build_config}`,
 * dtype policies and initializers as serialized objects.
 *
 * @throws {ModelFileError} for a model that is not Sequential.
 */
export function toKeras3Config(topology: Json, file: string): Json {
  if (topology.class_name !== "Sequential") {
    throw new ModelFileError(
      file,
      `only Sequential models can be written as .keras, not ${topology.class_name}`,
    );
  }
  const config = topology.config as Json;
  const layers = config.layers as Json[];
  const first = layers[0].config as Json;
  const inputShape = first.batch_input_shape as (number | null)[];
  const out: Json[] = [{
    module: "keras.layers",
    class_name: "InputLayer",
    config: {
      batch_shape: inputShape,
      dtype: "float32",
      sparse: false,
      name: "input_layer",
    },
    registered_name: null,
  }];
  for (const layer of layers) {
    const c = { ...(layer.config as Json) };
    delete c.batch_input_shape;
    out.push({
      module: "keras.layers",
      class_name: layer.class_name,
      config: toKeras3Value(c),
      registered_name: null,
    });
  }
  return {
    module: "keras",
    class_name: "Sequential",
    config: {
      name: config.name ?? "sequential",
      trainable: true,
      dtype: {
        module: "keras",
        class_name: "DTypePolicy",
        config: { name: "float32" },
        registered_name: null,
      },
      layers: out,
    },
    registered_name: null,
    build_config: { input_shape: inputShape },
    compile_config: null,
  };
}

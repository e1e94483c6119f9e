/**
 * Reads Keras models without Python: Keras 2.2–2.3 and `tf.keras` 2.x HDF5
 * (`.h5`), Keras 3's legacy HDF5, and Keras 3's `.keras` archive
 * (`config.json` + `model.weights.h5`), Sequential and functional, into
 * TensorFlow.js models.
 *
 * Layouts, as Keras writes them:
 * - Keras 2 HDF5 (keras 2.2.4 `engine/saving.py`, `save_model` and
 *   `save_weights_to_hdf5_group`; tf-keras `saving/legacy/hdf5_format.py`):
 *   root attribute `model_config` (JSON), group `model_weights` with attribute
 *   `layer_names`, one group per layer with attribute `weight_names` and the
 *   datasets those name (e.g. `conv2d_1/kernel:0`).
 * - Keras 3 legacy HDF5 (`keras/src/legacy/saving/legacy_h5_format.py`): the
 *   same groups, the config in Keras 3's form.
 * - Keras 3 `.keras` (`keras/src/saving/saving_lib.py`): a zip of
 *   `config.json`, `metadata.json` and `model.weights.h5`, whose variables
 *   sit at `layers/<snake_case class name>[_N]/vars/<i>`, numbered by class in
 *   layer order.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { unzipSync } from "fflate";
import { IMAGE_PIXELS, IMAGE_SIDE } from "../data.ts";
import { ModelFileError } from "../errors.ts";
import { checkLayers, type Json, toTfjsTopology } from "./config.ts";
import {
  checkConfigDepth,
  checkWeightShapes,
  declaredInputShapes,
} from "./shapes.ts";
import "./spatial_dropout.ts"; // registers the layer tfjs lacks
import {
  type H5Dataset,
  type H5File,
  type H5Group,
  hdf5Problem,
  type OpenH5,
  openH5,
  stringAttr,
  stringListAttr,
} from "./hdf5.ts";

/** The largest `.keras` member inflated (512 MiB), against zip bombs. */
export const MAX_MEMBER_BYTES = 512 * 1024 * 1024;

/** Input shapes (without the batch) that 28×28 pictures can be fed as. */
export const PICTURE_INPUTS: readonly number[][] = [
  [IMAGE_SIDE, IMAGE_SIDE, 1],
  [IMAGE_SIDE, IMAGE_SIDE],
  [IMAGE_PIXELS],
];

/** Keras's `naming.to_snake_case`, as `.keras` files name layers. */
export function snakeCase(name: string): string {
  return name.replace(/(.)([A-Z][a-z]+)/g, "$1_$2")
    .replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

/** A file's stored weights of one layer, by its name; undefined if none. */
type StoredWeights = (name: string) => H5Dataset[] | undefined;

/** Refuses an input shape that is not a 28×28 picture. */
function checkPictureInput(shape: unknown[], file: string): void {
  if (!PICTURE_INPUTS.some((s) => tf.util.arraysEqual(s, shape as number[]))) {
    throw new ModelFileError(
      file,
      `the model's input shape [${shape}] is not a 28×28 picture: ` +
        `expected one of ${PICTURE_INPUTS.map((s) => `[${s}]`).join(", ")}`,
    );
  }
}

/**
 * Builds the TensorFlow.js model a Keras model config describes, after
 * checking, before anything is allocated, its depth, its layers, its input
 * and each layer's weight shapes against the file's weights: those
 * `storedFor(layers)` gives, `layers` being the config's layer list (in
 * Keras 2 form). Returns the model and that function.
 */
async function buildFromConfig(
  modelConfig: Json,
  file: string,
  storedFor: (layers: Json[]) => StoredWeights,
): Promise<{ model: tf.LayersModel; stored: StoredWeights }> {
  checkConfigDepth(modelConfig, file);
  let topology: Json;
  try {
    topology = toTfjsTopology(modelConfig);
  } catch (error) {
    throw new ModelFileError(
      file,
      `the model config cannot be read: ${(error as Error).message}`,
    );
  }
  checkLayers(topology, file);
  const stored = storedFor(layerList(topology));
  for (const shape of declaredInputShapes(topology)) {
    checkPictureInput(shape, file);
  }
  checkWeightShapes(
    topology,
    file,
    (name) =>
      stored(name)?.map((d) => ({ path: d.path, shape: d.shape ?? [] })),
  );
  let model: tf.LayersModel;
  try {
    model = await tf.models.modelFromJSON({
      modelTopology: topology as tf.io.ModelArtifacts["modelTopology"] & object,
    } as unknown as tf.io.ModelJSON);
  } catch (error) {
    throw new ModelFileError(
      file,
      `the model config cannot be built: ${(error as Error).message}`,
    );
  }
  try {
    checkPictureInput(model.inputs[0].shape.slice(1), file);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return { model, stored };
}

/** Sets each layer's weights from `read`, checking count and shapes. */
function setWeights(
  model: tf.LayersModel,
  file: string,
  read: StoredWeights,
): void {
  model.layers.forEach((layer) => {
    if (layer.weights.length === 0) return;
    const datasets = read(layer.name);
    if (!datasets || datasets.length !== layer.weights.length) {
      throw new ModelFileError(
        file,
        `missing weights of layer "${layer.name}": expected ${layer.weights.length}, found ${
          datasets?.length ?? 0
        }`,
      );
    }
    const tensors = datasets.map((d, i) => {
      const want = layer.weights[i].shape as number[];
      const shape = d.shape ?? [];
      if (!tf.util.arraysEqual(shape, want)) {
        throw new ModelFileError(
          file,
          `weight ${d.path} of layer "${layer.name}" has shape [${shape}], the layer needs [${want}]`,
        );
      }
      const value = d.value;
      if (!(value instanceof Float32Array || value instanceof Float64Array)) {
        throw new ModelFileError(
          file,
          `weight ${d.path} is ${d.dtype}, not a float array`,
        );
      }
      return tf.tensor(Float32Array.from(value), shape, "float32");
    });
    layer.setWeights(tensors);
    tf.dispose(tensors);
  });
}

/** Reads a Keras 2 or Keras 3 legacy HDF5 model. */
async function readH5(path: string): Promise<tf.LayersModel> {
  const h5 = await openH5(path);
  try {
    return await readH5Model(h5.file, path);
  } catch (error) {
    if (error instanceof ModelFileError) throw error;
    throw new ModelFileError(path, hdf5Problem(error));
  } finally {
    h5.close();
  }
}

/** The model in an open Keras HDF5 file. */
async function readH5Model(
  file: H5File,
  path: string,
): Promise<tf.LayersModel> {
  {
    const config = stringAttr(file, "model_config");
    if (config === undefined) {
      throw new ModelFileError(
        path,
        "an HDF5 file without a model: no model_config attribute (a weights-only file?)",
      );
    }
    let parsed: Json;
    try {
      parsed = JSON.parse(config);
    } catch (error) {
      throw new ModelFileError(
        path,
        `model_config is not JSON: ${(error as Error).message}`,
      );
    }
    const weights = (file.get("model_weights") ?? file) as H5Group;
    const stored: StoredWeights = (layer) => {
      const group = weights.get(layer) as H5Group | null;
      if (!group) return undefined;
      return stringListAttr(group, "weight_names").map((name) => {
        const d = group.get(name) as H5Dataset | null;
        if (!d) {
          throw new ModelFileError(
            path,
            `layer "${layer}" names weight ${name}, which is missing`,
          );
        }
        return d;
      });
    };
    const { model } = await buildFromConfig(parsed, path, () => stored);
    keepClassNames(model, stringAttr(file, "class_names"));
    try {
      setWeights(model, path, stored);
    } catch (error) {
      model.dispose();
      throw error;
    }
    return model;
  }
}

/** Reads a Keras 3 `.keras` archive. */
async function readKerasArchive(path: string): Promise<tf.LayersModel> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new ModelFileError(
      path,
      error instanceof Deno.errors.NotFound
        ? "no such file"
        : `cannot be read: ${(error as Error).message}`,
    );
  }
  let members: Record<string, Uint8Array>;
  try {
    members = unzipSync(bytes, {
      filter(info) {
        if (info.originalSize > MAX_MEMBER_BYTES) {
          throw new ModelFileError(
            path,
            `member ${info.name} would inflate to ${info.originalSize} bytes (at most ${MAX_MEMBER_BYTES})`,
          );
        }
        return ["config.json", "model.weights.h5", "metadata.json"].includes(
          info.name,
        );
      },
    });
  } catch (error) {
    if (error instanceof ModelFileError) throw error;
    throw new ModelFileError(
      path,
      `not a .keras archive (a zip file): ${(error as Error).message}`,
    );
  }
  for (const member of ["config.json", "model.weights.h5"]) {
    if (!members[member]) {
      throw new ModelFileError(path, `the archive has no ${member}`);
    }
  }
  let config: Json;
  try {
    config = JSON.parse(new TextDecoder().decode(members["config.json"]));
  } catch (error) {
    throw new ModelFileError(
      path,
      `config.json is not JSON: ${(error as Error).message}`,
    );
  }
  let h5: OpenH5 | undefined;
  let model: tf.LayersModel | undefined;
  try {
    h5 = await openH5(
      members["model.weights.h5"],
      `${path}: model.weights.h5`,
    );
    const file = h5.file;
    // Variables sit under each layer's snake_case class name, numbered by
    // class in the config's layer order.
    const storedFor = (layers: Json[]): StoredWeights => {
      const counts = new Map<string, number>();
      const paths = new Map<string, string>();
      for (const layer of layers) {
        const base = snakeCase(String(layer.class_name));
        const n = counts.get(base) ?? 0;
        counts.set(base, n + 1);
        const name = String((layer.config as Json | undefined)?.name);
        paths.set(name, n === 0 ? base : `${base}_${n}`);
      }
      return (name) => {
        const at = paths.get(name);
        if (at === undefined) return undefined;
        const vars = (file.get(`layers/${at}/vars`) ??
          file.get(`_layer_checkpoint_dependencies/${at}/vars`)) as
            | H5Group
            | null;
        if (!vars) return undefined;
        return vars.keys().sort((a, b) => Number(a) - Number(b)).map((k) =>
          vars.get(k) as H5Dataset
        );
      };
    };
    const built = await buildFromConfig(config, path, storedFor);
    model = built.model;
    setWeights(model, path, built.stored);
    keepClassNames(model, classNamesIn(members["metadata.json"]));
    return model;
  } catch (error) {
    model?.dispose();
    if (error instanceof ModelFileError) throw error;
    throw new ModelFileError(path, `model.weights.h5: ${hdf5Problem(error)}`);
  } finally {
    h5?.close();
  }
}

/** The layer configs of a topology (Keras 2 form), in order. */
function layerList(topology: Json): Json[] {
  const config = topology.config as Json | Json[];
  const layers = Array.isArray(config) ? config : config.layers;
  return Array.isArray(layers) ? layers as Json[] : [];
}

/** The `class_names` of a `.keras` archive's `metadata.json`, as JSON. */
function classNamesIn(metadata: Uint8Array | undefined): string | undefined {
  if (!metadata) return undefined;
  try {
    const meta = JSON.parse(new TextDecoder().decode(metadata));
    return JSON.stringify(meta?.class_names ?? null);
  } catch {
    return undefined; // metadata.json is informative only
  }
}

/**
 * Records the class names a Keras file holds (JSON: one string per output of
 * the model) with the model; anything else is ignored.
 */
function keepClassNames(model: tf.LayersModel, json: string | undefined) {
  if (json === undefined || json.length > 1_000_000) return;
  let names: unknown;
  try {
    names = JSON.parse(json);
  } catch {
    return;
  }
  const outputs = model.outputs[0].shape.at(-1);
  if (
    Array.isArray(names) && names.length === outputs &&
    names.every((n) => typeof n === "string" && n.length <= 200)
  ) {
    model.setUserDefinedMetadata({ classNames: names });
  }
}

/** True when `path` names a Keras file (`.h5`, `.hdf5` or `.keras`). */
export function isKerasPath(path: string): boolean {
  return /\.(h5|hdf5|keras)$/i.test(path);
}

/**
 * Loads a Keras model file: `.h5`/`.hdf5` (Keras 2, tf.keras 2.x, Keras 3
 * legacy) or `.keras` (Keras 3). Optimizer state is not read; the model is
 * not compiled.
 *
 * @throws {ModelFileError} naming the file and the problem: not HDF5 or zip,
 * truncated, no model, an unsupported layer or option, a missing weight, a
 * weight of the wrong shape, an input that is not a 28×28 picture.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel } from "../model.ts";
 * import { loadKeras } from "./read.ts";
 * import { saveKeras } from "./write.ts";
 * const dir = await Deno.makeTempDir();
 * const path = `${dir}/mnist_cnn_model.h5`;
 * await saveKeras(buildModel({ seed: 1 }), path);
 * const model = await loadKeras(path);
 * assertEquals(model.layers.map((l) => l.getClassName()).at(-1), "Dense");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadKeras(path: string): Promise<tf.LayersModel> {
  return /\.keras$/i.test(path)
    ? await readKerasArchive(path)
    : await readH5(path);
}

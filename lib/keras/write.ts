/**
 * Writes models as Keras files, without Python: `.h5` in Keras 2's HDF5
 * layout to the letter (keras 2.2.4 `engine/saving.py`: root attributes
 * `keras_version`, `backend` and `model_config` as byte strings; group
 * `model_weights` with `layer_names`, one group per layer with
 * `weight_names` and datasets `<layer>/<weight>:0`), and `.keras` in Keras
 * 3's (`config.json`, `metadata.json`, `model.weights.h5` with
 * `layers/<snake_case class>[_N]/vars/<i>`). Optimizer state is left out of
 * both. Each file is written to a temporary name and renamed into place.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { zipSync } from "fflate";
import { ModelFileError } from "../errors.ts";
import { writeFileAtomic } from "../files.ts";
import { type Json, toKeras3Config } from "./config.ts";
import {
  buildH5,
  type H5Group,
  writeBytesAttr,
  writeBytesListAttr,
} from "./hdf5.ts";
import { snakeCase } from "./read.ts";

/** The Keras version Keras 2 HDF5 files are written as. */
export const KERAS2_VERSION = "2.2.4";
/** The Keras version `.keras` files are written as. */
export const KERAS3_VERSION = "3.6.0";

/** The model's topology in Keras 2's form, as TensorFlow.js keeps it. */
function topologyOf(model: tf.LayersModel): Json {
  const json = model.toJSON(null, false) as Json;
  return { class_name: json.class_name, config: json.config };
}

/**
 * The class names recorded with `model` (`classNames` in its user metadata),
 * written where Keras files have room for them: the `.h5` root attribute
 * `class_names` and the `.keras` archive's `metadata.json` key
 * `class_names` (Keras ignores both; `loadKeras` reads them back).
 */
function classNamesOf(model: tf.LayersModel): string[] | undefined {
  const names = (model.getUserDefinedMetadata() as
    | { classNames?: unknown }
    | undefined)?.classNames;
  return Array.isArray(names) && names.every((n) => typeof n === "string")
    ? names
    : undefined;
}

/** Writes each weight of `layer` as a float32 dataset in `group`. */
function writeLayerWeights(
  group: H5Group,
  layer: tf.layers.Layer,
  name: (weight: tf.LayerVariable, i: number) => string,
): string[] {
  const names: string[] = [];
  layer.weights.forEach((w, i) => {
    const key = name(w, i);
    names.push(key);
    // A name with a slash nests the dataset in groups, as h5py does.
    let parent = group;
    const parts = key.split("/");
    for (const part of parts.slice(0, -1)) {
      parent = (parent.get(part) as H5Group | null) ??
        parent.create_group(part);
    }
    parent.create_dataset({
      name: parts.at(-1)!,
      data: w.read().dataSync() as Float32Array,
      shape: w.shape as number[],
      dtype: "<f",
    });
  });
  return names;
}

/** Writes `bytes` to `path` atomically; a failure is a {@linkcode ModelFileError}. */
async function atomically(path: string, bytes: Uint8Array): Promise<void> {
  try {
    await writeFileAtomic(path, bytes);
  } catch (error) {
    throw new ModelFileError(
      path,
      `could not write the model: ${(error as Error).message}`,
    );
  }
}

/** Writes `model` as a Keras 2 HDF5 file. */
async function writeH5(model: tf.LayersModel, path: string): Promise<void> {
  const bytes = await buildH5((file) => {
    writeBytesAttr(file, "keras_version", KERAS2_VERSION);
    writeBytesAttr(file, "backend", "tensorflow");
    writeBytesAttr(file, "model_config", JSON.stringify(topologyOf(model)));
    const classNames = classNamesOf(model);
    if (classNames) {
      writeBytesAttr(file, "class_names", JSON.stringify(classNames));
    }
    const weights = file.create_group("model_weights");
    writeBytesListAttr(weights, "layer_names", model.layers.map((l) => l.name));
    writeBytesAttr(weights, "backend", "tensorflow");
    writeBytesAttr(weights, "keras_version", KERAS2_VERSION);
    for (const layer of model.layers) {
      const group = weights.create_group(layer.name);
      const names = writeLayerWeights(group, layer, (w) => {
        const base = w.originalName ?? w.name;
        return `${base.includes("/") ? base : `${layer.name}/${base}`}:0`;
      });
      writeBytesListAttr(group, "weight_names", names);
    }
  });
  await atomically(path, bytes);
}

/** Writes `model` as a Keras 3 `.keras` archive. */
async function writeKerasArchive(
  model: tf.LayersModel,
  path: string,
): Promise<void> {
  const config = toKeras3Config(topologyOf(model), path);
  const weights = await buildH5((file) => {
    const layers = file.create_group("layers");
    const counts = new Map<string, number>();
    for (const layer of model.layers) {
      const base = snakeCase(layer.getClassName());
      const n = counts.get(base) ?? 0;
      counts.set(base, n + 1);
      const vars = layers.create_group(n === 0 ? base : `${base}_${n}`)
        .create_group("vars");
      writeLayerWeights(vars, layer, (_w, i) => String(i));
    }
    file.create_group("optimizer").create_group("vars");
    file.create_group("vars");
  });
  const zip = zipSync({
    "metadata.json": new TextEncoder().encode(JSON.stringify({
      keras_version: KERAS3_VERSION,
      date_saved: new Date().toISOString().slice(0, 19).replace("T", "@"),
      class_names: classNamesOf(model),
    })),
    "config.json": new TextEncoder().encode(JSON.stringify(config)),
    "model.weights.h5": weights,
  });
  await atomically(path, zip);
}

/**
 * Saves `model` as a Keras file, the layout chosen by the extension: `.h5`
 * or `.hdf5` (Keras 2 HDF5, read by `keras.models.load_model` in Keras 2 and
 * 3) or `.keras` (Keras 3). Optimizer state is not written.
 *
 * @throws {ModelFileError} for another extension, a model `.keras` cannot
 * hold, or a file that cannot be written (nothing half-written is left).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel } from "../model.ts";
 * import { saveKeras } from "./write.ts";
 * const dir = await Deno.makeTempDir();
 * await saveKeras(buildModel(), `${dir}/mnist_cnn.h5`);
 * const bytes = await Deno.readFile(`${dir}/mnist_cnn.h5`);
 * assertEquals(bytes.subarray(1, 4), new TextEncoder().encode("HDF"));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function saveKeras(
  model: tf.LayersModel,
  path: string,
): Promise<void> {
  if (/\.(h5|hdf5)$/i.test(path)) return await writeH5(model, path);
  if (/\.keras$/i.test(path)) return await writeKerasArchive(model, path);
  throw new ModelFileError(path, "a Keras file ends in .h5, .hdf5 or .keras");
}

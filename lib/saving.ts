/**
 * Saving and loading models in the standard TensorFlow.js Layers format
 * (`model.json` + `weights.bin`, optimizer state included, as Keras's
 * `model.save` keeps it) with Deno's file APIs. Saving is atomic: the new
 * model is written and flushed in a sibling directory that then replaces the
 * old one, so a crash or a full disk mid-save leaves the previous model whole.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ModelFileError } from "./errors.ts";
import { isKerasPath, loadKeras } from "./keras/mod.ts";
import { compileModel } from "./model.ts";

/** Where the tutorial's model is saved: `models/mnist_cnn/` in the repository. */
export const DEFAULT_MODEL_DIR: string = fileURLToPath(
  new URL("../models/mnist_cnn", import.meta.url),
);

const MODEL_JSON = "model.json";
const WEIGHTS_BIN = "weights.bin";

/** Options of {@linkcode saveModel}. */
export interface SaveOptions {
  /**
   * JSON-able data stored in `model.json` (`userDefinedMetadata`), merged
   * over what the model holds already (its class names, say: see
   * `lib/model_info.ts`).
   */
  metadata?: Record<string, unknown>;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function writeDurable(path: string, bytes: Uint8Array): Promise<void> {
  using file = await Deno.open(path, { write: true, createNew: true });
  for (let done = 0; done < bytes.length;) {
    done += await file.write(bytes.subarray(done));
  }
  await file.sync();
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Saves `model` with its optimizer state to `dir` (default
 * {@linkcode DEFAULT_MODEL_DIR}) and returns the directory. Any previous model
 * there is replaced only once the new one is completely on disk.
 *
 * @throws {ModelFileError} when the directory cannot be written (the previous
 * model, if any, is left as it was).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, initBackend, loadModel, saveModel } from "./mod.ts";
 * await initBackend();
 * const dir = await Deno.makeTempDir();
 * const saved = await saveModel(buildModel({ seed: 1 }), `${dir}/example`);
 * assertEquals((await loadModel(saved)).countParams(), 1199882);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function saveModel(
  model: tf.LayersModel,
  dir: string = DEFAULT_MODEL_DIR,
  options: SaveOptions = {},
): Promise<string> {
  // tfjs accepts plain JSON only: drop `undefined` fields and the like.
  if (options.metadata) {
    model.setUserDefinedMetadata(JSON.parse(JSON.stringify({
      ...(model.getUserDefinedMetadata() ?? {}),
      ...options.metadata,
    })));
  }
  const staging = `${dir}.saving-${Deno.pid}`;
  const previous = `${dir}.previous`;
  try {
    await Deno.mkdir(dirname(dir), { recursive: true });
    await Deno.remove(staging, { recursive: true }).catch(() => {});
    await Deno.mkdir(staging);
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        const weights = new Uint8Array(
          tf.io.CompositeArrayBuffer.join(artifacts.weightData!),
        );
        const json = {
          format: artifacts.format,
          generatedBy: artifacts.generatedBy,
          convertedBy: artifacts.convertedBy,
          modelTopology: artifacts.modelTopology,
          trainingConfig: artifacts.trainingConfig,
          userDefinedMetadata: artifacts.userDefinedMetadata,
          weightsManifest: [{
            paths: [`./${WEIGHTS_BIN}`],
            weights: artifacts.weightSpecs,
          }],
        };
        await writeDurable(join(staging, WEIGHTS_BIN), weights);
        await writeDurable(
          join(staging, MODEL_JSON),
          new TextEncoder().encode(JSON.stringify(json)),
        );
        return {
          modelArtifactsInfo: {
            dateSaved: new Date(),
            modelTopologyType: "JSON",
          },
        };
      }),
      { includeOptimizer: true },
    );
  } catch (cause) {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
    throw new ModelFileError(
      dir,
      `could not save the model: ${describe(cause)}`,
      { cause },
    );
  }
  // Swap: the previous model stays under `<dir>.previous` until the new one
  // is in place; loadModel falls back to it if a crash hits between renames.
  try {
    if (await exists(dir)) {
      await Deno.remove(previous, { recursive: true }).catch(() => {});
      await Deno.rename(dir, previous);
    }
    await Deno.rename(staging, dir);
  } catch (cause) {
    if (!(await exists(dir)) && (await exists(previous))) {
      await Deno.rename(previous, dir);
    }
    await Deno.remove(staging, { recursive: true }).catch(() => {});
    throw new ModelFileError(
      dir,
      `could not save the model: ${describe(cause)}`,
      { cause },
    );
  }
  await Deno.remove(previous, { recursive: true }).catch(() => {});
  return dir;
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

async function readModelJson(path: string): Promise<tf.io.ModelJSON> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (cause) {
    const dir = dirname(path);
    if (!(await exists(dir))) {
      throw new ModelFileError(
        dir,
        "no saved model here: train one first with `deno task train` (or notebooks/mnist_cnn.ipynb)",
        {
          cause,
        },
      );
    }
    throw new ModelFileError(
      path,
      `cannot read the model: ${describe(cause)}`,
      { cause },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ModelFileError(path, `not valid JSON (${describe(cause)})`, {
      cause,
    });
  }
  const model = json as Partial<tf.io.ModelJSON> | null;
  if (
    typeof model !== "object" || model === null ||
    model.format !== "layers-model" ||
    typeof model.modelTopology !== "object" || model.modelTopology === null
  ) {
    throw new ModelFileError(
      path,
      "not a TensorFlow.js Layers model (format 'layers-model')",
    );
  }
  const manifest = model.weightsManifest;
  if (
    !Array.isArray(manifest) ||
    !manifest.every((g) =>
      Array.isArray(g?.paths) && g.paths.every((p: unknown) =>
        typeof p === "string"
      ) &&
      Array.isArray(g?.weights)
    )
  ) {
    throw new ModelFileError(
      path,
      "its weightsManifest is missing or malformed",
    );
  }
  for (const group of manifest) {
    for (const spec of group.weights) {
      if (
        typeof spec?.name !== "string" || !Array.isArray(spec.shape) ||
        !spec.shape.every((d: unknown) =>
          Number.isInteger(d) && (d as number) >= 0
        ) ||
        !Object.hasOwn(DTYPE_BYTES, spec.dtype) || spec.quantization
      ) {
        throw new ModelFileError(
          path,
          `malformed weight entry ${JSON.stringify(spec)}`,
        );
      }
    }
  }
  return model as tf.io.ModelJSON;
}

/**
 * Loads a model saved by {@linkcode saveModel} (or any tfjs Layers model with
 * float32 weights) from `dir`, optimizer state included, checking every file
 * first so a missing or corrupt model gives a {@linkcode ModelFileError}
 * naming the file and the problem. A path ending in `.h5`, `.hdf5` or
 * `.keras` is read as a Keras model file (without optimizer state), compiled
 * as the tutorial's model.
 *
 * @example
 * ```ts ignore
 * // ignored: needs a trained model in models/mnist_cnn (deno task train)
 * import { assertEquals } from "@std/assert";
 * import { loadModel } from "./saving.ts";
 * const model = await loadModel(); // models/mnist_cnn
 * assertEquals(model.countParams(), 1199882);
 * ```
 */
export async function loadModel(
  dir: string = DEFAULT_MODEL_DIR,
): Promise<tf.LayersModel> {
  if (isKerasPath(dir)) {
    const model = await loadKeras(dir);
    compileModel(model);
    return model;
  }
  if (!(await exists(dir)) && (await exists(`${dir}.previous`))) {
    // A save was interrupted between its two renames: the previous model is whole.
    await Deno.rename(`${dir}.previous`, dir);
  }
  const jsonPath = join(dir, MODEL_JSON);
  const json = await readModelJson(jsonPath);
  const parts: Uint8Array[] = [];
  for (const group of json.weightsManifest) {
    const expected = group.weights.reduce(
      (sum, w) =>
        sum + w.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[w.dtype],
      0,
    );
    let actual = 0;
    for (const rel of group.paths) {
      const path = join(dir, rel);
      try {
        const bytes = await Deno.readFile(path);
        parts.push(bytes);
        actual += bytes.length;
      } catch (cause) {
        throw new ModelFileError(
          path,
          `weights file missing or unreadable (${describe(cause)})`,
          {
            cause,
          },
        );
      }
    }
    if (actual !== expected) {
      const path = join(dir, group.paths.join(", "));
      throw new ModelFileError(
        path,
        `${
          actual < expected ? "shorter" : "longer"
        } than its manifest in ${MODEL_JSON}: ` +
          `expected ${expected} bytes, found ${actual}`,
      );
    }
  }
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((offset, p) => (data.set(p, offset), offset + p.length), 0);
  const artifacts = tf.io.getModelArtifactsForJSONSync(
    json,
    specs,
    data.buffer,
  );
  return await layersModelFrom(artifacts, specs, data, jsonPath);
}

/**
 * `tf.loadLayersModel` of `artifacts`, except that a failure leaves no
 * tensor behind: tfjs decodes the weights and builds the layers, then leaks
 * both when the weights do not fit (a renamed or reshaped weight). Here the
 * model is built without its weights, the weights are decoded under
 * `tf.tidy` and set by this function, and on any failure the decoded
 * tensors and every variable made since the start are disposed.
 */
async function layersModelFrom(
  artifacts: tf.io.ModelArtifacts,
  specs: tf.io.WeightsManifestEntry[],
  data: Uint8Array,
  jsonPath: string,
): Promise<tf.LayersModel> {
  const variablesBefore = new Set(Object.keys(tf.engine().registeredVariables));
  let decoded: tf.NamedTensorMap = {};
  try {
    decoded = tf.tidy(() =>
      tf.io.decodeWeights(data.buffer as ArrayBuffer, specs)
    );
    const modelWeights: tf.NamedTensorMap = {};
    const optimizerWeights: { name: string; tensor: tf.Tensor }[] = [];
    for (const spec of specs) {
      const tensor = decoded[spec.name];
      if (spec.group === "optimizer") {
        optimizerWeights.push({ name: spec.name, tensor });
      } else modelWeights[spec.name] = tensor;
    }
    const { weightData: _, weightSpecs: __, ...withoutWeights } = artifacts;
    const model = await tf.loadLayersModel(tf.io.fromMemory(withoutWeights));
    model.loadWeights(modelWeights, true);
    if (model.optimizer && optimizerWeights.length > 0) {
      await model.optimizer.setWeights(optimizerWeights);
    }
    return model;
  } catch (cause) {
    // Free the weights of the layers built before the failure.
    for (
      const [name, variable] of Object.entries(tf.engine().registeredVariables)
    ) {
      if (!variablesBefore.has(name)) variable.dispose();
    }
    throw new ModelFileError(
      jsonPath,
      `does not describe a model its weights fit: ${describe(cause)}`,
      { cause },
    );
  } finally {
    // The layers' variables hold their own references to the data.
    tf.dispose(Object.values(decoded));
  }
}

/** Reads the `userDefinedMetadata` saved with the model in `dir`, if any. */
export async function readMetadata(
  dir: string = DEFAULT_MODEL_DIR,
): Promise<Record<string, unknown> | undefined> {
  const json = await readModelJson(join(dir, MODEL_JSON));
  return json.userDefinedMetadata as Record<string, unknown> | undefined;
}

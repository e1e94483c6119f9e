/**
 * `deno task train`: the whole tutorial headlessly, as `mnist_cnn.py` prints
 * it: load MNIST (or `--dataset`), build the CNN, train, save, reload, predict
 * the first ten.
 *
 * @module
 */
// The tutorial's steps only (not lib/mod.ts, whose charts and image codecs
// this task does not use): a smaller, faster start.
import { gpuAdapterName, initBackend } from "../lib/backend.ts";
import { MnistCnnError } from "../lib/errors.ts";
import { formatSummary } from "../lib/model.ts";
import { openRun, trainRun } from "../lib/checkpoint/mod.ts";
import { loadModel } from "../lib/saving.ts";
import { predictClasses } from "../lib/predict.ts";
import { type AugmentOptions, DEFAULT_AUGMENT } from "../lib/engine/augment.ts";
import {
  BACKEND_FLAG,
  backendName,
  MODEL_DIR_FLAG,
  modelDir,
  parseFlags,
  runTask,
  usage,
} from "./flags.ts";

/**
 * The flags of `deno task train`, as `parseFlags` reads them.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseFlags } from "./flags.ts";
 * import { SPEC } from "./train.ts";
 * assertEquals(parseFlags(["--help"], SPEC), "help");
 * ```
 */
export const SPEC = {
  epochs: { type: "int", min: 1, default: 1, help: "epochs to train" },
  "batch-size": {
    type: "int",
    min: 1,
    default: 128,
    help: "samples per gradient step",
  },
  limit: {
    type: "int",
    min: 1,
    max: 60000,
    help: "train on the first N samples only",
  },
  seed: {
    type: "int",
    min: 0,
    max: 2 ** 31 - 1,
    help: "seed of weights, data order, dropout",
  },
  "model-dir": { ...MODEL_DIR_FLAG, help: "where to save the model" },
  threads: {
    type: "int",
    min: 1,
    max: 256,
    help: "threads to train on (default: every core)",
  },
  resume: {
    type: "boolean",
    help: "continue the run checkpointed in --model-dir",
  },
  backend: BACKEND_FLAG,
  augment: {
    type: "boolean",
    help: "random rotation (±10°), shift and zoom (±10%) of training pictures",
  },
  rotation: {
    type: "number",
    min: 0,
    max: 180,
    help: "random rotation of ±X degrees (Keras RandomRotation(X / 360))",
  },
  translation: {
    type: "number",
    min: 0,
    max: 0.9,
    help: "random shift of ±X of the height and width (RandomTranslation)",
  },
  zoom: {
    type: "number",
    min: 0,
    max: 0.9,
    help: "random zoom by a factor in [1 - X, 1 + X] (RandomZoom)",
  },
  dataset: {
    type: "string",
    default: "mnist",
    help: "mnist, fashion_mnist, or a folder with one sub-folder per class",
  },
  preprocessing: {
    type: "string",
    default: "grey",
    help: "a folder's pictures: grey (a resize) or mnist (as digits)",
  },
} as const;
/**
 * What `deno task train --help` prints.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { USAGE } from "./train.ts";
 * assert(USAGE.startsWith("Usage: deno task train [flags]"));
 * ```
 */
export const USAGE = usage(
  "train",
  "Trains the Keras MNIST CNN on the WASM backend, saves it, reloads it and\npredicts the first ten training digits.",
  SPEC,
);

async function main(): Promise<void> {
  const flags = parseFlags(Deno.args, SPEC);
  if (flags === "help") return console.log(USAGE);
  const dir = modelDir(flags["model-dir"]);
  const backend = backendName(flags.backend);
  await initBackend(backend);
  if (backend === "webgpu") console.log(`WebGPU adapter: ${gpuAdapterName()}`);
  const run = await inFlags(openRun(dir, {
    epochs: flags.epochs,
    batchSize: flags["batch-size"],
    limit: flags.limit,
    seed: flags.seed,
    augment: augmentFlags(flags),
    resume: flags.resume,
    dataset: flags.dataset,
    preprocessing: flags.preprocessing,
  }));
  const { model, state } = run;
  if (run.resumed) {
    console.log(
      `Resuming ${dir} after epoch ${state.epochsDone} of ${state.epochs} (seed ${state.seed})`,
    );
  }

  // The run's data set (the checkpoint's on --resume), opened by openRun.
  // With --limit, the samples trained on: the shape and the count agree.
  const mnist = run.data;
  const samples = Math.min(state.limit ?? Infinity, mnist.train.count);
  console.log(`x_train shape: (${samples}, 28, 28, 1)`);
  console.log(`${samples} train samples`);
  console.log(`${mnist.test.count} test samples`);
  // A folder's data set says how its pictures look (DirectoryDataset).
  const hint = datasetHint(mnist as { drawnOnPaper?: boolean });
  if (hint) console.log(hint);
  console.log(formatSummary(model));

  // A checkpoint after each epoch; Ctrl-C stops between two steps (exit 130).
  const result = await inFlags(
    trainRun(run, { threads: flags.threads, ctrlC: true }),
  );
  console.log(`Test loss: ${result.test.loss.toFixed(4)}`);
  console.log(`Test accuracy: ${result.test.acc.toFixed(4)}`);
  console.log(`Saved trained model at ${dir}`);
  const seconds = result.history.map((h) => h.seconds.toFixed(1));
  console.log(`Epoch time: ${seconds.join(", ")} s`);

  const reloaded = await loadModel(dir);
  const predicted = await predictClasses(reloaded, mnist.train, {
    count: Math.min(10, mnist.train.count),
  });
  console.log(
    `Reloaded ${dir}; predicted classes of the first ten training ${
      state.dataset === "mnist" ? "digits" : "pictures"
    }:`,
  );
  const names = predicted.map((c) => mnist.classNames[c]);
  console.log(names.join(names.some((n) => n.length > 1) ? ", " : " "));
}

/**
 * A hint about the data set, if any: a folder of drawings on paper read
 * with the default grey resize, which `--preprocessing mnist` reads far
 * better.
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { datasetHint } from "./train.ts";
 * assert(datasetHint({ drawnOnPaper: true })?.includes("--preprocessing mnist"));
 * assertEquals(datasetHint({ drawnOnPaper: false }), undefined);
 * assertEquals(datasetHint({}), undefined); // MNIST, Fashion-MNIST
 * ```
 */
export function datasetHint(
  data: { drawnOnPaper?: boolean },
): string | undefined {
  if (!data.drawnOnPaper) return undefined;
  return "hint: these pictures look like drawings on paper (dark strokes on " +
    "light paper); --preprocessing mnist (white strokes on black, cropped " +
    "and centred, as MNIST's) usually reads them far better than the grey " +
    "resize";
}

/**
 * `openRun`'s and `trainRun`'s errors name their options in backticks
 * (`` `seed` ``, `` `resume` ``); here they name the flags (`--seed`).
 */
async function inFlags<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (e) {
    if (e instanceof MnistCnnError) {
      e.message = e.message.replace(
        /`([a-z][A-Za-z]*)`/g,
        (_, option: string) =>
          `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
      );
      e.stack = `${e.name}: ${e.message}`;
    }
    throw e;
  }
}

/**
 * `--augment` (Keras's usual factors) and `--rotation`, `--translation`,
 * `--zoom`, each one layer's factor: as in Keras, a layer not asked for is
 * not there, unless `--augment` brings the usual one.
 */
function augmentFlags(
  flags: {
    augment: boolean;
    rotation?: number;
    translation?: number;
    zoom?: number;
  },
): boolean | AugmentOptions {
  const { rotation, translation, zoom } = flags;
  if ([rotation, translation, zoom].every((f) => f === undefined)) {
    return flags.augment;
  }
  const base = flags.augment
    ? DEFAULT_AUGMENT
    : { rotation: 0, translation: 0, zoom: 0 };
  return {
    rotation: rotation === undefined ? base.rotation : rotation / 360,
    translation: translation ?? base.translation,
    zoom: zoom ?? base.zoom,
  };
}

if (import.meta.main) await runTask(main, USAGE);

/**
 * `deno task predict`: reload the saved model and predict, like the
 * tutorial's `mnist_cnn_predict.py`: MNIST training digits (by default the
 * first ten), or your own pictures with `--image PATH` (a file or a
 * directory; repeatable), preprocessed as MNIST was made.
 *
 * @module
 */
import {
  classNamesOf,
  initBackend,
  listImages,
  loadModel,
  pictureToInput,
  predictInputs,
  type Prediction,
  predictProbabilities,
  preprocessingOf,
  readImage,
} from "../lib/mod.ts";
import { shadeText } from "../lib/image/mod.ts";
import { isKerasPath } from "../lib/keras/mod.ts";
import { readMetadata } from "../lib/saving.ts";
import { openDataset } from "../lib/datasets/mod.ts";
import {
  BACKEND_FLAG,
  backendName,
  MODEL_DIR_FLAG,
  modelDir,
  parseFlags,
  runTask,
  usage,
} from "./flags.ts";
import { UsageError } from "../lib/errors.ts";
import { IMAGE_EXTENSIONS } from "../lib/image/decode.ts";

/**
 * The flags of `deno task predict`, as `parseFlags` reads them.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseFlags } from "./flags.ts";
 * import { SPEC } from "./predict.ts";
 * assertEquals(parseFlags(["--help"], SPEC), "help");
 * ```
 */
export const SPEC = {
  model: {
    type: "string",
    help: "the model: a TF.js directory, a Keras .h5/.hdf5 or .keras file",
  },
  "model-dir": {
    ...MODEL_DIR_FLAG,
    help: "the saved model (a synonym of --model)",
  },
  image: {
    type: "strings",
    help: `a ${
      IMAGE_EXTENSIONS.join("/")
    } picture or a directory of them (repeatable)`,
  },
  show: {
    type: "boolean",
    help: "with --image: also print the 28x28 the model sees",
  },
  json: {
    type: "boolean",
    help: "print one JSON object on one line",
  },
  start: {
    type: "int",
    min: 0,
    max: 59999,
    default: 0,
    help: "first training sample",
  },
  count: {
    type: "int",
    min: 1,
    max: 60000,
    default: 10,
    help: "samples to predict",
  },
  backend: BACKEND_FLAG,
} as const;
/**
 * What `deno task predict --help` prints.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { USAGE } from "./predict.ts";
 * assert(USAGE.startsWith("Usage: deno task predict [flags]"));
 * ```
 */
export const USAGE = usage(
  "predict",
  "Reloads the saved model and predicts training digits, or your pictures with --image.",
  SPEC,
);

/**
 * `7 (p=0.98; then 1 0.01, 9 0.00)`: the class and the next two, by name
 * (`classNames`, the digits by default).
 */
export function describePrediction(
  probabilities: number[],
  classNames: readonly string[] = probabilities.map((_, i) => String(i)),
): string {
  const ranked = probabilities.map((p, c) => ({ p, name: classNames[c] }))
    .sort((a, b) => b.p - a.p);
  const [best, ...next] = ranked;
  return `${best.name} (p=${best.p.toFixed(2)}; then ${
    next.slice(0, 2).map((r) => `${r.name} ${r.p.toFixed(2)}`).join(", ")
  })`;
}

/** Probabilities rounded for JSON: 6 decimals are plenty. */
const rounded = (prediction: Prediction) =>
  prediction.probabilities.map((row) => row.map((p) => Number(p.toFixed(6))));

async function main(): Promise<void> {
  const flags = parseFlags(Deno.args, SPEC);
  if (flags === "help") return console.log(USAGE);
  const images = flags.image;
  if (images.length === 0 && flags.show) {
    throw new UsageError("--show needs --image");
  }
  if (flags.start! + flags.count! > 60000) {
    throw new UsageError(
      `--start ${flags.start} + --count ${flags.count} runs past the 60000 training samples`,
    );
  }
  const dir = flags.model ??
    modelDir(flags["model-dir"]);
  await initBackend(backendName(flags.backend));
  if (images.length > 0) {
    const files = await listImages(images);
    const model = await loadModel(dir);
    const classNames = classNamesOf(model);
    // As the model's pictures were made: the digit preprocessing or a resize.
    const preprocessing = preprocessingOf(model);
    const inputs: Float32Array[] = [];
    for (const file of files) {
      const bytes = pictureToInput(await readImage(file), preprocessing, file);
      inputs.push(Float32Array.from(bytes, (v) => v / 255));
    }
    const prediction = await predictInputs(model, inputs);
    if (flags.json) {
      return console.log(JSON.stringify({
        images: files,
        classes: prediction.classes,
        classNames,
        probabilities: rounded(prediction),
      }));
    }
    for (const [i, file] of files.entries()) {
      console.log(
        `${file}: ${
          describePrediction(prediction.probabilities[i], classNames)
        }`,
      );
      if (flags.show) console.log(shadeText(inputs[i]));
    }
    return;
  }
  const model = await loadModel(dir);
  const classNames = classNamesOf(model);
  // The training pictures of the data set the model was trained on.
  const run = isKerasPath(dir)
    ? undefined
    : (await readMetadata(dir))?.run as { dataset?: string } | undefined;
  const mnist = await openDataset(run?.dataset ?? "mnist", {
    preprocessing: preprocessingOf(model),
  });
  const prediction = await predictProbabilities(model, mnist.train, {
    start: flags.start,
    count: flags.count,
  });
  const labels = Array.from(
    mnist.train.labels.subarray(flags.start!, flags.start! + flags.count!),
  );
  if (flags.json) {
    return console.log(JSON.stringify({
      start: flags.start,
      labels,
      classes: prediction.classes,
      classNames,
      probabilities: rounded(prediction),
    }));
  }
  const named = (classes: number[]) => {
    const names = classes.map((c) => classNames[c] ?? String(c));
    return names.join(names.some((n) => n.length > 1) ? ", " : " ");
  };
  console.log(`Predicted: ${named(prediction.classes)}`);
  console.log(`Labels:    ${named(labels)}`);
}

if (import.meta.main) await runTask(main, USAGE);

/**
 * `deno task train`: the whole tutorial headlessly, as `mnist_cnn.py` prints
 * it: load MNIST, build the CNN, train, save, reload, predict the first ten.
 *
 * @module
 */
// The tutorial's steps only (not lib/mod.ts, whose charts and image codecs
// this task does not use): a smaller, faster start.
import { initBackend } from "../lib/backend.ts";
import { openDataset } from "../lib/datasets/mod.ts";
import { buildModel, formatSummary } from "../lib/model.ts";
import { train } from "../lib/training.ts";
import { loadModel, readMetadata, saveModel } from "../lib/saving.ts";
import { predictClasses } from "../lib/predict.ts";
import { TrainingError, UsageError } from "../lib/errors.ts";
import {
  type History,
  readHistory,
  saveHistory,
} from "../lib/charts/history.ts";
import {
  MODEL_DIR_FLAG,
  modelDir,
  parseFlags,
  runTask,
  usage,
} from "./flags.ts";
import { peakRss } from "../lib/engine/memory.ts";
import { randomSeed } from "../lib/engine/random.ts";
import type * as tf from "@tensorflow/tfjs";

const SPEC = {
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
const USAGE = usage(
  "train",
  "Trains the Keras MNIST CNN on the WASM backend, saves it, reloads it and\npredicts the first ten training digits.",
  SPEC,
);

/** Training state kept in the checkpoint's model.json, for `--resume`. */
interface RunState {
  epochsDone: number;
  epochs: number;
  seed: number;
  batchSize: number;
  limit?: number;
  dataset?: string;
  preprocessing?: string;
}

async function main(): Promise<void> {
  const flags = parseFlags(Deno.args, SPEC);
  if (flags === "help") return console.log(USAGE);
  const dir = modelDir(flags["model-dir"]);

  let run: RunState = {
    epochsDone: 0,
    epochs: flags.epochs!,
    seed: flags.seed ?? randomSeed(),
    batchSize: flags["batch-size"]!,
    limit: flags.limit,
    dataset: flags.dataset,
    preprocessing: flags.preprocessing,
  };
  if (run.preprocessing !== "grey" && run.preprocessing !== "mnist") {
    throw new UsageError(
      `--preprocessing must be grey or mnist, got '${run.preprocessing}'`,
    );
  }
  let model: tf.LayersModel | undefined;
  await initBackend();
  if (flags.resume) {
    const saved = (await readMetadata(dir))?.run as RunState | undefined;
    if (!saved) {
      throw new UsageError(`--resume: ${dir} holds no checkpoint of a run`);
    }
    if (flags.seed !== undefined && flags.seed !== saved.seed) {
      throw new UsageError(
        `--resume: the checkpoint was trained with --seed ${saved.seed}`,
      );
    }
    run = {
      dataset: "mnist",
      ...saved,
      epochs: Math.max(flags.epochs!, saved.epochs),
    };
    if (run.epochsDone >= run.epochs) {
      throw new UsageError(
        `--resume: the checkpoint already finished ${run.epochsDone} epoch(s); ask for more with --epochs`,
      );
    }
    model = await loadModel(dir);
    console.log(
      `Resuming ${dir} after epoch ${run.epochsDone} of ${run.epochs} (seed ${run.seed})`,
    );
  }
  const mnist = await openDataset(run.dataset ?? "mnist", {
    preprocessing: run.preprocessing === "mnist" ? "mnist" : "grey",
  });
  model ??= buildModel({
    seed: run.seed,
    numClasses: mnist.classNames.length,
  });
  console.log(`x_train shape: (${mnist.train.count}, 28, 28, 1)`);
  console.log(`${run.limit ?? mnist.train.count} train samples`);
  console.log(`${mnist.test.count} test samples`);
  console.log(formatSummary(model));

  // The run's history, saved next to the model at each checkpoint.
  const previous = flags.resume
    ? await readHistory(dir)
    : { epochs: [], steps: [] };
  const history: History = {
    epochs: previous.epochs.filter((e) => e.epoch < run.epochsDone),
    steps: previous.steps.filter((s) => s.epoch < run.epochsDone),
  };

  const controller = new AbortController();
  const onSigint = () => controller.abort();
  Deno.addSignalListener("SIGINT", onSigint);
  let result;
  try {
    result = await train(model, mnist, {
      epochs: run.epochs,
      initialEpoch: run.epochsDone,
      batchSize: run.batchSize,
      limit: run.limit,
      seed: run.seed,
      threads: flags.threads,
      signal: controller.signal,
      onStep: (log) => history.steps.push(log),
      onEpochEnd: async (log) => {
        run = { ...run, epochsDone: log.epoch + 1 };
        const { epoch, loss, acc, val_loss, val_acc } = log;
        history.epochs.push({ epoch, loss, acc, val_loss, val_acc });
        await saveModel(model, dir, { metadata: { run } });
        await saveHistory(dir, history);
        console.log(`Checkpoint: epoch ${log.epoch + 1} saved at ${dir}`);
      },
    });
  } catch (e) {
    if (e instanceof TrainingError) {
      const kept = run.epochsDone > 0
        ? `the checkpoint of epoch ${run.epochsDone} at ${dir} is intact (continue with --resume)`
        : `nothing was saved; any previous model at ${dir} is unchanged`;
      console.error(`\n${e.message}\n${kept}`);
      Deno.exit(controller.signal.aborted ? 130 : 1);
    }
    throw e;
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
  }
  console.log(`Test loss: ${result.test.loss.toFixed(4)}`);
  console.log(`Test accuracy: ${result.test.acc.toFixed(4)}`);
  console.log(`Saved trained model at ${dir}`);
  const epochSeconds = result.history.map((h) => h.seconds.toFixed(1)).join(
    ", ",
  );
  console.log(`Epoch time: ${epochSeconds} s`);

  const reloaded = await loadModel(dir);
  const predicted = predictClasses(reloaded, mnist.train, {
    start: 0,
    count: Math.min(10, mnist.train.count),
  });
  // Measured here, after everything but printing: every thread, all along.
  console.log(`Peak memory (max RSS): ${(peakRss() / 2 ** 20).toFixed(0)} MiB`);
  console.log(
    `Reloaded ${dir}; predicted classes of the first ten training ${
      run.dataset === "mnist" ? "digits" : "pictures"
    }:`,
  );
  const names = predicted.map((c) => mnist.classNames[c]);
  console.log(names.join(names.some((n) => n.length > 1) ? ", " : " "));
}

if (import.meta.main) await runTask(main, USAGE);

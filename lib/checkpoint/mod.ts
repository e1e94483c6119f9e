/**
 * Checkpointed training runs, as Keras's `BackupAndRestore` and
 * `ModelCheckpoint` callbacks keep them: after each epoch the model (with
 * its optimizer state), the run's settings and its history (`history.ts`)
 * are saved atomically in one directory, and a later run resumes there.
 * Ctrl-C or Jupyter's Stop ends the run with a {@linkcode TrainingInterrupted}
 * that says what is kept on disk. `deno task train` is built on it. Errors
 * name the options in backticks (`` `seed` ``); the task names its flags.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { Dataset } from "../data.ts";
import { openDataset, type Preprocessing } from "../datasets/mod.ts";
import { TrainingError, TrainingInterrupted, UsageError } from "../errors.ts";
import { buildModel } from "../model.ts";
import { loadModel, readMetadata, saveModel } from "../saving.ts";
import { train, type TrainResult } from "../training.ts";
import { randomSeed } from "../engine/random.ts";
import { augmentFactors, type AugmentOptions } from "../engine/augment.ts";
import { type History, readHistory, saveHistory } from "./history.ts";

export * from "./history.ts";

/** A run's settings and progress, kept in the checkpoint's `model.json`. */
export interface RunState {
  /** Epochs finished and saved. */
  epochsDone: number;
  /** Epochs the run trains in all. */
  epochs: number;
  /** Seed of the weights, data order and dropout. */
  seed: number;
  /** Samples per gradient step. */
  batchSize: number;
  /** Train on the first `limit` samples only. */
  limit?: number;
  /**
   * Random rotation, shift and zoom of training pictures (`train`'s
   * `augment`: `true` for the usual factors, or the factors asked for).
   */
  augment?: boolean | Required<AugmentOptions>;
  /** The data set: `mnist` (when omitted), `fashion_mnist` or a folder. */
  dataset?: string;
  /** How a folder's pictures are made into inputs (`grey` when omitted). */
  preprocessing?: Preprocessing;
}

/** Options of {@linkcode openRun}. */
export interface OpenRunOptions {
  /** Epochs to train in all; default 1 (with `resume`, at least the checkpoint's). */
  epochs?: number;
  /** Samples per gradient step; default 128. */
  batchSize?: number;
  /** Train on the first `limit` samples only. */
  limit?: number;
  /** Seed; random when omitted (with `resume`, the checkpoint's). */
  seed?: number;
  /** Random rotation, shift and zoom of training pictures (`train`'s `augment`). */
  augment?: boolean | AugmentOptions;
  /** Continue the run checkpointed in the directory. */
  resume?: boolean;
  /**
   * The data set: `mnist` (default), `fashion_mnist` or a folder with one
   * sub-folder per class (with `resume`, the checkpoint's).
   */
  dataset?: string;
  /** A folder's pictures: `grey` (a resize, default) or `mnist` (as digits). */
  preprocessing?: string;
}

/** A run: its model, its state and where its checkpoints go. */
export interface Run {
  /** The directory of the checkpoints (and of the final model). */
  dir: string;
  /** The model: new, or the checkpoint's. */
  model: tf.LayersModel;
  /** Settings and progress. */
  state: RunState;
  /** The data set it trains on, opened; the model has one output per class. */
  data: Dataset;
  /** True when it continues a checkpoint. */
  resumed: boolean;
}

/**
 * Starts a run in `dir` with a new model, or with `resume` continues the one
 * checkpointed there; opens its data set (the checkpoint's, on `resume`) and
 * builds the model with one output per class.
 *
 * @throws {UsageError} with `resume` when `dir` holds no checkpoint of a run,
 * another seed is asked for, or the run already finished its epochs; on a
 * `preprocessing` other than `grey` or `mnist`, or an augmentation factor
 * outside [0, 1).
 * @throws {DatasetError} when the data set's folder cannot make one.
 *
 * @example
 * ```ts ignore
 * // ignore: trains on MNIST and writes a model directory
 * import { assertEquals } from "@std/assert";
 * import { initBackend } from "../mod.ts";
 * import { openRun, trainRun } from "./mod.ts";
 * await initBackend();
 * const run = await openRun("models/example", { limit: 256, seed: 1 });
 * await trainRun(run);
 * const again = await openRun("models/example", { resume: true, epochs: 2 });
 * assertEquals(again.state.epochsDone, 1);
 * ```
 */
export async function openRun(
  dir: string,
  options: OpenRunOptions = {},
): Promise<Run> {
  const epochs = options.epochs ?? 1;
  if (!options.resume) {
    const preprocessing = options.preprocessing ?? "grey";
    if (preprocessing !== "grey" && preprocessing !== "mnist") {
      throw new UsageError(
        `\`preprocessing\` must be grey or mnist, got '${preprocessing}'`,
      );
    }
    const factors = augmentFactors(options.augment);
    const state: RunState = {
      epochsDone: 0,
      epochs,
      seed: options.seed ?? randomSeed(),
      batchSize: options.batchSize ?? 128,
      limit: options.limit,
      ...(factors ? { augment: options.augment === true || factors } : {}),
      dataset: options.dataset ?? "mnist",
      preprocessing,
    };
    const data = await openRunDataset(state);
    const numClasses = data.classNames.length;
    return {
      dir,
      model: buildModel({ seed: state.seed, numClasses }),
      state,
      data,
      resumed: false,
    };
  }
  const saved = (await readMetadata(dir))?.run as RunState | undefined;
  if (!saved) {
    throw new UsageError(`\`resume\`: ${dir} holds no checkpoint of a run`);
  }
  if (options.seed !== undefined && options.seed !== saved.seed) {
    throw new UsageError(
      `\`resume\`: the checkpoint was trained with \`seed\` ${saved.seed}`,
    );
  }
  // A checkpoint from before data sets were recorded trained on MNIST.
  const state: RunState = {
    dataset: "mnist",
    ...saved,
    epochs: Math.max(epochs, saved.epochs),
  };
  if (state.epochsDone >= state.epochs) {
    throw new UsageError(
      `\`resume\`: the checkpoint already finished ${state.epochsDone} epoch(s); ask for more with \`epochs\``,
    );
  }
  const data = await openRunDataset(state);
  return { dir, model: await loadModel(dir), state, data, resumed: true };
}

/** The run's data set, opened as its state says. */
function openRunDataset(state: RunState): Promise<Dataset> {
  return openDataset(state.dataset ?? "mnist", {
    preprocessing: state.preprocessing ?? "grey",
  });
}

/**
 * Trains `run` on its data set to its last epoch, saving the model, the run's state and
 * `history.csv`/`steps.csv` in `run.dir` after each epoch (atomically: an
 * interrupt or crash leaves the previous checkpoint whole).
 *
 * @throws {TrainingInterrupted} at Ctrl-C (with `ctrlC`) or Jupyter's Stop,
 * its message saying what is kept in `run.dir`.
 * @throws {TrainingError} on a non-finite loss, saying the same.
 *
 * @example
 * ```ts ignore
 * // ignore: trains on MNIST and writes a model directory
 * import { assertGreater } from "@std/assert";
 * import { initBackend } from "../mod.ts";
 * import { openRun, trainRun } from "./mod.ts";
 * await initBackend();
 * const run = await openRun("models/example", { limit: 1024, seed: 1 });
 * const { test } = await trainRun(run);
 * assertGreater(test.acc, 0.5);
 * ```
 */
export async function trainRun(
  run: Run,
  options: { threads?: number; ctrlC?: boolean } = {},
): Promise<TrainResult> {
  const { dir, model, data } = run;
  const done = run.state.epochsDone;
  const previous = run.resumed
    ? await readHistory(dir)
    : { epochs: [], steps: [] };
  const history: History = {
    epochs: previous.epochs.filter((e) => e.epoch < done),
    steps: previous.steps.filter((s) => s.epoch < done),
  };
  const { epochs, batchSize, limit, seed, augment } = run.state;
  try {
    return await train(model, data, {
      epochs,
      initialEpoch: done,
      batchSize,
      limit,
      seed,
      threads: options.threads,
      augment,
      ctrlC: options.ctrlC,
      onStep: (log) => history.steps.push(log),
      onEpochEnd: async (log) => {
        run.state = { ...run.state, epochsDone: log.epoch + 1 };
        const { epoch, loss, acc, val_loss, val_acc } = log;
        history.epochs.push({ epoch, loss, acc, val_loss, val_acc });
        await saveModel(model, dir, { metadata: { run: run.state } });
        await saveHistory(dir, history);
        console.log(`Checkpoint: epoch ${log.epoch + 1} saved at ${dir}`);
      },
    });
  } catch (e) {
    if (!(e instanceof TrainingError)) throw e;
    const kept = run.state.epochsDone > 0
      ? `the checkpoint of epoch ${run.state.epochsDone} at ${dir} is intact (continue with \`resume\`)`
      : `nothing was saved; any previous model at ${dir} is unchanged`;
    if (e instanceof TrainingInterrupted) {
      throw new TrainingInterrupted(
        { epoch: e.epoch, step: e.step, steps: e.steps, seed },
        kept,
      );
    }
    throw new TrainingError(`${e.message}; ${kept}`, {
      cause: e,
      kind: e.kind,
    });
  }
}

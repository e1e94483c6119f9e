/**
 * Training and evaluation: Keras's `model.fit` and `model.evaluate` for the
 * tutorial, with a seeded, resumable data order and dropout, a progress bar,
 * a stop on non-finite loss and a clean stop on an abort signal.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Dataset, Mnist, MnistSplit } from "./data.ts";
import { forwardRange } from "./engine/forward.ts";
import { defaultThreads, WorkerPool } from "./engine/pool.ts";
import type { StepRunner } from "./engine/gradients.ts";
import { parallelRunner } from "./engine/parallel.ts";
import {
  defaultSink,
  ProgressBar,
  type ProgressSink,
} from "./engine/progress.ts";
import { deriveKey, permutation, randomSeed } from "./engine/random.ts";
import { checkWholeNumber, TrainingError, UsageError } from "./errors.ts";
import { numClassesOf, setClassNames } from "./saving.ts";

/** Options of {@linkcode train}, named as Keras's `fit` names them. */
export interface TrainOptions {
  /** Epoch to stop after (Keras `epochs`); default 1. */
  epochs?: number;
  /** Epoch to start at, to resume a run (Keras `initial_epoch`); default 0. */
  initialEpoch?: number;
  /** Samples per gradient step; default 128. */
  batchSize?: number;
  /** Train on the first `limit` training samples only; default all. */
  limit?: number;
  /** Seed of the data order and dropout; random when omitted. */
  seed?: number;
  /** Evaluate on the test set after each epoch; default true. */
  validation?: boolean;
  /** Where the progress bar goes; {@linkcode defaultSink} when omitted. */
  sink?: ProgressSink;
  /** Print `Epoch 1/1` headers and the bar; default true. */
  verbose?: boolean;
  /** Stops training between two steps, throwing a {@linkcode TrainingError}. */
  signal?: AbortSignal;
  /**
   * Threads to train on; with 2 or more each batch is split over worker
   * threads (data-parallel). Default: every core.
   */
  threads?: number;
  /** Runs the gradient steps; made from `threads` when omitted. */
  runner?: StepRunner;
  /** Called after each epoch, e.g. to save a checkpoint. */
  onEpochEnd?: (log: EpochLog) => void | Promise<void>;
  /** Called after each gradient step, e.g. for a live chart of the loss. */
  onStep?: (log: StepLog) => void;
}

/** Loss and accuracy of one gradient step's batch. */
export interface StepLog {
  /** The epoch, 0-based. */
  epoch: number;
  /** The step within the epoch, 1-based. */
  step: number;
  /** Training samples seen in the epoch so far. */
  samples: number;
  /** Mean loss over the batch. */
  loss: number;
  /** Accuracy on the batch. */
  acc: number;
}

/** Metrics of one epoch, as Keras's History holds them. */
export interface EpochLog {
  /** The epoch, 0-based. */
  epoch: number;
  /** Mean training loss over the epoch. */
  loss: number;
  /** Mean training accuracy over the epoch. */
  acc: number;
  /** Test-set loss after the epoch (NaN without validation). */
  val_loss: number;
  /** Test-set accuracy after the epoch (NaN without validation). */
  val_acc: number;
  /** Wall-clock seconds of the epoch's training steps. */
  seconds: number;
}

/** Loss and accuracy on a data set. */
export interface Evaluation {
  /** Mean categorical cross-entropy. */
  loss: number;
  /** Fraction classified correctly. */
  acc: number;
}

/** What {@linkcode train} returns. */
export interface TrainResult {
  /** The seed used (drawn at random when none was given). */
  seed: number;
  /** One log per epoch run. */
  history: EpochLog[];
  /** Test loss and accuracy after the last epoch. */
  test: Evaluation;
}

function checkCount(
  name: string,
  value: number | undefined,
  max = Infinity,
): void {
  if (value !== undefined) checkWholeNumber(name, value, { min: 1, max });
}

/**
 * Evaluates `model` on `split` (Keras's `model.evaluate`): mean categorical
 * cross-entropy and accuracy, in batches of 256, on this thread.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, evaluate, initBackend, loadMnist } from "./mod.ts";
 * await initBackend();
 * const mnist = await loadMnist();
 * const { loss, acc } = evaluate(buildModel({ seed: 1 }), mnist.test, { count: 500 });
 * assertEquals(loss > 2 && loss < 2.6, true); // about ln 10 untrained
 * assertEquals(acc < 0.3, true); // about chance
 * ```
 */
export function evaluate(
  model: tf.LayersModel,
  split: MnistSplit,
  options: { batchSize?: number; count?: number } = {},
): Evaluation {
  const count = options.count ?? split.count;
  checkCount("sample count", count, split.count);
  const { loss, correct } = forwardRange(model, split, {
    start: 0,
    count,
    batchSize: options.batchSize,
    mode: "evaluate",
  });
  return { loss: loss / count, acc: correct / count };
}

/**
 * {@linkcode evaluate} on every core: the samples are split over `threads`
 * threads (this one and worker threads started for the call).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, evaluate, initBackend, loadMnist } from "./mod.ts";
 * import { evaluateParallel } from "./training.ts";
 * await initBackend();
 * const mnist = await loadMnist();
 * const model = buildModel({ seed: 1 });
 * const options = { count: 500, threads: 2 };
 * assertEquals((await evaluateParallel(model, mnist.test, options)).acc, evaluate(model, mnist.test, options).acc);
 * ```
 */
export async function evaluateParallel(
  model: tf.LayersModel,
  split: MnistSplit,
  options: { batchSize?: number; count?: number; threads?: number } = {},
): Promise<Evaluation> {
  const threads = options.threads ?? defaultThreads();
  checkCount("threads", threads, 256);
  if (threads <= 1) return evaluate(model, split, options);
  const count = options.count ?? split.count;
  checkCount("sample count", count, split.count);
  const pool = await WorkerPool.create(model, { threads });
  try {
    const { loss, correct } = await pool.forward(split, {
      start: 0,
      count,
      batchSize: options.batchSize,
      mode: "evaluate",
    });
    return { loss: loss / count, acc: correct / count };
  } finally {
    pool.dispose();
  }
}

/**
 * Trains `model` on `data.train` as `model.fit(x_train, y_train,
 * batch_size=128, epochs=1, validation_data=(x_test, y_test))` does: a
 * shuffled pass per epoch, a progress bar, and validation on the test set
 * after each epoch. A given seed gives the same weights every run, and
 * resuming at `initialEpoch` from a checkpoint continues the same run. The
 * data set's class names (`data.classNames`) are recorded with the model, so
 * that `saveModel` saves them and every output shows them.
 *
 * @throws {TrainingError} on a non-finite loss (the weights of the last
 * finite step are kept, nothing is applied) or when `signal` aborts.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { buildModel, initBackend, loadMnist, train } from "./mod.ts";
 * await initBackend();
 * const mnist = await loadMnist();
 * const model = buildModel({ seed: 42 });
 * const options = { limit: 1024, seed: 42, verbose: false, threads: 1 };
 * const { test } = await train(model, mnist, options);
 * assert(test.acc > 0.2, `${test.acc}`); // 8 steps: above chance (0.1)
 * ```
 */
export async function train(
  model: tf.LayersModel,
  data: Mnist | Dataset,
  options: TrainOptions = {},
): Promise<TrainResult> {
  const classes = data.train.numClasses ?? 10;
  if (numClassesOf(model) !== classes) {
    throw new UsageError(
      `the model tells ${
        numClassesOf(model)
      } classes apart but the data set has ${classes}: build it with buildModel({ numClasses: ${classes} })`,
    );
  }
  // The model keeps its data set's class names, and saveModel saves them.
  if ("classNames" in data) setClassNames(model, data.classNames);
  if ("preprocessing" in data && data.preprocessing) {
    model.setUserDefinedMetadata({
      ...model.getUserDefinedMetadata(),
      preprocessing: data.preprocessing,
    });
  }
  const epochs = options.epochs ?? 1;
  const initialEpoch = options.initialEpoch ?? 0;
  const batchSize = options.batchSize ?? 128;
  checkCount("epochs", epochs);
  checkCount("batch size", batchSize);
  checkCount("sample limit", options.limit, data.train.count);
  checkCount("threads", options.threads, 256);
  checkWholeNumber("initial epoch", initialEpoch, { min: 0 });
  const n = options.limit ?? data.train.count;
  const seed = options.seed ?? randomSeed();
  const verbose = options.verbose ?? true;
  const validation = options.validation ?? true;
  const history: EpochLog[] = [];
  let test: Evaluation = { loss: NaN, acc: NaN };

  const runner = options.runner ??
    await parallelRunner(model, data.train, { threads: options.threads });
  try {
    for (let epoch = initialEpoch; epoch < epochs; epoch++) {
      if (verbose) console.log(`Epoch ${epoch + 1}/${epochs}`);
      const bar = new ProgressBar({
        total: n,
        sink: options.sink ?? defaultSink(),
      });
      const run = await runEpoch(runner, {
        n,
        batchSize,
        seed,
        epoch,
        signal: options.signal,
        onStep: verbose
          ? (seen, values) => bar.update(seen, values)
          : undefined,
        onBatch: options.onStep,
      });
      const log: EpochLog = {
        epoch,
        ...run.metrics,
        val_loss: NaN,
        val_acc: NaN,
        seconds: run.seconds,
      };
      runner.sync?.();
      if (validation) {
        test = await (runner.evaluate?.(data.test) ??
          evaluate(model, data.test));
        log.val_loss = test.loss;
        log.val_acc = test.acc;
      }
      if (verbose) {
        const { loss, acc, val_loss, val_acc } = log;
        bar.finish(
          validation ? { loss, acc, val_loss, val_acc } : { loss, acc },
          run.steps,
        );
      }
      history.push(log);
      await options.onEpochEnd?.(log);
    }
    if (!validation) {
      test = await (runner.evaluate?.(data.test) ?? evaluate(model, data.test));
    }
  } finally {
    if (options.runner) runner.sync?.();
    else runner.dispose();
  }
  return { seed, history, test };
}

/**
 * One pass over the first `n` training samples in the epoch's seeded order,
 * a gradient step per batch. Returns the epoch's mean loss and accuracy.
 */
async function runEpoch(
  runner: StepRunner,
  options: {
    n: number;
    batchSize: number;
    seed: number;
    epoch: number;
    signal?: AbortSignal;
    onStep?: (seen: number, values: { loss: number; acc: number }) => void;
    onBatch?: (log: StepLog) => void;
  },
): Promise<
  { metrics: { loss: number; acc: number }; steps: number; seconds: number }
> {
  const { n, batchSize, seed, epoch } = options;
  const order = permutation(n, deriveKey(seed, epoch));
  const started = performance.now();
  let seen = 0, lossSum = 0, correct = 0, steps = 0;
  for (let start = 0; start < n; start += batchSize) {
    if (options.signal?.aborted) {
      throw new TrainingError(
        `training interrupted in epoch ${epoch + 1} at sample ${seen}`,
        { kind: "interrupted" },
      );
    }
    const ids = order.subarray(start, Math.min(start + batchSize, n));
    const step = await runner.step(ids, { seed, epoch });
    steps++;
    if (!Number.isFinite(step.loss)) {
      throw new TrainingError(
        `loss became ${step.loss} (or a gradient did) in epoch ${
          epoch + 1
        } at step ${steps}; ` +
          "training stopped and the weights of the last finite step were kept",
        { kind: "not-finite" },
      );
    }
    seen += ids.length;
    lossSum += step.loss;
    correct += step.correct;
    options.onStep?.(seen, { loss: lossSum / seen, acc: correct / seen });
    options.onBatch?.({
      epoch,
      step: steps,
      samples: seen,
      loss: step.loss / ids.length,
      acc: step.correct / ids.length,
    });
    // Let signal handlers and notebook output run between steps.
    if (steps % 8 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return {
    metrics: { loss: lossSum / n, acc: correct / n },
    steps,
    seconds: (performance.now() - started) / 1000,
  };
}

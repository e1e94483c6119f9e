/**
 * Training and evaluation: Keras's `model.fit` and `model.evaluate` for the
 * tutorial, with a seeded, resumable data order and dropout, a progress bar,
 * a stop on non-finite loss and a clean stop on an abort signal.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Dataset, Split } from "./data.ts";
import { forwardRangeAsync } from "./engine/forward.ts";
import { WorkerPool } from "./engine/pool.ts";
import type { StepRunner } from "./engine/gradients.ts";
import { parallelRunner } from "./engine/parallel.ts";
import {
  defaultSink,
  ProgressBar,
  type ProgressSink,
} from "./jupyter/progress.ts";
import { deriveKey, permutation, randomSeed } from "./engine/random.ts";
import {
  checkWholeNumber,
  Interrupted,
  TrainingError,
  TrainingInterrupted,
  UsageError,
} from "./errors.ts";
import { type InterruptWatch, watchInterrupts } from "./interrupt/mod.ts";
import { augmentFactors, type AugmentOptions } from "./engine/augment.ts";
import { numClassesOf, setClassNames, setPreprocessing } from "./model_info.ts";
import { published } from "./jupyter/published.ts";

/** Options of {@linkcode train}, named as Keras's `fit` names them. */
export interface TrainOptions {
  /** Epoch to stop after (Keras `epochs`); default 1. */
  epochs?: number;
  /** Epoch to start at, to resume a run (Keras `initial_epoch`); default 0. */
  initialEpoch?: number;
  /**
   * Steps of the first epoch already done, to continue a run stopped in the
   * middle of an epoch (a {@linkcode TrainingInterrupted}'s `resume` gives
   * it); default 0. With the same seed the run ends with the weights of an
   * uninterrupted one.
   */
  initialStep?: number;
  /** Samples per gradient step; default 128. */
  batchSize?: number;
  /** Train on the first `limit` training samples only; default all. */
  limit?: number;
  /** Seed of the data order and dropout; random when omitted. */
  seed?: number;
  /**
   * Evaluate on the test set after each epoch; default true. With `false`,
   * `train()` still evaluates once, after the last epoch, for its result's
   * `test`.
   */
  validation?: boolean;
  /** Where the progress bar goes; {@linkcode defaultSink} when omitted. */
  sink?: ProgressSink;
  /** Print `Epoch 1/1` headers and the bar; default true. */
  verbose?: boolean;
  /**
   * Stops training between two steps, throwing a
   * {@linkcode TrainingInterrupted}. In a Jupyter kernel the Stop button does
   * the same without it.
   */
  signal?: AbortSignal;
  /** Stop the same way on Ctrl-C outside a kernel (for the tasks); default false. */
  ctrlC?: boolean;
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
  /**
   * Random rotation, shift and zoom of every training picture, drawn anew
   * each epoch (Keras's `RandomRotation`, `RandomTranslation`, `RandomZoom`;
   * `true`: `DEFAULT_AUGMENT`); default off.
   */
  augment?: boolean | AugmentOptions;
}

/** Loss and accuracy of one gradient step's batch. */
export interface StepLog {
  /** The epoch, 0-based. */
  epoch: number;
  /** The step within the epoch, 1-based. */
  step: number;
  /** Training samples seen in the epoch so far. */
  samples: number;
  /**
   * Training samples in a whole epoch (`limit`, or the whole training set),
   * so a chart can place the step along the epoch while it runs.
   */
  samplesPerEpoch?: number;
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
 * cross-entropy and accuracy, in batches of 128, on every backend. On `wasm`
 * with `threads` of 2 or more the samples are split over that many threads
 * (this one and worker threads started for the call); default 1.
 *
 * @throws {Interrupted} at an interrupt (Jupyter's Stop), before a batch; the
 * model is unchanged.
 * @example
 * ```ts ignore
 * // ignored in CI: loads real MNIST; covered by tests/engine/pool_test.ts, "predictClasses and evaluate on two threads or a pool agree with one thread"
 * import { assertEquals } from "@std/assert";
 * import { buildModel, evaluate, initBackend, loadMnist } from "./mod.ts";
 * await initBackend();
 * const mnist = await loadMnist();
 * const model = buildModel({ seed: 1 });
 * const { loss, acc } = await evaluate(model, mnist.test, { count: 500 });
 * assertEquals(loss > 2 && loss < 2.6, true); // about ln 10 untrained
 * assertEquals(acc < 0.3, true); // about chance
 * const two = await evaluate(model, mnist.test, { count: 500, threads: 2 });
 * assertEquals(two.acc, acc);
 * ```
 */
export async function evaluate(
  model: tf.LayersModel,
  split: Split,
  options: { batchSize?: number; count?: number; threads?: number } = {},
): Promise<Evaluation> {
  const count = options.count ?? split.count;
  checkCount("sample count", count, split.count);
  const threads = options.threads ?? 1;
  checkCount("threads", threads, 256);
  const range = {
    start: 0,
    count,
    batchSize: options.batchSize,
    mode: "evaluate",
  } as const;
  const watch = watchInterrupts();
  try {
    const stop = stopEvaluating(watch, count);
    // The threads are the wasm engine's; another backend evaluates on its own.
    if (tf.getBackend() !== "wasm" || threads <= 1) {
      const { loss, correct } = await forwardRangeAsync(
        model,
        split,
        range,
        stop,
      );
      return { loss: loss / count, acc: correct / count };
    }
    const pool = await WorkerPool.create(model, { threads });
    try {
      const { loss, correct } = await pool.forward(split, range, stop);
      return { loss: loss / count, acc: correct / count };
    } finally {
      pool.dispose();
    }
  } finally {
    watch.close();
  }
}

/** Throws {@linkcode Interrupted} before a batch once an interrupt arrived. */
function stopEvaluating(watch: InterruptWatch, count: number) {
  return (done: number) => {
    if (watch.requested) {
      throw new Interrupted(
        "evaluate",
        `stopped after ${done} of ${count} samples; the model is unchanged`,
      );
    }
  };
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
 * finite step are kept, nothing is applied).
 * @throws {TrainingInterrupted} at an interrupt (Jupyter's Stop, `signal`,
 * Ctrl-C with `ctrlC`): between two steps, the model keeps the weights and
 * optimizer state of the last step done, and the error's `resume` continues
 * the run.
 *
 * @example
 * ```ts ignore
 * // ignored in CI: trains on real MNIST; covered by tests/training_test.ts, "train: 4,096 real samples on wasm reach test accuracy far above chance"
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
  data: Dataset,
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
  if (data.classNames) setClassNames(model, data.classNames);
  if (data.preprocessing) setPreprocessing(model, data.preprocessing);
  const epochs = options.epochs ?? 1;
  const initialEpoch = options.initialEpoch ?? 0;
  const initialStep = options.initialStep ?? 0;
  const batchSize = options.batchSize ?? 128;
  checkCount("epochs", epochs);
  checkCount("batch size", batchSize);
  checkCount("sample limit", options.limit, data.train.count);
  checkCount("threads", options.threads, 256);
  checkWholeNumber("initial epoch", initialEpoch, { min: 0 });
  const augment = augmentFactors(options.augment);
  const n = options.limit ?? data.train.count;
  const stepsPerEpoch = Math.ceil(n / batchSize);
  checkWholeNumber("initial step", initialStep, { min: 0, max: stepsPerEpoch });
  const seed = options.seed ?? randomSeed();
  const verbose = options.verbose ?? true;
  const validation = options.validation ?? true;
  const history: EpochLog[] = [];
  let test: Evaluation = { loss: NaN, acc: NaN };

  const watch = watchInterrupts({
    signal: options.signal,
    ctrlC: options.ctrlC,
  });
  const runner = options.runner ??
    await parallelRunner(model, data.train, { threads: options.threads });
  let released = false;
  try {
    for (let epoch = initialEpoch; epoch < epochs; epoch++) {
      if (verbose) console.log(`Epoch ${epoch + 1}/${epochs}`);
      const bar = new ProgressBar({
        total: n,
        sink: options.sink ?? defaultSink(),
      });
      const at = { epoch, steps: stepsPerEpoch, seed };
      const run = await runEpoch(runner, {
        n,
        batchSize,
        seed,
        epoch,
        initialStep: epoch === initialEpoch ? initialStep : 0,
        watch,
        augment,
        onStep: verbose
          ? (seen, values) => bar.update(seen, values)
          : undefined,
        onBatch: options.onStep,
      }).catch((error) => {
        // Stopped: the bar shows the step it stopped at, not the last one
        // its throttle let through.
        if (verbose) bar.flush();
        throw error;
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
        test = await validate(model, data.test, runner, () => {
          if (watch.requested) {
            throw new TrainingInterrupted(
              { ...at, step: stepsPerEpoch },
              "stopped while validating",
            );
          }
        });
        log.val_loss = test.loss;
        log.val_acc = test.acc;
      }
      if (verbose) {
        const { loss, acc, val_loss, val_acc } = log;
        // The steps' time, as the epoch's log has it (not the validation).
        bar.finish(
          validation ? { loss, acc, val_loss, val_acc } : { loss, acc },
          run.steps - (epoch === initialEpoch ? initialStep : 0),
          run.seconds,
        );
      }
      history.push(log);
      // After the last validation the worker threads have nothing left to
      // do: ending them first means the checkpoint's copies of the weights
      // do not add to their heaps (the run's peak of memory).
      if (validation && !options.runner && epoch === epochs - 1) {
        runner.dispose();
        released = true;
      }
      await options.onEpochEnd?.(log);
    }
    if (!validation) {
      test = await validate(model, data.test, runner, () => {});
    }
  } finally {
    if (options.runner) runner.sync?.();
    else if (!released) runner.dispose();
    watch.close();
  }
  // In a notebook: the progress bar's and the live chart's last updates go
  // out under this cell before train() returns (a no-op elsewhere).
  await published();
  return { seed, history, test };
}

/** Evaluates on every thread of `runner`, calling `beforeBatch` on this one. */
async function validate(
  model: tf.LayersModel,
  split: Split,
  runner: StepRunner,
  beforeBatch: () => void,
): Promise<Evaluation> {
  if (runner.evaluate) return await runner.evaluate(split, beforeBatch);
  const { loss, correct } = await forwardRangeAsync(model, split, {
    start: 0,
    count: split.count,
    mode: "evaluate",
  }, beforeBatch);
  return { loss: loss / split.count, acc: correct / split.count };
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
    initialStep: number;
    watch: InterruptWatch;
    augment?: Required<AugmentOptions>;
    onStep?: (seen: number, values: { loss: number; acc: number }) => void;
    onBatch?: (log: StepLog) => void;
  },
): Promise<
  { metrics: { loss: number; acc: number }; steps: number; seconds: number }
> {
  const { n, batchSize, seed, epoch, initialStep, augment } = options;
  const order = permutation(n, deriveKey(seed, epoch));
  const started = performance.now();
  const total = Math.ceil(n / batchSize);
  let seen = Math.min(n, initialStep * batchSize), steps = initialStep;
  let lossSum = 0, correct = 0;
  const first = seen;
  for (let start = seen; start < n; start += batchSize) {
    if (options.watch.requested) {
      throw new TrainingInterrupted({ epoch, step: steps, steps: total, seed });
    }
    const ids = order.subarray(start, Math.min(start + batchSize, n));
    const step = await runner.step(
      ids,
      augment ? { seed, epoch, augment } : { seed, epoch },
    );
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
    const since = seen - first;
    options.onStep?.(seen, { loss: lossSum / since, acc: correct / since });
    options.onBatch?.({
      epoch,
      step: steps,
      samples: seen,
      samplesPerEpoch: options.n,
      loss: step.loss / ids.length,
      acc: step.correct / ids.length,
    });
    // Let signal handlers and notebook output run between steps.
    if (steps % 8 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
  }
  // A continued epoch's metrics cover the samples it trained on.
  const trained = Math.max(1, n - first);
  return {
    metrics: { loss: lossSum / trained, acc: correct / trained },
    steps,
    seconds: (performance.now() - started) / 1000,
  };
}

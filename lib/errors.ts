/**
 * Typed errors raised by this project. Every error names the file, flag or
 * value at fault and what is wrong with it, so that callers never see a stack
 * trace from deep inside TensorFlow.js.
 *
 * @module
 */

/** Base class of every error this project raises on purpose. */
export class MnistCnnError extends Error {
  /** Creates an error with the given message. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A file or directory is missing, unreadable, malformed or unwritable. */
export class FileError extends MnistCnnError {
  /** The file or directory at fault. */
  readonly path: string;
  /** What is wrong with it. */
  readonly problem: string;
  /** Creates an error for `path` with the given problem: `<path>: <problem>`. */
  constructor(path: string, problem: string, options?: ErrorOptions) {
    super(`${path}: ${problem}`, options);
    this.path = path;
    this.problem = problem;
  }
}

/**
 * A data file (an IDX file or its cache) is missing, unreadable or malformed.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DataError } from "./errors.ts";
 * const err = new DataError("data/mnist/train-labels-idx1-ubyte", "truncated");
 * assertEquals(err.message, "data/mnist/train-labels-idx1-ubyte: truncated");
 * assertEquals(err.name, "DataError");
 * ```
 */
export class DataError extends FileError {}

/** A saved model is missing, corrupt, or cannot be written. */
export class ModelFileError extends FileError {}

/**
 * What is wrong with a picture, for callers that answer each differently
 * (the server's HTTP status): it cannot be read (`"unreadable"`: missing,
 * unreadable, or a directory with no picture), is empty or in a format the
 * project does not decode (`"unsupported"`), is corrupt or truncated
 * (`"corrupt"`), is over the size limits (`"too-large"`), or shows no digit
 * (`"no-digit"`).
 */
export type ImageErrorKind =
  | "unreadable"
  | "unsupported"
  | "corrupt"
  | "too-large"
  | "no-digit";

/**
 * A picture is in an unsupported format, corrupt, truncated, too large, or
 * shows no digit; {@linkcode ImageError.kind} says which.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ImageError } from "./errors.ts";
 * const err = new ImageError("me.gif", "not a PNG or JPEG picture", {
 *   kind: "unsupported",
 * });
 * assertEquals(err.message, "me.gif: not a PNG or JPEG picture");
 * assertEquals(err.kind, "unsupported");
 * ```
 */
export class ImageError extends FileError {
  /** What is wrong with the picture. */
  readonly kind: ImageErrorKind;
  /**
   * Creates an error for `path` with the given problem; `options.kind`
   * defaults to `"corrupt"`.
   */
  constructor(
    path: string,
    problem: string,
    options: ErrorOptions & { kind?: ImageErrorKind } = {},
  ) {
    super(path, problem, options);
    this.kind = options.kind ?? "corrupt";
  }
}

/** A command-line flag or an option passed to a library function is invalid. */
export class UsageError extends MnistCnnError {}

/**
 * Checks a whole-number option or flag, in the one message style of the
 * project: `<what> must be a whole number, got <value>`, or `<what> must be
 * from <min> to <max>` (`at least <min>`, `at most <max>`) `, got <value>`.
 * Returns `value`.
 *
 * @throws {UsageError} when `value` is not a safe integer in the range.
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { checkWholeNumber, UsageError } from "./errors.ts";
 * assertEquals(checkWholeNumber("threads", 4, { min: 1, max: 256 }), 4);
 * assertThrows(
 *   () => checkWholeNumber("threads", 0, { min: 1, max: 256 }),
 *   UsageError,
 *   "threads must be from 1 to 256, got 0",
 * );
 * assertThrows(() => checkWholeNumber("epochs", 1.5, { min: 1 }), UsageError, "epochs must be a whole number, got 1.5");
 * ```
 */
export function checkWholeNumber(
  what: string,
  value: number,
  range: { min?: number; max?: number } = {},
): number {
  const { min = -Infinity, max = Infinity } = range;
  if (!Number.isSafeInteger(value)) {
    throw new UsageError(`${what} must be a whole number, got ${value}`);
  }
  if (value < min || value > max) {
    const bounds = max === Infinity
      ? `at least ${min}`
      : min === -Infinity
      ? `at most ${max}`
      : `from ${min} to ${max}`;
    throw new UsageError(`${what} must be ${bounds}, got ${value}`);
  }
  return value;
}

/**
 * The one of `names` closest to `word` (by edit distance, a prefix counting
 * as close), for a "did you mean" hint; `undefined` when none is close: at
 * most 2 edits, and fewer than half of `word`'s letters.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { closestName } from "./errors.ts";
 * assertEquals(closestName("epoch", ["epochs", "seed", "limit"]), "epochs");
 * assertEquals(closestName("fashion", ["mnist", "fashion_mnist"]), "fashion_mnist");
 * assertEquals(closestName("bogus", ["epochs", "seed", "limit"]), undefined);
 * ```
 */
export function closestName(
  word: string,
  names: readonly string[],
): string | undefined {
  let best: string | undefined, bestCost = Infinity;
  for (const name of names) {
    const cost = word.length >= 3 && name.startsWith(word)
      ? 1
      : editDistance(word, name);
    if (cost < bestCost) [best, bestCost] = [name, cost];
  }
  return bestCost <= 2 && bestCost < word.length / 2 ? best : undefined;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(
        row[j] + 1,
        next[j - 1] + 1,
        row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    row = next;
  }
  return row[b.length];
}

/** A tfjs backend could not be initialised. */
export class BackendError extends MnistCnnError {}

/** Why training stopped: an interrupt, or a loss that is not finite. */
export type TrainingErrorKind = "interrupted" | "not-finite";

/**
 * Training stopped: a non-finite loss, or an interrupt;
 * {@linkcode TrainingError.kind} says which.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { TrainingError } from "./errors.ts";
 * const err = new TrainingError("stopped", { kind: "interrupted" });
 * assertEquals(err.kind, "interrupted");
 * ```
 */
export class TrainingError extends MnistCnnError {
  /** Why training stopped. */
  readonly kind: TrainingErrorKind;
  /**
   * Creates an error with the given message; `options.kind` defaults to
   * `"not-finite"`.
   */
  constructor(
    message: string,
    options: ErrorOptions & { kind?: TrainingErrorKind } = {},
  ) {
    super(message, options);
    this.kind = options.kind ?? "not-finite";
  }
}

/** Why {@linkcode GpuError} was raised, for callers that branch on it. */
export type GpuErrorKind =
  | "no-webgpu"
  | "no-adapter"
  | "no-device"
  | "sync-read";

/**
 * The `webgpu` backend cannot start (this Deno exposes no WebGPU, or no GPU
 * adapter or device is found), or a synchronous read was asked of it;
 * {@linkcode GpuError.kind} says which.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { BackendError, GpuError } from "./errors.ts";
 * const err = new GpuError("no GPU adapter", { kind: "no-adapter" });
 * assertEquals([err.kind, err instanceof BackendError], ["no-adapter", true]);
 * ```
 */
export class GpuError extends BackendError {
  /** What is missing or wrong. */
  readonly kind: GpuErrorKind;
  /** Creates an error with the given message and kind. */
  constructor(
    message: string,
    options: ErrorOptions & { kind: GpuErrorKind },
  ) {
    super(message, options);
    this.kind = options.kind;
  }
}

/**
 * A library operation stopped at an interrupt (Jupyter's Stop, or Ctrl-C in
 * a task): `classify`, evaluation or prediction. Nothing was changed or
 * written. Its stack is its message alone: a notebook shows one line, not
 * the library's internals.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Interrupted } from "./errors.ts";
 * const err = new Interrupted("classify", "stopped after 2304 of 10000 images");
 * assertEquals(err.message, "classify stopped after 2304 of 10000 images");
 * assertEquals(err.stack, "Interrupted: classify stopped after 2304 of 10000 images");
 * ```
 */
export class Interrupted extends MnistCnnError {
  /** The operation that stopped, e.g. `classify`. */
  readonly operation: string;
  /** Where it stopped and what was kept, e.g. `stopped after 256 of 10000 images`. */
  readonly what: string;
  /** Creates the error: `<operation> <what>`. */
  constructor(operation: string, what: string) {
    super(`${operation} ${what}`);
    this.operation = operation;
    this.what = what;
    this.stack = `${this.name}: ${this.message}`;
  }
}

/**
 * Training stopped at an interrupt between two steps (a
 * {@linkcode TrainingError} of kind `"interrupted"`). The model holds the
 * weights and optimizer state of the last step done; `resume` continues the
 * same run where it stopped (`train(model, mnist, { ...options,
 * ...err.resume })`). Its stack is its message alone.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { TrainingInterrupted } from "./errors.ts";
 * const err = new TrainingInterrupted({ epoch: 0, step: 213, steps: 469, seed: 2 });
 * assertEquals(err.kind, "interrupted");
 * assertEquals(err.resume, { initialEpoch: 0, initialStep: 213, seed: 2 });
 * assertEquals(err.message.split(";")[0], "stopped in epoch 1 at step 213 of 469");
 * ```
 */
export class TrainingInterrupted extends TrainingError {
  /** The epoch it stopped in, 0-based (as Keras's `initial_epoch`). */
  readonly epoch: number;
  /** Steps of that epoch done (the model has their weights). */
  readonly step: number;
  /** Steps of a whole epoch. */
  readonly steps: number;
  /** The `train` options that continue the run where it stopped. */
  readonly resume: { initialEpoch: number; initialStep: number; seed: number };
  /** Creates the error; `note` is added to the message (e.g. what was saved). */
  constructor(
    at: { epoch: number; step: number; steps: number; seed: number },
    note?: string,
  ) {
    const { epoch, step, steps, seed } = at;
    const kept = step === 0
      ? "the model keeps the weights it had before the epoch"
      : `the model keeps the weights of step ${step}`;
    super(
      `stopped in epoch ${epoch + 1} at step ${step} of ${steps}; ${kept}${
        note ? `; ${note}` : ""
      }`,
      { kind: "interrupted" },
    );
    this.epoch = epoch;
    this.step = step;
    this.steps = steps;
    this.resume = { initialEpoch: epoch, initialStep: step, seed };
    this.stack = `${this.name}: ${this.message}`;
  }
}

/**
 * A folder of labelled pictures cannot make a data set; `kind` says why.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DatasetError } from "./errors.ts";
 * const err = new DatasetError("pets", "one-class", "only one class folder (cats): need two or more");
 * assertEquals([err.kind, err.message], ["one-class", "pets: only one class folder (cats): need two or more"]);
 * ```
 */
export class DatasetError extends DataError {
  /** Why: the folder is missing, holds no pictures, too few or too many classes, an empty class, a corrupt picture. */
  readonly kind: DatasetErrorKind;
  /** Creates an error for `path` of the given kind: `<path>: <problem>`. */
  constructor(
    path: string,
    kind: DatasetErrorKind,
    problem: string,
    options?: ErrorOptions,
  ) {
    super(path, problem, options);
    this.kind = kind;
  }
}

/** What {@linkcode DatasetError} reports. */
export type DatasetErrorKind =
  | "not-a-folder"
  | "no-pictures"
  | "one-class"
  | "too-many-classes"
  | "empty-class"
  | "corrupt-picture";

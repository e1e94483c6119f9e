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
 * import { DataError } from "./errors.ts";
 * const err = new DataError("data/mnist/train-labels-idx1-ubyte", "truncated");
 * console.log(err.message); // data/mnist/train-labels-idx1-ubyte: truncated
 * ```
 */
export class DataError extends FileError {}

/** A saved model is missing, corrupt, or cannot be written. */
export class ModelFileError extends FileError {}

/**
 * A picture is in an unsupported format, corrupt, truncated, too large, or
 * shows no digit.
 *
 * @example
 * ```ts
 * import { ImageError } from "./errors.ts";
 * const err = new ImageError("me.gif", "unsupported format GIF: use PNG or JPEG");
 * console.log(err.message); // me.gif: unsupported format GIF: use PNG or JPEG
 * ```
 */
export class ImageError extends FileError {}

/** A command-line flag or an option passed to a library function is invalid. */
export class UsageError extends MnistCnnError {}

/** The WASM backend could not be initialised. */
export class BackendError extends MnistCnnError {}

/** Training stopped: a non-finite loss, or an interrupt. */
export class TrainingError extends MnistCnnError {}

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

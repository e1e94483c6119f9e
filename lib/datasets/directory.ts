/**
 * Your own labelled pictures as a data set, as Keras's
 * `image_dataset_from_directory` makes one: one sub-folder per class (the
 * sorted folder names are the class names, label 0 first), PNG and JPEG
 * pictures of any size inside, split into training and validation pictures
 * with a seed, each made into a 28×28 grey input. The inputs are cached on
 * disk, so a second run decodes nothing until a picture changes.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Dataset, shareSplit, type Split } from "../data.ts";
import { permutation } from "../engine/random.ts";
import { DatasetError, ImageError, UsageError } from "../errors.ts";
import { writeFileAtomic } from "../files.ts";
import { IMAGE_EXTENSIONS } from "../image/decode.ts";
import { readImage } from "../image/files.ts";
import { toMnistInput } from "../image/preprocess.ts";
import { resizeGreyBytes } from "../image/resize.ts";
import type { RgbaImage } from "../image/decode.ts";

/** How each picture becomes a 28×28 input. */
export type Preprocessing = "grey" | "mnist";

/**
 * A decoded picture as a 28×28 input of bytes (0..255, 255 = white):
 * resized grey, or through the digit preprocessing.
 *
 * @throws {ImageError} with `"mnist"`, when the picture shows no digit.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { pictureToInput } from "./directory.ts";
 * const grey = { width: 1, height: 1, data: new Uint8Array([90, 90, 90, 255]) };
 * assertEquals(pictureToInput(grey, "grey", "dot.png")[0], 90);
 * ```
 */
export function pictureToInput(
  picture: RgbaImage,
  preprocessing: Preprocessing,
  name: string,
): Uint8Array {
  return preprocessing === "grey" ? resizeGreyBytes(picture) : Uint8Array.from(
    toMnistInput(picture, { name }),
    (v) => Math.round(v * 255),
  );
}

/** Options of {@linkcode imageDatasetFromDirectory}, named as Keras names them. */
export interface DirectoryOptions {
  /**
   * The share of the pictures held out for validation (the data set's
   * `test` split), from 0.01 to 0.99; default 0.2.
   */
  validationSplit?: number;
  /** Seed of the shuffle that picks the validation pictures; default 1337. */
  seed?: number;
  /**
   * `"grey"` (default, as Keras does it): the picture grey and resized to
   * 28×28 as it is; `"mnist"`: the digit preprocessing of `toMnistInput`
   * (white ink on black, cropped, fitted into 20×20 and centred).
   */
  preprocessing?: Preprocessing;
  /**
   * A picture that cannot be read or decoded (or, with `"mnist"`, shows no
   * digit): `"fail"` (default) stops with a {@linkcode DatasetError} naming
   * it; `"skip"` leaves it out and lists it in `skipped`.
   */
  onCorrupt?: "fail" | "skip";
  /**
   * Where the decoded inputs are cached (`data/datasets/` by default), or
   * `false` for no cache.
   */
  cacheDir?: string | false;
}

/** What {@linkcode imageDatasetFromDirectory} returns. */
export interface DirectoryDataset extends Dataset {
  /** The picture files of each split, parallel to its images and labels. */
  files: { train: string[]; test: string[] };
  /** The pictures left out with `onCorrupt: "skip"`, and why. */
  skipped: { path: string; problem: string }[];
  /** True when the inputs came from the cache, nothing decoded. */
  fromCache: boolean;
  /** How the pictures were made into inputs. */
  preprocessing: Preprocessing;
  /**
   * True when, resized grey, most pictures look like dark drawings on light
   * paper ({@linkcode looksDrawnOnPaper}): the digit preprocessing
   * (`"mnist"`: white strokes on black, cropped and centred) usually reads
   * such pictures far better. Always false with `"mnist"`.
   */
  drawnOnPaper: boolean;
}

/**
 * Whether 28×28 grey inputs (bytes, 255 = white, one after another) look
 * like dark drawings on light paper, the pictures the digit preprocessing
 * (`"mnist"`) reads far better than a plain grey resize: in at least 80% of
 * them the border (the paper) is light, at least 150, and between 2% and
 * 50% of the pixels are clearly darker than it (strokes, not a photo's
 * shades).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { looksDrawnOnPaper } from "./directory.ts";
 * const paper = new Uint8Array(784).fill(230);
 * paper.fill(20, 14 * 28 + 4, 14 * 28 + 24); // a dark line across the middle
 * assertEquals(looksDrawnOnPaper(paper), true);
 * const mnistLike = paper.map((v) => 255 - v); // light strokes on black
 * assertEquals(looksDrawnOnPaper(mnistLike), false);
 * ```
 */
export function looksDrawnOnPaper(images: Uint8Array): boolean {
  const count = Math.floor(images.length / PIXELS);
  if (count === 0) return false;
  let drawn = 0;
  for (let i = 0; i < count; i++) {
    const image = images.subarray(i * PIXELS, (i + 1) * PIXELS);
    let border = 0;
    for (let k = 0; k < 28; k++) {
      border += image[k] + image[27 * 28 + k] + image[k * 28] +
        image[k * 28 + 27];
    }
    border /= 4 * 28;
    if (border < 150) continue;
    let dark = 0;
    for (const v of image) if (v < border - 60) dark++;
    if (dark >= 0.02 * PIXELS && dark <= 0.5 * PIXELS) drawn++;
  }
  return drawn >= 0.8 * count;
}

/** The most classes a folder may hold (labels are bytes). */
export const MAX_CLASSES = 256;

const PIXELS = 784;
const CACHE_VERSION = 1;

/** One picture found: its path, class and what identifies its contents. */
interface Found {
  path: string;
  label: number;
  stamp: string;
}

/** The decoded folder, before the split: what the cache holds. */
interface Decoded {
  classNames: string[];
  files: string[];
  labels: Uint8Array;
  images: Uint8Array;
  skipped: { path: string; problem: string }[];
}

/**
 * Loads a folder of labelled pictures like Keras's
 * `image_dataset_from_directory(dir, validation_split=0.2, subset="both",
 * seed=1337, color_mode="grayscale", image_size=(28, 28))`: `train` and
 * `test` (the validation pictures) as 28×28 splits, and the class names.
 * Sub-folders whose names start with a dot are ignored; files directly in
 * `dir`, and files that are not `.png`/`.jpg`/`.jpeg`, too.
 *
 * @throws {DatasetError} with its `kind`: `dir` is not a folder, holds no
 * pictures, fewer than two or more than 256 classes, a class folder with no
 * picture, or a corrupt picture (named) when `onCorrupt` is `"fail"`.
 * @throws {UsageError} for an option out of range, or too few pictures to
 * split.
 * @example
 * ```ts ignore
 * // needs a folder of pictures, e.g. the one writeSampleFolder makes
 * import { assertEquals } from "@std/assert";
 * import { imageDatasetFromDirectory } from "./directory.ts";
 * const data = await imageDatasetFromDirectory("data/shapes");
 * assertEquals(data.classNames, ["circle", "cross", "square", "triangle"]);
 * ```
 */
export async function imageDatasetFromDirectory(
  dir: string,
  options: DirectoryOptions = {},
): Promise<DirectoryDataset> {
  const validationSplit = options.validationSplit ?? 0.2;
  if (
    !(typeof validationSplit === "number" && validationSplit >= 0.01 &&
      validationSplit <= 0.99)
  ) {
    throw new UsageError(
      `validationSplit must be from 0.01 to 0.99, got ${validationSplit}`,
    );
  }
  const seed = options.seed ?? 1337;
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new UsageError(`seed must be a whole number ≥ 0, got ${seed}`);
  }
  const preprocessing = options.preprocessing ?? "grey";
  if (preprocessing !== "grey" && preprocessing !== "mnist") {
    throw new UsageError(
      `preprocessing must be "grey" or "mnist", got ${
        JSON.stringify(preprocessing)
      }`,
    );
  }
  const onCorrupt = options.onCorrupt ?? "fail";
  const { classNames, found } = await scan(dir);
  const fingerprint = sha256(JSON.stringify({
    version: CACHE_VERSION,
    preprocessing,
    classNames,
    files: found.map((f) => [relative(dir, f.path), f.label, f.stamp]),
  }));
  const cacheFile = options.cacheDir === false ? undefined : join(
    options.cacheDir ??
      fileURLToPath(new URL("../../data/datasets/", import.meta.url)),
    `${sha256(`${resolve(dir)}\n${preprocessing}`).slice(0, 24)}.bin`,
  );
  let decoded = cacheFile
    ? await readCache(cacheFile, fingerprint, dir)
    : undefined;
  const fromCache = decoded !== undefined;
  decoded ??= await decodeAll(dir, classNames, found, preprocessing);
  if (decoded.skipped.length > 0 && onCorrupt === "fail") {
    const { path, problem } = decoded.skipped[0];
    throw new DatasetError(path, "corrupt-picture", problem);
  }
  if (!fromCache && cacheFile) {
    await writeCache(cacheFile, fingerprint, dir, decoded);
  }
  // A class whose every picture was skipped is empty.
  classNames.forEach((name, label) => {
    if (!decoded.labels.includes(label)) {
      throw new DatasetError(
        join(dir, name),
        "empty-class",
        `class "${name}" has no picture left: every one was corrupt`,
      );
    }
  });
  return {
    ...splitFiles(decoded, validationSplit, seed, dir),
    classNames,
    skipped: decoded.skipped,
    fromCache,
    preprocessing,
    drawnOnPaper: preprocessing === "grey" && looksDrawnOnPaper(decoded.images),
  };
}

/** The class folders of `dir`, sorted, and every picture in them. */
async function scan(
  dir: string,
): Promise<{ classNames: string[]; found: Found[] }> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (cause) {
    throw new DatasetError(dir, "not-a-folder", "no such folder", { cause });
  }
  if (!info.isDirectory) {
    throw new DatasetError(
      dir,
      "not-a-folder",
      "not a folder: give a folder with one sub-folder of pictures per class",
    );
  }
  const classNames: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory && !entry.name.startsWith(".")) {
      classNames.push(entry.name);
    }
  }
  classNames.sort();
  const perClass: Found[][] = [];
  for (const [label, name] of classNames.entries()) {
    const files = await picturesUnder(join(dir, name));
    perClass.push(
      await Promise.all(files.map(async (path) => {
        const { size, mtime } = await Deno.stat(path);
        return { path, label, stamp: `${size}:${mtime?.getTime() ?? 0}` };
      })),
    );
  }
  const total = perClass.reduce((n, files) => n + files.length, 0);
  const layout =
    "expected one sub-folder per class, each holding .png, .jpg or .jpeg pictures";
  if (total === 0) {
    throw new DatasetError(dir, "no-pictures", `no pictures: ${layout}`);
  }
  if (classNames.length < 2) {
    throw new DatasetError(
      dir,
      "one-class",
      `only one class folder (${
        classNames[0]
      }): a data set needs two or more; ${layout}`,
    );
  }
  if (classNames.length > MAX_CLASSES) {
    throw new DatasetError(
      dir,
      "too-many-classes",
      `${classNames.length} class folders, at most ${MAX_CLASSES}`,
    );
  }
  const empty = perClass.findIndex((files) => files.length === 0);
  if (empty >= 0) {
    throw new DatasetError(
      join(dir, classNames[empty]),
      "empty-class",
      `class "${classNames[empty]}" holds no .png, .jpg or .jpeg pictures`,
    );
  }
  return { classNames, found: perClass.flat() };
}

/** The pictures under `folder` and its sub-folders, sorted by path. */
async function picturesUnder(folder: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (at: string, depth: number) => {
    if (depth > 32) return;
    for await (const entry of Deno.readDir(at)) {
      const path = join(at, entry.name);
      if (entry.isDirectory && !entry.name.startsWith(".")) {
        await walk(path, depth + 1);
      } else if (entry.isFile) {
        const dot = entry.name.lastIndexOf(".");
        const ext = dot < 0 ? "" : entry.name.slice(dot).toLowerCase();
        if (IMAGE_EXTENSIONS.includes(ext)) out.push(path);
      }
    }
  };
  await walk(folder, 0);
  return out.sort();
}

/** Reads, decodes and preprocesses every picture; problems are listed. */
async function decodeAll(
  dir: string,
  classNames: string[],
  found: Found[],
  preprocessing: Preprocessing,
): Promise<Decoded> {
  const images = new Uint8Array(found.length * PIXELS);
  const labels: number[] = [], files: string[] = [];
  const skipped: { path: string; problem: string }[] = [];
  for (const { path, label } of found) {
    let pixels: Uint8Array;
    try {
      pixels = pictureToInput(await readImage(path), preprocessing, path);
    } catch (error) {
      if (!(error instanceof ImageError)) throw error;
      skipped.push({ path, problem: error.problem });
      continue;
    }
    images.set(pixels, files.length * PIXELS);
    labels.push(label);
    files.push(relative(dir, path));
  }
  return {
    classNames,
    files,
    labels: Uint8Array.from(labels),
    images: images.slice(0, files.length * PIXELS),
    skipped,
  };
}

/**
 * Keras's split: the pictures shuffled with `seed`, the last
 * `floor(validationSplit · n)` held out for validation.
 */
function splitFiles(
  decoded: Decoded,
  validationSplit: number,
  seed: number,
  dir: string,
): Pick<DirectoryDataset, "train" | "test" | "files"> {
  const n = decoded.files.length;
  const held = Math.floor(validationSplit * n);
  if (held < 1 || held >= n) {
    throw new UsageError(
      `${dir}: ${n} pictures are too few to hold out ${validationSplit} of them for validation`,
    );
  }
  const order = permutation(n, seed);
  const subset = (ids: Uint32Array) => {
    const images = new Uint8Array(ids.length * PIXELS);
    const labels = new Uint8Array(ids.length);
    ids.forEach((id, i) => {
      images.set(
        decoded.images.subarray(id * PIXELS, (id + 1) * PIXELS),
        i * PIXELS,
      );
      labels[i] = decoded.labels[id];
    });
    const split: Split = {
      images,
      labels,
      count: ids.length,
      rows: 28,
      cols: 28,
      numClasses: decoded.classNames.length,
    };
    return {
      split: shareSplit(split),
      files: Array.from(ids, (id) => join(dir, decoded.files[id])),
    };
  };
  const train = subset(order.subarray(0, n - held));
  const test = subset(order.subarray(n - held));
  return {
    train: train.split,
    test: test.split,
    files: { train: train.files, test: test.files },
  };
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * The cache file: a little-endian uint32 header length, the JSON header
 * (fingerprint, class names, files, labels, skipped pictures), then the
 * 784-byte inputs.
 */
async function writeCache(
  path: string,
  fingerprint: string,
  dir: string,
  decoded: Decoded,
): Promise<void> {
  const header = new TextEncoder().encode(JSON.stringify({
    fingerprint,
    classNames: decoded.classNames,
    files: decoded.files,
    labels: Array.from(decoded.labels),
    skipped: decoded.skipped.map((s) => ({
      path: relative(dir, s.path),
      problem: s.problem,
    })),
  }));
  const bytes = new Uint8Array(4 + header.length + decoded.images.length);
  new DataView(bytes.buffer).setUint32(0, header.length, true);
  bytes.set(header, 4);
  bytes.set(decoded.images, 4 + header.length);
  // A cache that cannot be written only costs the next run a decode.
  await writeFileAtomic(path, bytes).catch(() => {});
}

/** The cached inputs when the cache is whole and matches `fingerprint`. */
async function readCache(
  path: string,
  fingerprint: string,
  dir: string,
): Promise<Decoded | undefined> {
  try {
    const bytes = await Deno.readFile(path);
    const length = new DataView(bytes.buffer).getUint32(0, true);
    const header = JSON.parse(
      new TextDecoder().decode(bytes.subarray(4, 4 + length)),
    );
    const images = bytes.subarray(4 + length);
    const n = header.files?.length;
    if (
      header.fingerprint !== fingerprint || !Number.isInteger(n) ||
      header.labels?.length !== n || images.length !== n * PIXELS ||
      !Array.isArray(header.skipped)
    ) {
      return undefined;
    }
    return {
      classNames: header.classNames,
      files: header.files,
      labels: Uint8Array.from(header.labels),
      images,
      skipped: header.skipped.map((s: { path: string; problem: string }) => ({
        path: join(dir, s.path),
        problem: s.problem,
      })),
    };
  } catch {
    return undefined;
  }
}

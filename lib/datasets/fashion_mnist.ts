/**
 * Fashion-MNIST (Zalando's 28×28 grey pictures of clothes in ten classes, a
 * drop-in replacement for MNIST), like `keras.datasets.fashion_mnist`: read
 * from Debian's `dataset-fashion-mnist` package (gzipped IDX files),
 * decompressed into `data/fashion_mnist/` and checked against SHA-256 digests.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cachedDataFile, type Dataset, idxSplit } from "../data.ts";
import { DataError } from "../errors.ts";

/** Where Debian's `dataset-fashion-mnist` package puts the gzipped IDX files. */
export const FASHION_MNIST_SOURCE_DIR = "/usr/share/datasets/fashion-mnist";

/** The one command that installs the source files. */
export const FASHION_MNIST_APT =
  "sudo apt-get install --no-install-recommends dataset-fashion-mnist";

/** The ten classes of Fashion-MNIST, by label. */
export const FASHION_MNIST_CLASS_NAMES: readonly string[] = Object.freeze([
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
]);

/** SHA-256 digests and sizes of the uncompressed IDX files. */
export const FASHION_MNIST_DIGESTS: Readonly<
  Record<string, { sha256: string; bytes: number }>
> = {
  "train-images-idx3-ubyte": {
    sha256: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    bytes: 47040016,
  },
  "train-labels-idx1-ubyte": {
    sha256: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    bytes: 60008,
  },
  "t10k-images-idx3-ubyte": {
    sha256: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    bytes: 7840016,
  },
  "t10k-labels-idx1-ubyte": {
    sha256: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    bytes: 10008,
  },
};

/** Options of {@linkcode loadFashionMnist}. */
export interface FashionMnistOptions {
  /** Where the decompressed files are cached; default `data/fashion_mnist`. */
  cacheDir?: string;
  /** Where the `.gz` files are; default {@linkcode FASHION_MNIST_SOURCE_DIR}. */
  sourceDir?: string;
}

/**
 * Loads Fashion-MNIST like `keras.datasets.fashion_mnist.load_data()`: 60,000
 * training and 10,000 test pictures with their labels, in shared memory, and
 * the ten class names.
 *
 * @throws {DataError} naming the file: the package is missing (with the apt
 * command that installs it), a file is corrupt, or the cache cannot be written.
 * @example
 * ```ts ignore
 * // needs Debian's dataset-fashion-mnist package
 * import { assertEquals } from "@std/assert";
 * import { loadFashionMnist } from "./fashion_mnist.ts";
 * const { train, test, classNames } = await loadFashionMnist();
 * assertEquals([train.count, test.count, classNames[9]], [60000, 10000, "Ankle boot"]);
 * ```
 */
export async function loadFashionMnist(
  options: FashionMnistOptions = {},
): Promise<Dataset> {
  const cacheDir = options.cacheDir ??
    fileURLToPath(new URL("../../data/fashion_mnist/", import.meta.url));
  const sourceDir = options.sourceDir ?? FASHION_MNIST_SOURCE_DIR;
  const file = (name: string) => {
    const { sha256, bytes } = FASHION_MNIST_DIGESTS[name];
    const gz = join(sourceDir, `${name}.gz`);
    return cachedDataFile(join(cacheDir, name), sha256, {
      path: gz,
      read: () => gunzip(gz, bytes),
      fix: `reinstall it: ${
        FASHION_MNIST_APT.replace("install", "install --reinstall")
      }`,
    });
  };
  const split = async (prefix: string) => {
    const images = `${prefix}-images-idx3-ubyte`;
    const labels = `${prefix}-labels-idx1-ubyte`;
    // The small labels file first: a broken package fails fast.
    const labelBytes = await file(labels);
    return idxSplit(
      await file(images),
      join(cacheDir, images),
      labelBytes,
      join(cacheDir, labels),
    );
  };
  return {
    train: await split("train"),
    test: await split("t10k"),
    classNames: [...FASHION_MNIST_CLASS_NAMES],
  };
}

/**
 * The decompressed bytes of the gzip file `path`, reading at most one byte
 * more than the `expected` size (a longer file is corrupt, and a gzip bomb
 * stops there).
 */
async function gunzip(
  path: string,
  expected: number,
): Promise<Uint8Array<ArrayBuffer>> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (cause) {
    const problem = cause instanceof Deno.errors.NotFound
      ? `missing: Fashion-MNIST comes from Debian's dataset-fashion-mnist package; install it with \`${FASHION_MNIST_APT}\``
      : `cannot read: ${cause}`;
    throw new DataError(path, problem, { cause });
  }
  const out = new Uint8Array(expected + 1);
  let length = 0;
  try {
    const stream = file.readable.pipeThrough(
      new DecompressionStream("gzip"),
    );
    for await (const chunk of stream) {
      const room = out.length - length;
      out.set(chunk.subarray(0, room), length);
      length += Math.min(room, chunk.length);
      if (length > expected) break;
    }
  } catch (cause) {
    throw new DataError(
      path,
      `not a whole gzip file (${
        (cause as Error).message
      }); reinstall the package: ${FASHION_MNIST_APT}`,
      { cause },
    );
  }
  if (length > expected) {
    throw new DataError(
      path,
      `decompresses to more than the ${expected} bytes of Fashion-MNIST's file; reinstall it: ${FASHION_MNIST_APT}`,
    );
  }
  return out.subarray(0, length);
}

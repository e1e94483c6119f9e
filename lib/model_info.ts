/**
 * What a model knows of the data it was trained on, kept with the model in
 * its user metadata (so `saveModel` writes it into `model.json`, and Keras
 * files keep it too): the name of each class and how pictures are made into
 * its inputs. `train` records them from the data set.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, initBackend } from "./mod.ts";
 * import { classNamesOf, setPreprocessing, preprocessingOf } from "./model_info.ts";
 * await initBackend();
 * const model = buildModel({ numClasses: 3 });
 * assertEquals(classNamesOf(model), ["0", "1", "2"]);
 * setPreprocessing(model, "grey");
 * assertEquals(preprocessingOf(model), "grey");
 * ```
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { defaultClassNames } from "./data.ts";
import { UsageError } from "./errors.ts";

/**
 * The number of classes a model tells apart: the size of its output.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, initBackend } from "./mod.ts";
 * import { numClassesOf } from "./model_info.ts";
 * await initBackend();
 * assertEquals(numClassesOf(buildModel({ numClasses: 4 })), 4);
 * ```
 */
export function numClassesOf(model: tf.LayersModel): number {
  return model.outputs[0].shape.at(-1) ?? 10;
}

/**
 * The name of each class `model` predicts, by index: the names it was
 * trained and saved with, or `"0"`, `"1"`, … (MNIST's digits for a model
 * of ten classes) for a model saved without any.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, classNamesOf, initBackend, setClassNames } from "./mod.ts";
 * await initBackend();
 * const model = buildModel({ seed: 1 });
 * assertEquals(classNamesOf(model)[9], "9");
 * setClassNames(model, ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]);
 * assertEquals(classNamesOf(model)[9], "nine");
 * ```
 */
export function classNamesOf(model: tf.LayersModel): string[] {
  const n = numClassesOf(model);
  const names = (model.getUserDefinedMetadata() as
    | { classNames?: unknown }
    | undefined)?.classNames;
  return Array.isArray(names) && names.length === n &&
      names.every((name) => typeof name === "string")
    ? [...names]
    : defaultClassNames(n);
}

/**
 * How pictures are made into inputs for `model`: `"grey"` (a plain grey
 * resize) when it was trained on a folder prepared so, else `"mnist"` (the
 * digit preprocessing).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, initBackend, preprocessingOf } from "./mod.ts";
 * await initBackend();
 * assertEquals(preprocessingOf(buildModel()), "mnist");
 * ```
 */
export function preprocessingOf(model: tf.LayersModel): "grey" | "mnist" {
  const meta = model.getUserDefinedMetadata() as
    | { preprocessing?: unknown }
    | undefined;
  return meta?.preprocessing === "grey" ? "grey" : "mnist";
}

/**
 * Records the name of each class with `model` (in its user metadata, so that
 * `saveModel` writes them into `model.json`).
 *
 * @throws {UsageError} when there is not one name per output of the model,
 * or a name is empty or repeated.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, classNamesOf, initBackend, setClassNames } from "./mod.ts";
 * await initBackend();
 * const model = buildModel({ numClasses: 2 });
 * setClassNames(model, ["cat", "dog"]);
 * assertEquals(classNamesOf(model), ["cat", "dog"]);
 * ```
 */
export function setClassNames(model: tf.LayersModel, names: string[]): void {
  const n = numClassesOf(model);
  if (names.length !== n) {
    throw new UsageError(
      `the model tells ${n} classes apart, but ${names.length} class names were given`,
    );
  }
  const bad = names.find((name, i) =>
    typeof name !== "string" || name === "" || names.indexOf(name) !== i
  );
  if (bad !== undefined) {
    throw new UsageError(
      `class names must be distinct and non-empty, got ${JSON.stringify(bad)}`,
    );
  }
  model.setUserDefinedMetadata({
    ...(model.getUserDefinedMetadata() ?? {}),
    classNames: [...names],
  });
}

/**
 * Records how pictures are made into inputs for `model` (`"grey"` or
 * `"mnist"`), as {@linkcode preprocessingOf} reads it back.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, initBackend } from "./mod.ts";
 * import { preprocessingOf, setPreprocessing } from "./model_info.ts";
 * await initBackend();
 * const model = buildModel();
 * setPreprocessing(model, "grey");
 * assertEquals(preprocessingOf(model), "grey");
 * ```
 */
export function setPreprocessing(
  model: tf.LayersModel,
  preprocessing: "grey" | "mnist",
): void {
  model.setUserDefinedMetadata({
    ...(model.getUserDefinedMetadata() ?? {}),
    preprocessing,
  });
}

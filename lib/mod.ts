/**
 * The Keras "MNIST CNN" tutorial as a TypeScript library for Deno, on
 * TensorFlow.js's WASM backend: load MNIST, build the CNN, train, save,
 * reload, predict; show each step in a notebook; read your own pictures of
 * digits; read and write Keras and ONNX files.
 *
 * This module is the public API: what a notebook or a user's script needs.
 * The building blocks (the training engine, the kernels, IDX parsing, chart
 * internals, Keras config translation, the server) are importable from their
 * own modules (`lib/engine/pool.ts`, `lib/kernels/mod.ts`, `lib/server/mod.ts`,
 * …); see docs/design.md.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, initBackend, predictClasses } from "./mod.ts";
 * await initBackend();
 * const model = buildModel({ seed: 42 });
 * assertEquals(model.countParams(), 1199882);
 * const blank = {
 *   images: new Uint8Array(784),
 *   labels: new Uint8Array(1),
 *   count: 1,
 *   rows: 28,
 *   cols: 28,
 * } as const;
 * assertEquals((await predictClasses(model, blank, { count: 1 })).length, 1);
 * ```
 *
 * @example The whole tutorial (a full epoch on MNIST, about a minute)
 * ```ts ignore
 * // ignored: a full epoch on MNIST, about a minute (tests/acceptance_test.ts runs it)
 * import * as mnist from "./mod.ts";
 * await mnist.initBackend();
 * const data = await mnist.loadMnist();
 * const model = mnist.buildModel({ seed: 2 });
 * await mnist.train(model, data, { epochs: 1, seed: 2 });
 * const dir = await mnist.saveModel(model);
 * const reloaded = await mnist.loadModel(dir);
 * console.log((await mnist.predictClasses(reloaded, data.train)).join(" "));
 * ```
 *
 * @module
 */

// Errors, for callers that branch on them.
export {
  BackendError,
  DataError,
  DatasetError,
  type DatasetErrorKind,
  FileError,
  GpuError,
  type GpuErrorKind,
  ImageError,
  type ImageErrorKind,
  Interrupted,
  MnistCnnError,
  ModelFileError,
  TrainingError,
  type TrainingErrorKind,
  TrainingInterrupted,
  UsageError,
} from "./errors.ts";

// The tutorial's steps.
export {
  type BackendName,
  BACKENDS,
  gpuAdapterName,
  initBackend,
} from "./backend.ts";
export {
  type Dataset,
  loadMnist,
  MNIST_CLASS_NAMES,
  type Split,
} from "./data.ts";
export {
  buildModel,
  type BuildModelOptions,
  formatSummary,
  INPUT_SHAPE,
  NUM_CLASSES,
  type OptimizerName,
} from "./model.ts";
export { KerasAdadelta } from "./engine/optimizer.ts";
export {
  type EpochLog,
  evaluate,
  type Evaluation,
  type StepLog,
  train,
  type TrainOptions,
  type TrainResult,
} from "./training.ts";
export { type AugmentOptions, DEFAULT_AUGMENT } from "./engine/augment.ts";
export type { ProgressSink } from "./jupyter/progress.ts";
export {
  DEFAULT_MODEL_DIR,
  loadModel,
  saveModel,
  type SaveOptions,
} from "./saving.ts";
export {
  classNamesOf,
  numClassesOf,
  preprocessingOf,
  setClassNames,
  setPreprocessing,
} from "./model_info.ts";
export {
  predictClasses,
  predictInputs,
  type Prediction,
  type PredictOptions,
  predictProbabilities,
} from "./predict.ts";

// Showing each step in a notebook.
export {
  digitsBundle,
  metricsBundle,
  type PictureResult,
  picturesBundle,
  showDigits,
  type ShowDigitsOptions,
  showMetrics,
  showPictures,
  showSummary,
  showTable,
  type ShowTableOptions,
  summaryBundle,
  tableBundle,
} from "./display.ts";
export { display, type MimeBundle, published } from "./jupyter/mod.ts";
export {
  type Classified,
  classify,
  type ClassMetrics,
  classMetrics,
  classMetricsBundle,
  confusionMatrix,
  confusionMatrixBundle,
  type LiveChart,
  liveTrainingChart,
  type Mistake,
  mistakesBundle,
  reportHtml,
  type ReportInput,
  showClassMetrics,
  showConfusionMatrix,
  showMistakes,
  showTrainingChart,
  trainingChartBundle,
  worstMistakes,
  writeReport,
} from "./charts/mod.ts";
export {
  type History,
  readHistory,
  saveHistory,
} from "./checkpoint/history.ts";

// Your own pictures of digits.
export {
  decodeImage,
  listImages,
  type PreprocessOptions,
  readImage,
  type RgbaImage,
  toMnistInput,
} from "./image/mod.ts";

// Other data sets: Fashion-MNIST, your own labelled folders.
export {
  type DatasetName,
  type DirectoryDataset,
  type DirectoryOptions,
  FASHION_MNIST_CLASS_NAMES,
  imageDatasetFromDirectory,
  loadDataset,
  pictureToInput,
  type Preprocessing,
  writeSampleFolder,
} from "./datasets/mod.ts";
export { resizeGrey } from "./image/resize.ts";

// Keras files.
export { loadKeras, saveKeras } from "./keras/mod.ts";
// ONNX files.
export { loadOnnx, saveOnnx } from "./onnx/mod.ts";

// Looking inside the model (docs/inside.md).
export {
  activations,
  convFilters,
  digitInputs,
  explain,
  type Explanation,
  explanationsBundle,
  featureMapsBundle,
  filtersBundle,
  gradCam,
  type GradCamResult,
  occlusion,
  type OcclusionResult,
  saliency,
  showExplanations,
  showFeatureMaps,
  showFilters,
} from "./inside/mod.ts";

/**
 * The tutorial's model, exactly as Keras's `mnist_cnn.py` builds it.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { KerasAdadelta } from "./engine/optimizer.ts";
import { deriveKey } from "./engine/random.ts";
import { IMAGE_SIDE } from "./data.ts";
import { UsageError } from "./errors.ts";

/** Number of classes (digits 0–9). */
export const NUM_CLASSES = 10;
/** Input shape of one image: height, width, channels. */
export const INPUT_SHAPE: [number, number, number] = [
  IMAGE_SIDE,
  IMAGE_SIDE,
  1,
];

/**
 * Optimizers by name, with Keras's defaults: `"adadelta"` is the tutorial's
 * (Keras's Adadelta, lr 1.0, ρ 0.95, ε 1e-7), `"adam"` Adam(0.001, 0.9,
 * 0.999, 1e-7), `"sgd"` SGD(0.01). Training applies each on flat arrays on
 * every thread (the fast path).
 */
export type OptimizerName = "adadelta" | "adam" | "sgd";

/** Options of {@linkcode buildModel}. */
export interface BuildModelOptions {
  /** Seed of the Glorot-uniform kernel initialisers; random when omitted. */
  seed?: number;
  /**
   * Classes to tell apart, the size of the last layer: default
   * {@linkcode NUM_CLASSES} (MNIST's digits); a data set's
   * `classNames.length` for another.
   */
  numClasses?: number;
  /**
   * The optimizer: a name ({@linkcode OptimizerName}) or any tfjs optimizer,
   * e.g. `tf.train.adam(0.0005)`; default the tutorial's Adadelta. Keras's
   * Adadelta, SGD and Adam train on the fast path; another optimizer trains
   * on a slower one, with a one-line warning when training starts.
   */
  optimizer?: tf.Optimizer | OptimizerName;
  /**
   * Keep the tutorial's two Dropout layers (default true); `false` sets
   * their rates to 0, the same layers and parameters without dropout, to
   * compare.
   */
  dropout?: boolean;
}

/**
 * Builds and compiles the tutorial's CNN: Conv2D(32, 3x3, relu),
 * Conv2D(64, 3x3, relu), MaxPool(2x2), Dropout(0.25), Flatten,
 * Dense(128, relu), Dropout(0.5), Dense(10, softmax); Glorot-uniform kernels
 * and zero biases as Keras (tfjs defaults to Glorot-normal); Adadelta with
 * Keras's settings (lr 1.0, rho 0.95, epsilon 1e-7) and update rule
 * ({@linkcode KerasAdadelta}); categorical
 * cross-entropy; accuracy. 1,199,882 parameters.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel } from "./model.ts";
 * const model = buildModel({ seed: 42 });
 * assertEquals(model.countParams(), 1199882);
 * assertEquals(model.optimizer.getClassName(), "Adadelta");
 * assertEquals(buildModel({ optimizer: "adam" }).optimizer.getClassName(), "Adam");
 * const rates = (m: typeof model) =>
 *   m.layers.filter((l) => l.getClassName() === "Dropout").map((l) => l.getConfig().rate);
 * assertEquals(rates(model), [0.25, 0.5]);
 * assertEquals(rates(buildModel({ dropout: false })), [0, 0]);
 * ```
 */
export function buildModel(options: BuildModelOptions = {}): tf.Sequential {
  const numClasses = options.numClasses ?? NUM_CLASSES;
  const dropout = options.dropout ?? true;
  if (!Number.isInteger(numClasses) || numClasses < 2 || numClasses > 256) {
    throw new UsageError(
      `numClasses must be a whole number from 2 to 256, got ${numClasses}`,
    );
  }
  const init = (layer: number) =>
    tf.initializers.glorotUniform({
      seed: options.seed === undefined
        ? undefined
        : deriveKey(options.seed, -1, layer),
    });
  const model = tf.sequential({
    name: "sequential",
    layers: [
      tf.layers.conv2d({
        name: "conv2d",
        inputShape: INPUT_SHAPE,
        filters: 32,
        kernelSize: 3,
        activation: "relu",
        kernelInitializer: init(0),
      }),
      tf.layers.conv2d({
        name: "conv2d_1",
        filters: 64,
        kernelSize: 3,
        activation: "relu",
        kernelInitializer: init(1),
      }),
      tf.layers.maxPooling2d({ name: "max_pooling2d", poolSize: 2 }),
      tf.layers.dropout({ name: "dropout", rate: dropout ? 0.25 : 0 }),
      tf.layers.flatten({ name: "flatten" }),
      tf.layers.dense({
        name: "dense",
        units: 128,
        activation: "relu",
        kernelInitializer: init(2),
      }),
      tf.layers.dropout({ name: "dropout_1", rate: dropout ? 0.5 : 0 }),
      tf.layers.dense({
        name: "dense_1",
        units: numClasses,
        activation: "softmax",
        kernelInitializer: init(3),
      }),
    ],
  });
  compileModel(model, options.optimizer);
  return model;
}

/**
 * Compiles `model` as the tutorial does: categorical cross-entropy, accuracy,
 * and `optimizer` (default Keras's Adadelta(1.0, 0.95, 1e-7)).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { assertEquals } from "@std/assert";
 * import { buildModel, compileModel } from "./model.ts";
 * const model = buildModel();
 * compileModel(model, tf.train.sgd(0.1));
 * assertEquals(model.optimizer.getClassName(), "SGD");
 * ```
 */
export function compileModel(
  model: tf.LayersModel,
  optimizer: tf.Optimizer | OptimizerName = "adadelta",
): void {
  model.compile({
    optimizer: typeof optimizer === "string"
      ? namedOptimizer(optimizer)
      : optimizer,
    loss: "categoricalCrossentropy",
    metrics: ["accuracy"],
  });
}

function namedOptimizer(name: OptimizerName): tf.Optimizer {
  switch (name) {
    case "adadelta":
      return new KerasAdadelta(1.0, 0.95, 1e-7);
    case "adam":
      return tf.train.adam(0.001, 0.9, 0.999, 1e-7);
    case "sgd":
      return tf.train.sgd(0.01);
    default:
      throw new UsageError(
        `unknown optimizer ${
          JSON.stringify(name)
        }: use "adadelta", "adam", "sgd" or a tfjs optimizer`,
      );
  }
}

/** One row of a model summary. */
export interface SummaryRow {
  /** Layer name, e.g. `conv2d`. */
  layer: string;
  /** Layer class, e.g. `Conv2D`. */
  type: string;
  /** Output shape as Keras prints it, e.g. `(None, 26, 26, 32)`. */
  outputShape: string;
  /** Number of parameters. */
  params: number;
}

/** Returns the model's layers as summary rows (for tables). */
export function summaryRows(model: tf.LayersModel): SummaryRow[] {
  return model.layers.map((layer) => ({
    layer: layer.name,
    type: layer.getClassName(),
    outputShape: `(${
      (layer.outputShape as (number | null)[]).map((d) => d ?? "None").join(
        ", ",
      )
    })`,
    params: layer.countParams(),
  }));
}

/**
 * Returns the Keras-style text summary of `model`, as `model.summary()`
 * prints it in Keras.
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { buildModel, formatSummary } from "./model.ts";
 * const summary = formatSummary(buildModel());
 * assertStringIncludes(summary, "conv2d_1 (Conv2D)            (None, 24, 24, 64)        18,496");
 * assertStringIncludes(summary, "Total params: 1,199,882");
 * ```
 */
export function formatSummary(model: tf.LayersModel): string {
  const row = (a: string, b: string, c: string) =>
    a.padEnd(29) + b.padEnd(26) + c;
  const rule = (ch: string) => ch.repeat(65);
  const rows = summaryRows(model);
  const total = rows.reduce((n, r) => n + r.params, 0);
  const trainable = model.trainableWeights.reduce(
    (n, w) => n + (w.shape as number[]).reduce((a, b) => a * b, 1),
    0,
  );
  const lines = [
    `Model: "${model.name}"`,
    rule("_"),
    row("Layer (type)", "Output Shape", "Param #"),
    rule("="),
  ];
  rows.forEach((r, i) => {
    lines.push(
      row(
        `${r.layer} (${r.type})`,
        r.outputShape,
        r.params.toLocaleString("en-US"),
      ),
    );
    lines.push(rule(i === rows.length - 1 ? "=" : "_"));
  });
  lines.push(
    `Total params: ${total.toLocaleString("en-US")}`,
    `Trainable params: ${trainable.toLocaleString("en-US")}`,
    `Non-trainable params: ${(total - trainable).toLocaleString("en-US")}`,
    rule("_"),
  );
  return lines.join("\n");
}

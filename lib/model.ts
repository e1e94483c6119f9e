/**
 * The tutorial's model, exactly as Keras's `mnist_cnn.py` builds it.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { KerasAdadelta } from "./engine/optimizer.ts";
import { deriveKey } from "./engine/random.ts";
import { UsageError } from "./errors.ts";

/** Number of classes (digits 0–9). */
export const NUM_CLASSES = 10;
/** Input shape of one image: height, width, channels. */
export const INPUT_SHAPE: [number, number, number] = [28, 28, 1];

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
 * import { buildModel } from "./model.ts";
 * const model = buildModel({ seed: 42 });
 * console.log(model.countParams()); // 1199882
 * ```
 */
export function buildModel(options: BuildModelOptions = {}): tf.Sequential {
  const numClasses = options.numClasses ?? NUM_CLASSES;
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
      tf.layers.dropout({ name: "dropout", rate: 0.25 }),
      tf.layers.flatten({ name: "flatten" }),
      tf.layers.dense({
        name: "dense",
        units: 128,
        activation: "relu",
        kernelInitializer: init(2),
      }),
      tf.layers.dropout({ name: "dropout_1", rate: 0.5 }),
      tf.layers.dense({
        name: "dense_1",
        units: numClasses,
        activation: "softmax",
        kernelInitializer: init(3),
      }),
    ],
  });
  compileModel(model);
  return model;
}

/**
 * Compiles `model` as the tutorial does: Adadelta(1.0, 0.95, 1e-7),
 * categorical cross-entropy, accuracy.
 */
export function compileModel(model: tf.LayersModel): void {
  model.compile({
    optimizer: new KerasAdadelta(1.0, 0.95, 1e-7),
    loss: "categoricalCrossentropy",
    metrics: ["accuracy"],
  });
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
 * import { buildModel, formatSummary } from "./model.ts";
 * console.log(formatSummary(buildModel()));
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

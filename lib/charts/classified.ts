/**
 * A model's predictions on a whole data split, and what a learner looks at
 * next: the confusion matrix, precision, recall and F1 per class, and the
 * mistakes the model makes with the most confidence.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { Split } from "../data.ts";
import { type Prediction, predictProbabilities } from "../predict.ts";
import { classNamesOf } from "../model_info.ts";
import { defaultClassNames } from "../data.ts";

/** Every sample's label, predicted class and the probability given to it. */
export interface Classified {
  /** True labels. */
  labels: number[];
  /** Predicted classes. */
  classes: number[];
  /** The probability the model gave its predicted class. */
  confidence: number[];
  /**
   * The name of each class, as the model was saved with them; the digits
   * `"0"`..`"9"` when omitted.
   */
  classNames?: string[];
}

/** The class names of `results`: its own, else the digits. */
export function classNamesIn(results: Classified): string[] {
  return results.classNames ?? defaultClassNames(10);
}

/**
 * Classifies every sample of `split` (e.g. the 10,000 test images), with the
 * class names the model was saved with.
 *
 * @throws {Interrupted} at an interrupt (Jupyter's Stop), between batches.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, initBackend } from "../mod.ts";
 * import { classify } from "./classified.ts";
 * await initBackend();
 * const split = {
 *   images: new Uint8Array(2 * 784),
 *   labels: new Uint8Array([3, 7]),
 *   count: 2,
 *   rows: 28,
 *   cols: 28,
 * } as const;
 * const results = await classify(buildModel({ seed: 1 }), split);
 * assertEquals(results.labels, [3, 7]);
 * assertEquals(results.classes.length, 2);
 * ```
 */
export async function classify(
  model: tf.LayersModel,
  split: Split,
): Promise<Classified> {
  const prediction = await predictProbabilities(model, split, {
    start: 0,
    count: split.count,
    operation: "classify",
  });
  return classified(model, split, prediction);
}

function classified(
  model: tf.LayersModel,
  split: Split,
  { classes, probabilities }: Prediction,
): Classified {
  return {
    labels: Array.from(split.labels),
    classes,
    confidence: probabilities.map((p, i) => p[classes[i]]),
    classNames: classNamesOf(model),
  };
}

/**
 * The confusion matrix, one row and column per class (10×10 for MNIST):
 * `matrix[label][predicted]` counts samples.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { confusionMatrix } from "./classified.ts";
 * const matrix = confusionMatrix({
 *   labels: [1, 1],
 *   classes: [1, 7],
 *   confidence: [1, 1],
 * });
 * assertEquals(matrix[1][1], 1); // a 1 read as 1
 * assertEquals(matrix[1][7], 1); // a 1 read as 7
 * ```
 */
export function confusionMatrix(results: Classified): number[][] {
  const n = classNamesIn(results).length;
  const matrix = Array.from(
    { length: n },
    () => new Array<number>(n).fill(0),
  );
  results.labels.forEach((label, i) => matrix[label][results.classes[i]]++);
  return matrix;
}

/** Precision, recall and F1 of one class. */
export interface ClassMetrics {
  /** The class's label (the digit, for MNIST). */
  digit: number;
  /** Of the samples predicted as this digit, the share that are it. */
  precision: number;
  /** Of the samples of this digit, the share predicted as it. */
  recall: number;
  /** Harmonic mean of precision and recall. */
  f1: number;
  /** Samples of this digit. */
  support: number;
}

/** Precision, recall, F1 and support per class, from a confusion matrix. */
export function classMetrics(matrix: number[][]): ClassMetrics[] {
  return matrix.map((row, digit) => {
    const support = row.reduce((a, b) => a + b, 0);
    const predicted = matrix.reduce((a, r) => a + r[digit], 0);
    const right = row[digit];
    const precision = predicted ? right / predicted : 0;
    const recall = support ? right / support : 0;
    const f1 = precision + recall
      ? (2 * precision * recall) / (precision + recall)
      : 0;
    return { digit, precision, recall, f1, support };
  });
}

/** One wrong prediction. */
export interface Mistake {
  /** Index of the sample in its split. */
  index: number;
  /** Its true label. */
  label: number;
  /** What the model predicted. */
  predicted: number;
  /** The probability the model gave its wrong answer. */
  probability: number;
}

/** The `count` wrong predictions made with the highest probability. */
export function worstMistakes(results: Classified, count = 12): Mistake[] {
  const wrong: Mistake[] = [];
  results.labels.forEach((label, index) => {
    if (results.classes[index] !== label) {
      wrong.push({
        index,
        label,
        predicted: results.classes[index],
        probability: results.confidence[index],
      });
    }
  });
  return wrong.sort((a, b) => b.probability - a.probability).slice(0, count);
}

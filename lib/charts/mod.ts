/**
 * Pictures, not numbers: the training history (`history.csv` as Keras's
 * CSVLogger writes it), training curves (live in notebooks), the confusion
 * matrix, per-class precision/recall/F1, the most confident mistakes, and a
 * self-contained `report.html` — charts drawn by Observable Plot as SVG.
 *
 * @example
 * ```ts
 * import { classify, showConfusionMatrix } from "./mod.ts";
 * // const results = classify(model, mnist.test);
 * // showConfusionMatrix(results);
 * ```
 *
 * @module
 */
export * from "./classified.ts";
export * from "./curves.ts";
export * from "./heatmap.ts";
export * from "./history.ts";
export * from "./report.ts";
export * from "./show.ts";

/**
 * Pictures, not numbers: training curves (live in notebooks; the history
 * they draw is the checkpoint's, `lib/checkpoint/history.ts`), the confusion
 * matrix, per-class precision/recall/F1, the most confident mistakes, and a
 * self-contained `report.html` — charts drawn by Observable Plot as SVG.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { classMetrics, confusionMatrix, confusionMatrixBundle } from "./mod.ts";
 * // Three test images: two 1s (one read as 7) and a 7.
 * const results = { labels: [1, 1, 7], classes: [1, 7, 7], confidence: [1, 1, 1] };
 * const metrics = classMetrics(confusionMatrix(results));
 * assertEquals(metrics[1].recall, 0.5);
 * assertEquals(metrics[7].precision, 0.5);
 * assertEquals(Object.keys(confusionMatrixBundle(results)).sort(), ["image/svg+xml", "text/html", "text/plain"]);
 * ```
 *
 * @module
 */
export * from "./classified.ts";
export * from "./curves.ts";
export * from "./heatmap.ts";
export * from "./report.ts";
export * from "./show.ts";

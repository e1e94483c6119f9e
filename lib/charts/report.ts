/**
 * `report.html`: a self-contained page (inline SVG and images, no scripts,
 * fonts or links to fetch) with a trained model's curves, confusion matrix,
 * per-class table and most confident mistakes, and, given the model, the
 * explanations of those mistakes; written atomically.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { Split } from "../data.ts";
import { digitInputs } from "../inside/network.ts";
import {
  explainDigits,
  explainedHtml,
  EXPLANATION_BARS,
} from "../inside/show.ts";
import { ModelFileError } from "../errors.ts";
import { writeFileAtomic } from "../files.ts";
import { escapeHtml } from "../html.ts";
import {
  type Classified,
  classMetrics,
  classNamesIn,
  confusionMatrix,
  worstMistakes,
} from "./classified.ts";
import { trainingChart } from "./curves.ts";
import { confusionChart } from "./heatmap.ts";
import type { History } from "../checkpoint/history.ts";
import { mistakesHtml } from "./show.ts";

/** What {@linkcode reportHtml} shows. */
export interface ReportInput {
  /** The page title (e.g. the model's directory). */
  title: string;
  /** The run's history (may be empty). */
  history: History;
  /** The model's predictions on the test split. */
  results: Classified;
  /** The test split, for the mistakes' images. */
  split: Split;
  /** The data set's name, said with the accuracy (e.g. `fashion_mnist`). */
  datasetName?: string;
  /**
   * The model: when given, the report explains its most confident mistakes
   * (saliency, SmoothGrad, Grad-CAM, occlusion; see docs/inside.md).
   */
  model?: tf.LayersModel;
  /** How many mistakes to explain (default 8). */
  explained?: number;
}

/** The explanations of the most confident mistakes, as HTML. */
function mistakesExplained(input: ReportInput): string {
  const mistakes = worstMistakes(input.results, input.explained ?? 8);
  if (!input.model || mistakes.length === 0) return "";
  const { digits } = explainDigits(
    input.model,
    digitInputs(input.split, mistakes.map((m) => m.index)),
    {
      labels: mistakes.map((m) => m.label),
      captions: mistakes.map((m) => `#${m.index}`),
    },
  );
  return `<h2>Why: the mistakes explained</h2>
<p>Each map explains the class the model wrongly chose, laid over the digit:
saliency and SmoothGrad (the gradient of that class's score with respect to
each pixel, plain and averaged over 25 noisy copies), Grad-CAM on the last conv
layer, and occlusion (the probability lost when a 6×6 patch is hidden).</p>
<div id="explained">${explainedHtml(digits, { bars: EXPLANATION_BARS })}</div>`;
}

/**
 * The report as one HTML document.
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { reportHtml } from "../mod.ts";
 * const split = {
 *   images: new Uint8Array(2 * 784),
 *   labels: new Uint8Array([1, 7]),
 *   count: 2,
 *   rows: 28,
 *   cols: 28,
 * } as const;
 * const html = reportHtml({
 *   title: "models/mnist_cnn",
 *   history: { epochs: [], steps: [] },
 *   results: { labels: [1, 7], classes: [1, 1], confidence: [0.9, 0.8] },
 *   split,
 * });
 * assertStringIncludes(html, "<!doctype html>");
 * assertStringIncludes(html, "models/mnist_cnn");
 * ```
 */
export function reportHtml(input: ReportInput): string {
  const { history, results } = input;
  const matrix = confusionMatrix(results);
  const names = classNamesIn(results);
  const right =
    results.labels.filter((l, i) => l === results.classes[i]).length;
  const rows = classMetrics(matrix).map((m) =>
    `<tr><td>${escapeHtml(names[m.digit])}</td><td>${
      m.precision.toFixed(4)
    }</td><td>${m.recall.toFixed(4)}</td><td>${
      m.f1.toFixed(4)
    }</td><td>${m.support}</td></tr>`
  ).join("");
  const curves = history.steps.length > 0
    ? `<figure id="curves">${trainingChart(history)}</figure>`
    : "<p>No training history was saved with this model.</p>";
  const epochs = history.epochs.map((e) =>
    `<tr><td>${e.epoch + 1}</td><td>${e.loss.toFixed(4)}</td><td>${
      e.acc.toFixed(4)
    }</td><td>${e.val_loss.toFixed(4)}</td><td>${
      e.val_acc.toFixed(4)
    }</td></tr>`
  ).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Training report: ${escapeHtml(input.title)}</title>
<style>
body { font-family: system-ui, sans-serif; color: #212529; max-width: 960px; margin: 24px auto; padding: 0 16px; }
table { border-collapse: collapse; } td, th { padding: 3px 10px; text-align: right; border-bottom: 1px solid #dee2e6; }
figure { margin: 0; } h2 { margin-top: 32px; }
</style></head><body>
<h1>Training report</h1>
<p>${
    escapeHtml(input.title)
  }: <b>${right}</b> of ${results.labels.length} test images${
    input.datasetName ? ` of ${escapeHtml(input.datasetName)}` : ""
  } right
(accuracy ${(right / results.labels.length).toFixed(4)}).</p>
<h2>Loss and accuracy</h2>
${curves}
${
    epochs
      ? `<table><tr><th>epoch</th><th>loss</th><th>acc</th><th>val_loss</th><th>val_acc</th></tr>${epochs}</table>`
      : ""
  }
<h2>Confusion matrix</h2>
<figure id="confusion">${confusionChart(matrix, names)}</figure>
<h2>Per class</h2>
<table id="per-class"><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>${rows}</table>
<h2>The most confident mistakes</h2>
<div id="mistakes">${mistakesHtml(input.split, results, 24)}</div>
${mistakesExplained(input)}
</body></html>
`;
}

/**
 * Writes `html` to `path` through a temporary file and a rename.
 *
 * @throws {ModelFileError} when it cannot be written.
 */
export async function writeReport(path: string, html: string): Promise<void> {
  try {
    await writeFileAtomic(path, html);
  } catch (error) {
    throw new ModelFileError(
      path,
      `could not write the report: ${(error as Error).message}`,
    );
  }
}

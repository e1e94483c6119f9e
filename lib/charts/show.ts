/**
 * Charts in notebooks: each `…Bundle` function returns a MIME bundle, as SVG
 * where it is a chart, so a saved notebook shows it in JupyterLab, VS Code,
 * `nbconvert --to html` and on GitHub alike; its `show…` twin shows it in the
 * running cell and resolves once the kernel has published it there. The live
 * training chart updates one output in place while `train()` runs.
 *
 * @module
 */
import {
  display,
  displayable,
  displayLive,
  isJupyterKernel,
  type MimeBundle,
} from "../jupyter/mod.ts";
import { IMAGE_PIXELS, IMAGE_SIDE, type Split } from "../data.ts";
import { gridTable, tableBundle } from "../display.ts";
import { encodePng, upscale } from "../image/encode.ts";
import { base64, escapeHtml } from "../html.ts";
import type { EpochLog, StepLog } from "../training.ts";
import {
  type Classified,
  classMetrics,
  classNamesIn,
  confusionMatrix,
  worstMistakes,
} from "./classified.ts";
import { trainingChart, type TrainingChartOptions } from "./curves.ts";
import { confusionChart } from "./heatmap.ts";
import type { History } from "../checkpoint/history.ts";

/**
 * A chart's MIME bundle: the SVG itself (`image/svg+xml`), the same SVG as
 * an `<img>` (`text/html`: frontends and `nbconvert` that rank HTML first,
 * or sanitize inline SVG, show it as a picture), and a text summary.
 */
function chartBundle(svg: string, text: string): MimeBundle {
  return {
    "text/html": `<img src="data:image/svg+xml;base64,${base64(svg)}" alt="${
      escapeHtml(text.split("\n")[0])
    }">`,
    "image/svg+xml": svg,
    "text/plain": text,
  };
}

/**
 * A run's training curves (loss and accuracy) as a chart's MIME bundle (SVG,
 * the SVG as an `<img>`, and the last epoch's numbers as text).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { trainingChartBundle } from "./show.ts";
 * const steps = [{ epoch: 0, step: 1, samples: 128, samplesPerEpoch: 60000, loss: 2.3, acc: 0.1 }];
 * assert(trainingChartBundle({ epochs: [], steps })["image/svg+xml"]!.startsWith("<svg"));
 * ```
 */
export function trainingChartBundle(
  history: History,
  options: TrainingChartOptions = {},
): MimeBundle {
  const last = history.epochs.at(-1);
  return displayable(chartBundle(
    trainingChart(history, options),
    last
      ? `epoch ${last.epoch + 1}: loss ${last.loss.toFixed(4)}, acc ${
        last.acc.toFixed(4)
      }, val_loss ${last.val_loss.toFixed(4)}, val_acc ${
        last.val_acc.toFixed(4)
      }`
      : `${history.steps.length} steps`,
  ));
}

/** Options of {@linkcode liveTrainingChart}. */
export interface LiveChartOptions {
  /** Least milliseconds between two redraws while training (default 1000). */
  intervalMs?: number;
}

/** What {@linkcode liveTrainingChart} returns: `train()` options and the history. */
export interface LiveChart {
  /** Pass to `train()`: records each step and redraws, throttled. */
  onStep: (log: StepLog) => void;
  /** Pass to `train()`: records the epoch and redraws at once. */
  onEpochEnd: (log: EpochLog) => void;
  /** Everything recorded so far. */
  history: History;
}

let charts = 0;

/**
 * A training chart that updates in place in a notebook while `train()` runs:
 * one output (a `display_id`), redrawn at most once a second and at the end of
 * each epoch, never a new output per update. Spread it into `train()`'s
 * options; outside a notebook it only records the history.
 *
 * @example
 * ```ts ignore
 * // ignored: trains on MNIST and draws in a Jupyter notebook
 * import { buildModel, initBackend, liveTrainingChart, loadMnist, train } from "../mod.ts";
 * await initBackend();
 * const chart = liveTrainingChart();
 * await train(buildModel(), await loadMnist(), { limit: 2048, ...chart });
 * ```
 */
export function liveTrainingChart(options: LiveChartOptions = {}): LiveChart {
  const id = `mnist-cnn-chart-${Date.now()}-${charts++}`;
  const interval = options.intervalMs ?? 1000;
  const history: History = { epochs: [], steps: [] };
  const live = isJupyterKernel();
  let shown = false, last = 0;
  const draw = () => {
    if (!live) return;
    void displayLive(
      chartBundle(trainingChart(history), "training chart"),
      { id, update: shown },
    );
    shown = true;
    last = performance.now();
  };
  return {
    history,
    onStep(log) {
      history.steps.push(log);
      if (performance.now() - last >= interval) draw();
    },
    onEpochEnd(log) {
      history.epochs.push(log);
      draw();
    },
  };
}

/**
 * The confusion matrix of `results` as a heat map with counts (SVG) and as
 * aligned text.
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { confusionMatrixBundle } from "./show.ts";
 * const results = { labels: [0, 1, 1], classes: [0, 1, 0], confidence: [1, 1, 1] };
 * assertStringIncludes(confusionMatrixBundle(results)["text/plain"], "true\\pred");
 * ```
 */
export function confusionMatrixBundle(results: Classified): MimeBundle {
  const matrix = confusionMatrix(results);
  const names = classNamesIn(results);
  const head = Math.max(9, ...names.map((n) => n.length));
  const cell = Math.max(5, ...names.map((n) => n.length + 1));
  const text = [
    "true\\pred".padStart(head) + " " +
    names.map((name) => name.padStart(cell)).join(""),
    ...matrix.map((row, i) =>
      names[i].padStart(head) + " " +
      row.map((n) => String(n).padStart(cell)).join("")
    ),
  ].join("\n");
  return displayable(chartBundle(confusionChart(matrix, names), text));
}

/**
 * Precision, recall, F1 and support per class as a table's MIME bundle.
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { classMetricsBundle } from "./show.ts";
 * const results = { labels: [0, 1], classes: [0, 1], confidence: [1, 1] };
 * assertStringIncludes(classMetricsBundle(results)["text/plain"], "precision");
 * ```
 */
export function classMetricsBundle(results: Classified): MimeBundle {
  const names = classNamesIn(results);
  return tableBundle(
    classMetrics(confusionMatrix(results)).map((m) => ({
      class: names[m.digit],
      precision: m.precision,
      recall: m.recall,
      f1: m.f1,
      support: m.support,
    })),
    { title: "Per class, on the test set" },
  );
}

/**
 * The HTML of the wrong predictions made with the most confidence: each
 * image with its true label, the prediction and its probability.
 */
export function mistakesHtml(
  split: Split,
  results: Classified,
  count = 12,
): string {
  const names = classNamesIn(results);
  const figures = worstMistakes(results, count).map((m) => {
    const png = encodePng(
      upscale(
        split.images.subarray(
          m.index * IMAGE_PIXELS,
          (m.index + 1) * IMAGE_PIXELS,
        ),
        IMAGE_SIDE,
        IMAGE_SIDE,
        3,
      ),
      3 * IMAGE_SIDE,
      3 * IMAGE_SIDE,
    );
    return `<td style="text-align:center;vertical-align:top;font:12px sans-serif">` +
      `<img src="data:image/png;base64,${
        base64(png)
      }" width="84" height="84" ` +
      `style="image-rendering:pixelated;border:2px solid #e03131;display:block;margin:0 auto">` +
      `<div>#${m.index}: <b>${
        escapeHtml(names[m.label])
      }</b> read as <b style="color:#e03131">${
        escapeHtml(names[m.predicted])
      }</b>` +
      `<br>p = ${m.probability.toFixed(3)}</div></td>`;
  });
  return gridTable(figures, 6);
}

/**
 * The test images the model gets wrong with the highest confidence, as HTML
 * pictures and as text.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { mistakesBundle } from "./show.ts";
 * const split = { images: new Uint8Array(2 * 784), labels: new Uint8Array([3, 5]), count: 2, rows: 28 as const, cols: 28 as const };
 * const results = { labels: [3, 5], classes: [3, 6], confidence: [0.9, 0.8] };
 * assertEquals(mistakesBundle(split, results)["text/plain"], "#1: 5 read as 6 (p=0.800)");
 * ```
 */
export function mistakesBundle(
  split: Split,
  results: Classified,
  count = 12,
): MimeBundle {
  const mistakes = worstMistakes(results, count);
  const names = classNamesIn(results);
  return displayable({
    "text/html": mistakesHtml(split, results, count),
    "text/plain": mistakes.map((m) =>
      `#${m.index}: ${names[m.label]} read as ${names[m.predicted]} (p=${
        m.probability.toFixed(3)
      })`
    ).join("\n"),
  });
}

/**
 * Shows {@linkcode trainingChartBundle} in the running notebook cell;
 * resolves once the kernel has published it there.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { showTrainingChart } from "./show.ts";
 * assertEquals(await showTrainingChart({ epochs: [], steps: [] }), undefined);
 * ```
 */
export function showTrainingChart(
  history: History,
  options: TrainingChartOptions = {},
): Promise<void> {
  return display(trainingChartBundle(history, options));
}

/**
 * Shows {@linkcode confusionMatrixBundle} in the running notebook cell;
 * resolves once the kernel has published it there.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { showConfusionMatrix } from "./show.ts";
 * const results = { labels: [0, 1], classes: [0, 1], confidence: [1, 1] };
 * assertEquals(await showConfusionMatrix(results), undefined);
 * ```
 */
export function showConfusionMatrix(results: Classified): Promise<void> {
  return display(confusionMatrixBundle(results));
}

/**
 * Shows {@linkcode classMetricsBundle} in the running notebook cell;
 * resolves once the kernel has published it there.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { showClassMetrics } from "./show.ts";
 * const results = { labels: [0, 1], classes: [0, 1], confidence: [1, 1] };
 * assertEquals(await showClassMetrics(results), undefined);
 * ```
 */
export function showClassMetrics(results: Classified): Promise<void> {
  return display(classMetricsBundle(results));
}

/**
 * Shows {@linkcode mistakesBundle} in the running notebook cell; resolves
 * once the kernel has published it there.
 *
 * @example
 * ```ts ignore
 * // needs a model's results on MNIST's test set
 * await showMistakes(mnist.test, results);
 * ```
 */
export function showMistakes(
  split: Split,
  results: Classified,
  count = 12,
): Promise<void> {
  return display(mistakesBundle(split, results, count));
}

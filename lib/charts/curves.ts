/**
 * Training curves: the loss and the accuracy per step (smoothed) and per
 * epoch on the test set, as one SVG of two panels.
 *
 * @module
 */
import type { History } from "../checkpoint/history.ts";
import { Plot, renderSvg } from "./plot.ts";

/** Options of {@linkcode trainingChart}. */
export interface TrainingChartOptions {
  /**
   * Training samples per epoch, to place steps along the epoch axis; by
   * default the last step's `samplesPerEpoch` (what `train` reports), else
   * the most samples any step has seen (right for whole epochs only).
   */
  samplesPerEpoch?: number;
  /** Smoothing of the per-step curves, as TensorBoard's (default 0.9). */
  smoothing?: number;
}

const PANEL_WIDTH = 420;
const PANEL_HEIGHT = 260;
const LEGEND = 24;

/** Exponential moving average with bias correction (TensorBoard's smoothing). */
function smooth(values: number[], weight: number): number[] {
  let last = 0, debias = 1;
  return values.map((v) => {
    last = last * weight + (1 - weight) * v;
    debias *= weight;
    return last / (1 - debias);
  });
}

/**
 * The loss axis for `values`: a log scale, except over less than a factor of
 * 1.5 (one step, a training stopped early, a flat stretch), where it is a
 * linear one widened to that factor around their middle, with its ticks
 * evenly spaced. A log scale over so little has one tick with a six-digit
 * label, or ticks d3 leaves unlabelled; drawn over so little, the two scales
 * look alike.
 */
function lossAxis(values: number[]): Record<string, unknown> {
  const positive = values.filter((v) => v > 0 && Number.isFinite(v));
  const lo = Math.min(...positive), hi = Math.max(...positive);
  if (positive.length === 0 || hi / lo >= 1.5) {
    return {
      type: "log",
      tickFormat: "~g",
      label: "loss (cross-entropy, log scale)",
    };
  }
  const middle = Math.sqrt(lo * hi), half = Math.sqrt(1.5);
  const domain = [middle / half, middle * half];
  const span = domain[1] - domain[0];
  const power = 10 ** Math.floor(Math.log10(span / 4));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => span / s <= 5)!;
  const ticks: number[] = [];
  for (let k = Math.ceil(domain[0] / step); k * step <= domain[1]; k++) {
    ticks.push(Number((k * step).toPrecision(6)));
  }
  return { type: "linear", domain, ticks, label: "loss (cross-entropy)" };
}

/**
 * The training curves of `history` as standalone SVG: loss on the left,
 * accuracy on the right, along epochs; the per-step values smoothed, the
 * test-set values as points at the end of each epoch.
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { trainingChart } from "./curves.ts";
 * const svg = trainingChart({
 *   epochs: [],
 *   steps: [{ epoch: 0, step: 1, samples: 128, loss: 2.3, acc: 0.1 }],
 * });
 * assertStringIncludes(svg, "<svg");
 * ```
 */
export function trainingChart(
  history: History,
  options: TrainingChartOptions = {},
): string {
  const weight = options.smoothing ?? 0.9;
  const perEpoch = options.samplesPerEpoch ??
    history.steps.at(-1)?.samplesPerEpoch ??
    Math.max(1, ...history.steps.map((s) => s.samples));
  const at = history.steps.map((s) => s.epoch + s.samples / perEpoch);
  const panel = (metric: "loss" | "acc", label: string) => {
    const raw = history.steps.map((s) => s[metric]);
    const smoothed = smooth(raw, weight);
    const train = at.map((x, i) => ({
      x,
      y: smoothed[i],
      series: "training (smoothed)",
    }));
    const faint = at.map((x, i) => ({ x, y: raw[i] }));
    const test = history.epochs.filter((e) =>
      Number.isFinite(e[`val_${metric}`])
    )
      .map((e) => ({
        x: e.epoch + 1,
        y: e[`val_${metric}`],
        series: "test set",
      }));
    return renderSvg({
      width: PANEL_WIDTH,
      height: PANEL_HEIGHT,
      marginLeft: 48,
      style: { background: "white" },
      x: {
        label: "epoch",
        domain: [0, Math.max(1, ...at, ...test.map((t) => t.x))],
      },
      y: {
        label,
        grid: true,
        ...(metric === "acc"
          ? { domain: [Math.min(0.9, ...smoothed), 1] }
          : lossAxis([...raw, ...test.map((t) => t.y)])),
      },
      color: {
        domain: ["training (smoothed)", "test set"],
        range: ["#1c7ed6", "#e8590c"],
      },
      marks: [
        Plot.line(faint, {
          x: "x",
          y: "y",
          stroke: "#a5d8ff",
          strokeWidth: 0.8,
        }),
        Plot.line(train, { x: "x", y: "y", stroke: "series", strokeWidth: 2 }),
        // One step is no line yet: its point (a training stopped early).
        Plot.dot(train.length === 1 ? train : [], {
          x: "x",
          y: "y",
          fill: "series",
          r: 3,
        }),
        Plot.dot(test, { x: "x", y: "y", fill: "series", r: 4 }),
        Plot.text(test, {
          x: "x",
          y: "y",
          text: (d: { y: number }) => d.y.toFixed(4),
          dy: -10,
          fill: "#e8590c",
        }),
      ],
    });
  };
  const left = panel("loss", "loss (cross-entropy, log scale)");
  const right = panel("acc", "accuracy");
  const place = (svg: string, x: number) =>
    svg.replace("<svg", `<svg x="${x}" y="${LEGEND}"`);
  const width = 2 * PANEL_WIDTH + 20, height = PANEL_HEIGHT + LEGEND;
  const legend = `<g font-family="system-ui, sans-serif" font-size="12">` +
    `<line x1="52" y1="12" x2="72" y2="12" stroke="#1c7ed6" stroke-width="2"/>` +
    `<text x="78" y="16">training, per step (smoothed; raw in light blue)</text>` +
    `<circle cx="392" cy="12" r="4" fill="#e8590c"/>` +
    `<text x="400" y="16">test set, after each epoch</text></g>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<rect width="100%" height="100%" fill="white"/>` + legend +
    place(left, 0) + place(right, PANEL_WIDTH + 20) + `</svg>`;
}

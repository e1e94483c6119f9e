/**
 * The confusion matrix as a heat map with its counts, as standalone SVG.
 *
 * @module
 */
import { Plot, renderSvg } from "./plot.ts";

/**
 * `matrix[label][predicted]` as a heat map: true label down, prediction
 * across, each cell's count written in it; the diagonal (right answers) and
 * the mistakes are coloured on separate scales so a handful of mistakes
 * still shows. The axes name the classes by `classNames` (default: the
 * labels, MNIST's digits).
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { confusionChart } from "./heatmap.ts";
 * const svg = confusionChart(Array.from({ length: 10 }, (_, i) =>
 *   Array.from({ length: 10 }, (_, j) => (i === j ? 100 : 1))
 * ));
 * assertStringIncludes(svg, "<svg");
 * ```
 */
export function confusionChart(
  matrix: number[][],
  classNames: readonly string[] = matrix.map((_, i) => String(i)),
): string {
  const cells = matrix.flatMap((row, label) =>
    row.map((count, predicted) => ({
      label: classNames[label],
      predicted: classNames[predicted],
      count,
    }))
  );
  const long = Math.max(...classNames.map((name) => name.length));
  const margin = Math.min(120, 16 + 6.5 * long);
  const side = Math.max(380, Math.min(900, 34 * classNames.length));
  const right = cells.filter((c) => c.label === c.predicted);
  const wrong = cells.filter((c) => c.label !== c.predicted);
  const maxWrong = Math.max(1, ...wrong.map((c) => c.count));
  return renderSvg({
    width: side + Math.max(56, margin),
    height: side + (long > 2 ? margin : 40),
    marginLeft: Math.max(56, margin),
    marginTop: long > 2 ? margin : 40,
    padding: 0.04,
    style: { background: "white" },
    x: {
      label: "predicted →",
      axis: "top",
      domain: [...classNames],
      tickRotate: long > 2 ? -40 : 0,
    },
    y: { label: "↓ true label", domain: [...classNames] },
    marks: [
      Plot.cell(wrong, {
        x: "predicted",
        y: "label",
        fill: (c: { count: number }) =>
          c.count === 0
            ? "#f8f9fa"
            : `rgba(224, 49, 49, ${0.15 + 0.85 * c.count / maxWrong})`,
      }),
      Plot.cell(right, { x: "predicted", y: "label", fill: "#2f9e44" }),
      Plot.text(cells, {
        x: "predicted",
        y: "label",
        text: (c: { count: number }) => (c.count ? String(c.count) : ""),
        fill: (c: { label: string; predicted: string; count: number }) =>
          c.label === c.predicted || c.count > maxWrong / 2
            ? "white"
            : "#212529",
        fontSize: 11,
      }),
    ],
  });
}

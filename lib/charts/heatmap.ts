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
 * still shows.
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
export function confusionChart(matrix: number[][]): string {
  const cells = matrix.flatMap((row, label) =>
    row.map((count, predicted) => ({ label, predicted, count }))
  );
  const right = cells.filter((c) => c.label === c.predicted);
  const wrong = cells.filter((c) => c.label !== c.predicted);
  const maxWrong = Math.max(1, ...wrong.map((c) => c.count));
  return renderSvg({
    width: 460,
    height: 440,
    marginLeft: 56,
    marginTop: 40,
    padding: 0.04,
    style: { background: "white" },
    x: { label: "predicted →", axis: "top", domain: [...Array(10).keys()] },
    y: { label: "↓ true label", domain: [...Array(10).keys()] },
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
        fill: (c: { label: number; predicted: number; count: number }) =>
          c.label === c.predicted || c.count > maxWrong / 2
            ? "white"
            : "#212529",
        fontSize: 11,
      }),
    ],
  });
}

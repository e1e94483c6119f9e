/**
 * The confusion matrix as a heat map with its counts, as standalone SVG.
 *
 * @module
 */
import { Plot, renderSvg } from "./plot.ts";

/** The green of right answers and the red of mistakes. */
const GREEN = [47, 158, 68], RED = [224, 49, 49];

/** `rgb` at opacity `a` over white, as a hex colour (so every viewer draws it alike). */
function tint(rgb: number[], a: number): string {
  return "#" +
    rgb.map((c) =>
      Math.round(255 + (c - 255) * a).toString(16).padStart(2, "0")
    ).join("");
}

/** How strong a cell's colour is: from 0.12 for a little to 1 for the most. */
const strength = (share: number) => (share > 0 ? 0.12 + 0.88 * share : 0);

/**
 * `matrix[label][predicted]` as a heat map: true label down, prediction
 * across, each cell's count written in it (a diagonal 0 too). The diagonal is
 * green as deep as the share of the class read right (recall), so a class
 * never read right is white with a red 0 and a red border; the mistakes are
 * red as deep as their count against the largest mistake, so a handful still
 * shows. A legend under the matrix says what each colour means. The axes
 * name the classes by `classNames` (default: the labels, MNIST's digits).
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { confusionChart } from "./heatmap.ts";
 * const svg = confusionChart(Array.from({ length: 10 }, (_, i) =>
 *   Array.from({ length: 10 }, (_, j) => (i === j ? 100 : 1))
 * ));
 * assertStringIncludes(svg, "<svg");
 * assertStringIncludes(svg, "read right");
 * ```
 */
export function confusionChart(
  matrix: number[][],
  classNames: readonly string[] = matrix.map((_, i) => String(i)),
): string {
  const totals = matrix.map((row) => row.reduce((a, b) => a + b, 0));
  const wrongCounts = matrix.flatMap((row, i) => row.filter((_, j) => j !== i));
  const maxWrong = Math.max(1, ...wrongCounts);
  const cells = matrix.flatMap((row, label) =>
    row.map((count, predicted) => {
      const right = label === predicted;
      const a = right
        ? strength(totals[label] ? count / totals[label] : 0)
        : strength(count / maxWrong);
      return {
        label: classNames[label],
        predicted: classNames[predicted],
        count,
        right,
        fill: a > 0 ? tint(right ? GREEN : RED, a) : "#f8f9fa",
        ink: a > 0.55
          ? "white"
          : right && count === 0 && totals[label]
          ? "#c92a2a"
          : "#212529",
        // A class never read right, though it has samples.
        missed: right && count === 0 && totals[label] > 0,
        shown: right || count > 0,
      };
    })
  );
  type Cell = (typeof cells)[number];
  const long = Math.max(...classNames.map((name) => name.length));
  const margin = Math.min(120, 16 + 6.5 * long);
  const side = Math.max(380, Math.min(900, 34 * classNames.length));
  const left = Math.max(56, margin);
  const width = side + left;
  const height = side + (long > 2 ? margin : 40);
  const plot = renderSvg({
    width,
    height,
    marginLeft: left,
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
      Plot.cell(cells, {
        x: "predicted",
        y: "label",
        fill: (c: Cell) => c.fill,
        stroke: (c: Cell) => (c.missed ? "#c92a2a" : "none"),
        strokeWidth: 2,
      }),
      Plot.text(cells.filter((c) => c.shown), {
        x: "predicted",
        y: "label",
        text: (c: Cell) => String(c.count),
        fill: (c: Cell) => c.ink,
        fontSize: 11,
      }),
    ],
  });
  return withLegend(plot, width, height, maxWrong);
}

/** The matrix with a legend of its two colour scales under it. */
function withLegend(
  plot: string,
  width: number,
  height: number,
  maxWrong: number,
): string {
  const bar = (id: string, rgb: number[], x: number) =>
    `<defs><linearGradient id="${id}"><stop offset="0" stop-color="${
      tint(rgb, 0.12)
    }"/><stop offset="1" stop-color="${
      tint(rgb, 1)
    }"/></linearGradient></defs>` +
    `<rect x="${x}" y="18" width="110" height="10" fill="url(#${id})" stroke="#adb5bd" stroke-width="0.5"/>`;
  const legendHeight = 44;
  const x2 = Math.max(250, width / 2 + 30);
  const id = `cm${Math.random().toString(36).slice(2, 8)}`;
  const legend =
    `<g font-family="system-ui, sans-serif" font-size="11" fill="#212529" transform="translate(0, ${height})">` +
    `<text x="10" y="12">diagonal: share of its class read right</text>` +
    bar(`${id}g`, GREEN, 10) +
    `<text x="10" y="40">&gt;0%</text><text x="120" y="40" text-anchor="end">100%</text>` +
    `<text x="${x2}" y="12">elsewhere: mistakes (count)</text>` +
    bar(`${id}r`, RED, x2) +
    `<text x="${x2}" y="40">1</text><text x="${
      x2 + 110
    }" y="40" text-anchor="end">${maxWrong}</text>` +
    `</g>`;
  const total = height + legendHeight;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${total}" viewBox="0 0 ${width} ${total}">` +
    `<rect width="100%" height="100%" fill="white"/>` +
    plot.replace("<svg", '<svg x="0" y="0"') + legend + `</svg>`;
}

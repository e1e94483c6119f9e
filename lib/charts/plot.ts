/**
 * Observable Plot rendered to standalone SVG without a browser: Plot draws
 * into a server-side DOM from `linkedom`, and the SVG text is what notebooks
 * (as `image/svg+xml`) and `report.html` show.
 *
 * @module
 */
import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";
import { UsageError } from "../errors.ts";

/** A server-side DOM document for Plot to draw into. */
const dom =
  (parseHTML("<!doctype html><html><body></body></html>") as unknown as {
    document: unknown;
  }).document;

/**
 * Renders a Plot specification to standalone SVG text (with its `xmlns`, so
 * it is a valid `image/svg+xml` document on its own).
 *
 * @example
 * ```ts
 * import * as Plot from "@observablehq/plot";
 * import { assertStringIncludes } from "@std/assert";
 * import { renderSvg } from "./plot.ts";
 * const svg = renderSvg({ marks: [Plot.lineY([3, 1, 2])] });
 * assertStringIncludes(svg, "<svg");
 * ```
 */
export function renderSvg(options: Plot.PlotOptions): string {
  const figure = Plot.plot({
    ...options,
    document: dom as Plot.PlotOptions["document"],
  }) as unknown as { outerHTML: string };
  const svg = figure.outerHTML;
  if (!svg.startsWith("<svg")) {
    throw new UsageError(
      "renderSvg: the plot is not a bare SVG (drop its legend)",
    );
  }
  return !svg.includes('xmlns="http://www.w3.org/2000/svg"')
    ? svg.replace("<svg", '<svg xmlns="http://www.w3.org/2000/svg"')
    : svg;
}

export { Plot };

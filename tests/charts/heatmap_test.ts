/**
 * The confusion matrix reads right: a class never read right shows its 0,
 * on white with a red border (not the green of right answers), every other
 * count is written in its cell, and a legend says what the colours mean.
 *
 * Run: deno test --allow-read tests/charts/heatmap_test.ts
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { parseHTML } from "linkedom";
import { confusionChart } from "../../lib/charts/mod.ts";

/** Ten classes; class 6 never read right (all read as 0), a few mistakes. */
const MATRIX = Array.from(
  { length: 10 },
  (_, i) =>
    Array.from(
      { length: 10 },
      (_, j) =>
        i === 6
          ? (j === 0 ? 80 : 0)
          : i === j
          ? 90 + i
          : (i + j) % 7 === 0
          ? 3
          : 0,
    ),
);

Deno.test("a diagonal 0 is written, on white with a red border; a legend explains the colours", () => {
  const svg = confusionChart(MATRIX);
  // deno-lint-ignore no-explicit-any
  const { document } = parseHTML(`<html><body>${svg}</body></html>`) as any;
  const texts = [...document.querySelectorAll('g[aria-label="text"] text')]
    .map((t: { textContent: string }) => t.textContent);
  const written =
    MATRIX.flatMap((row, i) => row.filter((n, j) => i === j || n > 0)).length;
  assertEquals(texts.length, written, "every diagonal count and every mistake");
  assert(texts.includes("0"), "the diagonal 0 is written");
  const bordered = [...document.querySelectorAll('g[aria-label="cell"] rect')]
    .filter((r: { getAttribute(name: string): string }) =>
      r.getAttribute("stroke") === "#c92a2a"
    );
  assertEquals(bordered.length, 1, "one class never read right");
  assertEquals(bordered[0].getAttribute("fill"), "#f8f9fa");
  assertStringIncludes(svg, "diagonal: share of its class read right");
  assertStringIncludes(svg, "elsewhere: mistakes (count)");
  // The mistakes' scale ends at the largest mistake.
  assertStringIncludes(svg, ">80</text>");
});

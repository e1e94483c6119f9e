/**
 * Whether each output sits under the cell that made it, judged from the
 * cells' sources: each `show…(…)` call of a cell is one display of that cell,
 * in order, recognised by how its text begins; each `console.log` that starts
 * with words prints them under its cell; the live outputs (progress bar,
 * training chart) belong to the cell that trains. Used on the protocol's
 * messages (`protocol_test.ts`) and on the classic page's outputs
 * (`notebook_page_test.ts`).
 *
 * @module
 */

/** One output of a cell, as either test sees it. */
export interface SeenOutput {
  /** `stream`, `display_data`, `execute_result`, `error`. */
  type: string;
  /** The display id of a live output (or of the kernel's markers). */
  displayId?: string | null;
  /** Stream text, or the `text/plain` of a display. */
  text: string;
}

/** What each `show…` call shows: its `text/plain` begins so. */
export const SHOWN: Record<string, RegExp> = {
  showDigits: /^(digits|pictures) \d+\.\.\d+/,
  showSummary: /^Model: "/,
  showMetrics: /^metric +value/,
  showConfusionMatrix: /^ *true\\pred/,
  showClassMetrics: /^Per class/,
  showMistakes: /^#\d+: .* read as /,
  showFilters: /^conv2d\w*: \d+ kernels/,
  showFeatureMaps: /^conv2d\w*: \d+ maps/,
};

/** What is wrong with where the outputs of `cells` are; empty when nothing is. */
export function misplaced(
  cells: { source: string; outputs: SeenOutput[] }[],
): string[] {
  const problems: string[] = [];
  const trains = (source: string) => /\btrain\(/.test(source);
  cells.forEach(({ source, outputs }, i) => {
    const live = outputs.filter((o) =>
      o.displayId?.startsWith("mnist-cnn-progress-") ||
      o.displayId?.startsWith("mnist-cnn-chart-")
    );
    const shown = outputs.filter((o) =>
      (o.type === "display_data" || o.type === "execute_result") &&
      !o.displayId
    ).map((o) => o.text.split("\n")[0]);
    const calls = [...source.matchAll(/\b(show\w+)\(/g)].map((m) => m[1]);
    if (
      shown.length !== calls.length ||
      calls.some((call, k) => !(SHOWN[call]?.test(shown[k]) ?? true))
    ) {
      problems.push(
        `cell ${i} calls ${calls.join(", ") || "no show…"} and shows ${
          JSON.stringify(shown)
        }`,
      );
    }
    const printed = outputs.filter((o) => o.type === "stream")
      .map((o) => o.text).join("");
    for (
      const [, words] of source.matchAll(/console\.log\(\s*[`"']([\w ]+)/g)
    ) {
      if (!printed.includes(words)) {
        problems.push(
          `cell ${i} printed ${JSON.stringify(printed)}, not "${words}"`,
        );
      }
    }
    if (live.length > 0 && !trains(source)) {
      problems.push(`cell ${i} has a live output but does not train`);
    }
    if (trains(source) && live.length === 0) {
      problems.push(`cell ${i} trains but shows no progress bar`);
    }
  });
  return problems;
}

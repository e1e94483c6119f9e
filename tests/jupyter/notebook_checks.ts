/**
 * What an executed notebook must show, checked on its nbformat JSON: the
 * notebook as nbclient wrote it (`tests/notebooks_test.ts`) or as Jupyter
 * Notebook's page holds it after Run All (`tests/notebook_page_test.ts`, which
 * is where `mnist_cnn.ipynb`, `predict.ipynb` and `your_digits.ipynb` run, so
 * that each notebook is executed once per test run).
 *
 * @module
 */
import {
  assert,
  assertEquals,
  assertGreater,
  assertMatch,
  assertStringIncludes,
} from "@std/assert";
import type {
  Cell,
  Notebook,
  Output,
} from "../../tasks/notebook_runner/mod.ts";

/** A multi-line nbformat string (a string or a list of lines) as one string. */
export const joined = (text: string | string[] | undefined): string =>
  Array.isArray(text) ? text.join("") : text ?? "";

/** The cell with notebook cell id `id`. */
export function cell(notebook: Notebook, id: string): Cell {
  const found = notebook.cells.find((c) => c.id === id);
  if (!found) throw new Error(`no cell with id "${id}"`);
  return found;
}

/** The text of an output: stream text, error, or every text-like MIME type. */
export function outputText(output: Output): string {
  if (output.output_type === "stream") return joined(output.text);
  if (output.output_type === "error") {
    return `${output.ename}: ${output.evalue}\n${
      (output.traceback ?? []).join("\n")
    }`;
  }
  return Object.entries(output.data ?? {})
    .filter(([mime]) => mime.startsWith("text/"))
    .map(([, value]) => joined(value as string | string[]))
    .join("\n");
}

/** Every output's text of a cell, joined. */
export const cellText = (c: Cell): string =>
  (c.outputs ?? []).map(outputText).join("\n");

/** Every output of every code cell, as `[cell id, output]`. */
export const allOutputs = (nb: Notebook): (readonly [string, Output])[] =>
  nb.cells.flatMap((c) =>
    (c.outputs ?? []).map((o) => [c.id ?? "?", o] as const)
  );

/** Fails naming each error output of `nb`. */
export function assertNoErrors(nb: Notebook, name: string): void {
  const errors = allOutputs(nb).filter(([, o]) => o.output_type === "error");
  assertEquals(
    errors.map(([id, o]) => `cell ${id}: ${outputText(o)}`),
    [],
    `${name} has error outputs`,
  );
}

/** True when the output shows a PNG: an image/png, or an <img> with a PNG data URL. */
export function hasPng(output: Output): boolean {
  const data = output.data ?? {};
  return typeof data["image/png"] === "string" ||
    joined(data["text/html"] as string | string[]).includes(
      '<img src="data:image/png;base64,',
    );
}

/** The lines of `text` that are ten digits separated by spaces. */
export const digitLines = (text: string): string[] =>
  text.match(/^\d( \d){9}$/gm) ?? [];

/**
 * Every code cell ran and shows what its source asks for: a cell that calls
 * `show…(…)` has that many displays and no result of its own, a cell that
 * calls `console.log` its text; and no cell shows an error.
 */
export function assertShowsWhatItAsks(nb: Notebook, name: string): void {
  assertNoErrors(nb, name);
  for (const c of nb.cells.filter((c) => c.cell_type === "code")) {
    assert(typeof c.execution_count === "number", `cell ${c.id} did not run`);
    const source = joined(c.source);
    const types = (c.outputs ?? []).map((o) => o.output_type);
    const shows = source.match(/\bshow\w+\(/g)?.length ?? 0;
    if (shows) {
      assert(
        types.filter((t) => t === "display_data").length >= shows,
        `${name}: cell ${c.id} calls show… ${shows} times, has ${types}`,
      );
      assert(
        !types.includes("execute_result"),
        `${name}: cell ${c.id} shows a result of its own: ${types}`,
      );
    }
    if (source.includes("console.log")) {
      assert(types.includes("stream"), `${name}: cell ${c.id} lost its text`);
    }
  }
}

/**
 * `mnist_cnn.ipynb` run on `limit` samples, saving into `modelDir`: every
 * step's output, the live displays each one output, and the ten predicted
 * digits, which it returns.
 */
export function checkMnistCnn(
  nb: Notebook,
  { limit, modelDir }: { limit: number; modelDir: string },
): string {
  assertShowsWhatItAsks(nb, "mnist_cnn.ipynb");
  const load = cell(nb, "load");
  assertStringIncludes(cellText(load), "x_train shape: (60000, 28, 28, 1)");
  assert(load.outputs!.some(hasPng), "no PNG digits in the load cell");
  assertStringIncludes(cellText(load), "label:     5 0 4 1 9 2 1 3 1 4");

  const build = cellText(cell(nb, "build"));
  assertStringIncludes(build, "1,199,882");
  assertStringIncludes(build, "conv2d");
  assertStringIncludes(build, "dense_1");

  const outputs = cell(nb, "train").outputs!;
  const bar = /\d+\/\d+ \[[=>.]*\]/;
  const progress = outputs.filter((o) =>
    o.output_type !== "stream" && bar.test(outputText(o))
  );
  assertEquals(progress.length, 1, "progress bar outputs (want one display)");
  assertMatch(
    outputText(progress[0]),
    new RegExp(`${limit}/${limit} \\[=+\\]`),
    "the display ends on the finished bar",
  );
  const charts = outputs.filter((o) =>
    o.output_type === "display_data" && o.data?.["image/svg+xml"]
  );
  assertEquals(charts.length, 1, "one live training chart");
  const streamLines = outputs.filter((o) => o.output_type === "stream")
    .map(outputText).join("").split("\n").filter((l) => l.trim());
  assert(
    streamLines.length <= 10,
    `the train cell printed ${streamLines.length} lines:\n${
      streamLines.slice(0, 20).join("\n")
    }`,
  );
  const text = cellText(cell(nb, "train"));
  const acc = text.match(/test accuracy\s+(\d+\.\d+)/);
  if (!acc) throw new Error(`no test accuracy in the train cell:\n${text}`);
  assertGreater(Number(acc[1]), 0.5, `test accuracy after ${limit} samples`);
  assertMatch(text, /test loss\s+\d+\.\d+/);

  assertStringIncludes(cellText(cell(nb, "save")), modelDir);
  assertStringIncludes(cellText(cell(nb, "reload")), "1199882 params");

  const predict = cell(nb, "predict");
  const lines = digitLines(cellText(predict));
  assertEquals(
    lines.length,
    1,
    `one line of ten digits:\n${cellText(predict)}`,
  );
  assert(predict.outputs!.some(hasPng), "no PNG digits in the predict cell");
  assertStringIncludes(cellText(predict), "predicted: ");
  return lines[0];
}

/** `predict.ipynb` reloaded the model in `modelDir` and predicted `trained`. */
export function checkPredict(
  nb: Notebook,
  { trained, modelDir }: { trained: string; modelDir: string },
): void {
  assertShowsWhatItAsks(nb, "predict.ipynb");
  const predict = cell(nb, "predict");
  assertEquals(digitLines(cellText(predict)), [trained], "the ten predicted");
  assert(predict.outputs!.some(hasPng), "no PNG digits");
  assertStringIncludes(cellText(cell(nb, "reload")), modelDir);
}

/** `your_digits.ipynb` shows each sample picture, its 28×28 and its probabilities. */
export function checkYourDigits(nb: Notebook): void {
  assertShowsWhatItAsks(nb, "your_digits.ipynb");
  const shown = cell(nb, "predict").outputs!.find((o) =>
    o.output_type === "display_data"
  );
  if (!shown) throw new Error("the predict cell shows no result");
  const lines = outputText(shown).split("\n").filter((l) =>
    /^digit_\d\.(png|jpg): \d \(p=\d\.\d\d\)$/.test(l)
  );
  assertEquals(lines.length, 10, outputText(shown));
  const html = joined(shown.data!["text/html"] as string | string[]);
  assertEquals(html.split("<img ").length - 1, 20, "pictures shown");
}

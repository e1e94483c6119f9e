/**
 * Notebook display helpers: MNIST digits as inline PNG images, tables, the
 * model summary and metrics, shown as rich outputs in the Deno Jupyter kernel.
 *
 * Every `show*` function returns a MIME bundle (`text/html` with a
 * `text/plain` fallback) made {@linkcode displayable}: a notebook cell that
 * ends with `metricsBundle(…)` renders it as the cell's one result. Elsewhere
 * (scripts, `deno test`) the bundle is a plain object, so the helpers are
 * tested headlessly.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { checkWholeNumber, UsageError } from "./errors.ts";
import { base64, escapeHtml } from "./html.ts";
import { IMAGE_PIXELS, IMAGE_SIDE } from "./data.ts";
import { formatSummary, summaryRows } from "./model.ts";
import { display, displayable, type MimeBundle } from "./jupyter/mod.ts";
import type { RgbaImage } from "./image/decode.ts";
import { encodePng, upscale } from "./image/encode.ts";

// ---------------------------------------------------------------------------
// Digits

/**
 * Options of {@linkcode digitsBundle}.
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { digitsBundle, type ShowDigitsOptions } from "./display.ts";
 * const options: ShowDigitsOptions = {
 *   images: new Uint8Array(2 * 784),
 *   labels: [7, 2],
 *   predictions: [7, 1],
 *   count: 2,
 * };
 * const bundle = digitsBundle(options); // the second digit is outlined in red
 * assertStringIncludes(bundle["text/html"]!, "data:image/png;base64,");
 * ```
 */
export interface ShowDigitsOptions {
  /** MNIST images, 28x28 bytes each, row-major; image `i` at `i * 784`. */
  images: Uint8Array;
  /** Index of the first image to show (default 0). */
  start?: number;
  /** Number of images to show (default 10). */
  count?: number;
  /** True labels, parallel to `images`: the label of image `i` is `labels[i]`. */
  labels?: ArrayLike<number>;
  /**
   * Predicted classes of the images shown: `predictions[k]` belongs to image
   * `start + k`, as `predictClasses(model, split, { start, count })` returns.
   */
  predictions?: ArrayLike<number>;
  /** Enlargement factor of each 28x28 image (default 3: 84x84 pixels). */
  scale?: number;
  /**
   * The name of each class, to show labels and predictions by name
   * (`"Ankle boot"`); by default the labels themselves (MNIST's digits).
   */
  classNames?: readonly string[];
}

/** Checks that `value` is a whole number in `[min, max]`; names it otherwise. */
function checkInt(name: string, value: number, min: number, max: number): void {
  checkWholeNumber(`digitsBundle: ${name}`, value, { min, max });
}

/**
 * Cells (`<td>…</td>`) laid out `perRow` to a row of a table: a layout that
 * survives a page's CSS (classic Notebook's `.rendered_html img {display:
 * block}` stacks images that a flex box or inline flow would put side by side)
 * and HTML sanitizers that drop `style` (an untrusted notebook, GitHub).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { gridTable } from "./display.ts";
 * const html = gridTable(["<td>1</td>", "<td>2</td>", "<td>3</td>"], 2);
 * assertEquals(html.match(/<tr>/g)?.length, 2);
 * ```
 */
export function gridTable(cells: string[], perRow: number): string {
  const rows: string[] = [];
  for (let i = 0; i < cells.length; i += perRow) {
    rows.push(`<tr>${cells.slice(i, i + perRow).join("")}</tr>`);
  }
  return `<table style="border-collapse:separate;border-spacing:6px;margin:0">${
    rows.join("")
  }</table>`;
}

/**
 * Shows MNIST digits as inline PNG images in a row, each captioned with its
 * index, its true label and its predicted class when given; a wrong
 * prediction is outlined and captioned in red. The `text/plain` fallback
 * lists the indices, labels and predictions.
 *
 * @returns the MIME bundle displayed (`text/html` holds one
 * `<img src="data:image/png;base64,...">` per digit).
 * @throws {UsageError} when the range, the labels or the predictions do not
 * cover the images asked for.
 * @example
 * ```ts ignore
 * // ignored in CI: loads real MNIST; covered by tests/display_test.ts, "showDigits embeds one upscaled PNG per digit, matching the input pixels"
 * import { assertEquals } from "@std/assert";
 * import { loadMnist, digitsBundle } from "./mod.ts";
 * const { train } = await loadMnist();
 * const bundle = digitsBundle({ images: train.images, labels: train.labels, count: 10 });
 * assertEquals(bundle["text/html"]!.split("<img").length - 1, 10);
 * ```
 */
export function digitsBundle(options: ShowDigitsOptions): MimeBundle {
  const { images, labels, predictions } = options;
  if (images.length === 0 || images.length % IMAGE_PIXELS !== 0) {
    throw new UsageError(
      `digitsBundle: images must hold whole 28x28 images (a multiple of ${IMAGE_PIXELS} bytes), got ${images.length} bytes`,
    );
  }
  const available = images.length / IMAGE_PIXELS;
  const start = options.start ?? 0;
  checkInt("start", start, 0, Math.max(0, available - 1));
  const count = options.count ?? Math.min(10, available - start);
  checkInt("count", count, 1, available - start);
  const scale = options.scale ?? 3;
  checkInt("scale", scale, 1, 16);
  if (labels && labels.length < start + count) {
    throw new UsageError(
      `digitsBundle: labels has ${labels.length} entries, images ${start}..${
        start + count - 1
      } need ${start + count} (labels are parallel to images)`,
    );
  }
  if (predictions && predictions.length < count) {
    throw new UsageError(
      `digitsBundle: predictions has ${predictions.length} entries, need ${count} (one per image shown, from image ${start})`,
    );
  }

  const size = IMAGE_SIDE * scale;
  const figures: string[] = [];
  const text = {
    index: [] as string[],
    label: [] as string[],
    predicted: [] as string[],
  };
  let wrong = 0;
  for (let k = 0; k < count; k++) {
    const i = start + k;
    const pixels = images.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS);
    const png = encodePng(
      upscale(pixels, IMAGE_SIDE, IMAGE_SIDE, scale),
      size,
      size,
    );
    const named = (c: number) => options.classNames?.[c] ?? String(c);
    const label = labels ? named(labels[i]) : undefined;
    const predicted = predictions ? named(predictions[k]) : undefined;
    const mismatch = label !== undefined && predicted !== undefined &&
      label !== predicted;
    if (mismatch) wrong++;
    const caption = [
      `#${i}`,
      ...(label === undefined ? [] : [`label ${label}`]),
      ...(predicted === undefined ? [] : [`predicted ${predicted}`]),
    ];
    const colour = mismatch
      ? "#d32f2f"
      : predicted !== undefined && label !== undefined
      ? "#2e7d32"
      : "#bbb";
    figures.push(
      `<td style="padding:4px;text-align:center;vertical-align:top;border:2px solid ${colour};border-radius:4px"` +
        (mismatch ? ' class="mismatch" title="wrong prediction"' : "") +
        `><img src="data:image/png;base64,${
          base64(png)
        }" width="${size}" height="${size}"` +
        ` alt="${
          escapeHtml(caption.join(", "))
        }" style="image-rendering:pixelated;display:block;margin:0 auto"/>` +
        `<div style="font:12px monospace;line-height:1.3;text-align:center${
          mismatch ? ";color:#d32f2f;font-weight:bold" : ""
        }">${caption.map(escapeHtml).join("<br/>")}${
          mismatch ? " ✗" : ""
        }</div></td>`,
    );
    const marked = (predicted ?? "") + (mismatch ? "*" : "");
    const width = Math.max(String(i).length, label?.length ?? 0, marked.length);
    text.index.push(String(i).padEnd(width));
    text.label.push((label ?? "").padEnd(width));
    text.predicted.push(marked.padEnd(width));
  }

  const summary = predictions && labels
    ? `${count - wrong}/${count} predicted correctly`
    : "";
  const lines = [
    `${options.classNames ? "pictures" : "digits"} ${start}..${
      start + count - 1
    }`,
    `image:     ${text.index.join(" ")}`,
  ];
  if (labels) lines.push(`label:     ${text.label.join(" ")}`);
  if (predictions) lines.push(`predicted: ${text.predicted.join(" ")}`);
  if (summary) lines.push(summary + (wrong ? " (* = wrong)" : ""));
  const html = `<div class="mnist-digits">` + gridTable(figures, 10) +
    (summary
      ? `<p style="font:12px monospace">${escapeHtml(summary)}</p>`
      : "") +
    `</div>`;
  return displayable({
    "text/plain": lines.map((line) => line.trimEnd()).join("\n"),
    "text/html": html,
  });
}

// ---------------------------------------------------------------------------
// Tables

/**
 * Formats one table cell: integers with thousands separators (`1,199,882`),
 * other finite numbers with 4 decimals as Keras prints metrics, nothing for
 * `null`/`undefined`.
 */
function formatCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return String(value);
    return Number.isInteger(value)
      ? value.toLocaleString("en-US")
      : value.toFixed(4);
  }
  if (typeof value === "bigint") return value.toLocaleString("en-US");
  if (typeof value === "string") return value;
  if (value instanceof Date) return value.toISOString();
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** A table ready to render: column names, formatted cells, numeric columns. */
interface Table {
  title?: string;
  columns: string[];
  cells: string[][];
  numeric: boolean[];
  footer?: string[][];
}

function tableOf(rows: Record<string, unknown>[], title?: string): Table {
  const columns: string[] = [];
  for (const row of rows) {
    for (const key of Object.keys(row)) {
      if (!columns.includes(key)) columns.push(key);
    }
  }
  return {
    title,
    columns,
    cells: rows.map((row) => columns.map((c) => formatCell(row[c]))),
    numeric: columns.map((c) =>
      rows.some((r) => typeof r[c] === "number") &&
      rows.every((r) =>
        r[c] === undefined || r[c] === null || typeof r[c] === "number"
      )
    ),
  };
}

/** Renders `table` as aligned plain text, numbers right-aligned. */
function tableText(table: Table): string {
  const body = [...table.cells, ...(table.footer ?? [])];
  const widths = table.columns.map((c, j) =>
    Math.max(c.length, ...body.map((row) => (row[j] ?? "").length))
  );
  const line = (cells: string[]) =>
    cells.map((cell, j) =>
      table.numeric[j] ? cell.padStart(widths[j]) : cell.padEnd(widths[j])
    ).join("  ").trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  const out = [
    ...(table.title ? [table.title] : []),
    line(table.columns),
    rule,
    ...table.cells.map(line),
  ];
  if (table.footer?.length) out.push(rule, ...table.footer.map(line));
  return out.join("\n");
}

/** Renders `table` as an HTML table, numbers right-aligned. */
function tableHtml(table: Table): string {
  const align = (j: number) => (table.numeric[j] ? "right" : "left");
  const row = (cells: string[], tag: "td" | "th") =>
    `<tr>${
      cells.map((cell, j) =>
        `<${tag} style="text-align:${align(j)};padding:2px 10px">${
          escapeHtml(cell)
        }</${tag}>`
      ).join("")
    }</tr>`;
  return `<table class="mnist-table" style="border-collapse:collapse;font-variant-numeric:tabular-nums">` +
    (table.title
      ? `<caption style="font-weight:bold;text-align:left">${
        escapeHtml(table.title)
      }</caption>`
      : "") +
    `<thead>${row(table.columns, "th")}</thead>` +
    `<tbody>${table.cells.map((cells) => row(cells, "td")).join("")}</tbody>` +
    (table.footer?.length
      ? `<tfoot style="border-top:1px solid #999">${
        table.footer.map((cells) => row(cells, "th")).join("")
      }</tfoot>`
      : "") +
    `</table>`;
}

/**
 * Options of {@linkcode tableBundle} and {@linkcode metricsBundle}.
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { metricsBundle } from "./display.ts";
 * const bundle = metricsBundle({ "test accuracy": 0.99 }, { title: "After 1 epoch" });
 * assertStringIncludes(bundle["text/plain"], "After 1 epoch");
 * ```
 */
export interface ShowTableOptions {
  /** A caption above the table. */
  title?: string;
}

/**
 * Shows records as a table: one column per key (in order of first
 * appearance), one row per record. Integers get thousands separators, other
 * numbers 4 decimals; numeric columns are right-aligned.
 *
 * @returns the MIME bundle displayed (`text/html` table, aligned
 * `text/plain` table).
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { tableBundle } from "./display.ts";
 * const bundle = tableBundle([
 *   { epoch: 1, loss: 0.2654, acc: 0.9184 },
 * ], { title: "history" });
 * assertStringIncludes(bundle["text/plain"], "0.9184");
 * ```
 */
export function tableBundle(
  rows: Record<string, unknown>[],
  options: ShowTableOptions = {},
): MimeBundle {
  const table = tableOf(rows, options.title);
  return displayable({
    "text/plain": tableText(table),
    "text/html": tableHtml(table),
  });
}

/**
 * Shows a model's summary as a table (layer and type, output shape,
 * parameters) with total, trainable and non-trainable parameter counts; the
 * `text/plain` fallback is the Keras-style text of `formatSummary`.
 *
 * @returns the MIME bundle displayed.
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { buildModel, initBackend, summaryBundle } from "./mod.ts";
 * await initBackend();
 * const bundle = summaryBundle(buildModel({ seed: 42 }));
 * assertStringIncludes(bundle["text/plain"], "Total params: 1,199,882");
 * ```
 */
export function summaryBundle(model: tf.LayersModel): MimeBundle {
  const rows = summaryRows(model);
  const total = rows.reduce((n, r) => n + r.params, 0);
  const trainable = model.trainableWeights.reduce(
    (n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 1), 1),
    0,
  );
  const table: Table = {
    title: `Model: "${model.name}"`,
    columns: ["Layer (type)", "Output Shape", "Param #"],
    cells: rows.map((r) => [
      `${r.layer} (${r.type})`,
      r.outputShape,
      formatCell(r.params),
    ]),
    numeric: [false, false, true],
    footer: [
      ["Total params", "", formatCell(total)],
      ["Trainable params", "", formatCell(trainable)],
      ["Non-trainable params", "", formatCell(total - trainable)],
    ],
  };
  return displayable({
    "text/plain": formatSummary(model),
    "text/html": tableHtml(table),
  });
}

/**
 * Shows named metrics (e.g. test loss and accuracy) as a two-column table
 * (`metric`, `value`), values with 4 decimals (integers as such), under
 * `options.title` when given.
 *
 * @returns the MIME bundle displayed.
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { metricsBundle } from "./display.ts";
 * const bundle = metricsBundle({ "test loss": 0.0298, "test accuracy": 0.9905 });
 * assertStringIncludes(bundle["text/plain"], "0.9905");
 * ```
 */
export function metricsBundle(
  metrics: Record<string, number>,
  options: ShowTableOptions = {},
): MimeBundle {
  const table: Table = {
    title: options.title,
    columns: ["metric", "value"],
    cells: Object.entries(metrics).map((
      [name, value],
    ) => [name, formatCell(value)]),
    numeric: [false, true],
  };
  return displayable({
    "text/plain": tableText(table),
    "text/html": tableHtml(table),
  });
}

// ---------------------------------------------------------------------------
// Your own pictures

/** One picture and what the model made of it, for {@linkcode picturesBundle}. */
export interface PictureResult {
  /** The picture's name (a file name). */
  name: string;
  /** The picture as decoded. */
  picture: RgbaImage;
  /** The 28×28 input the model saw (784 values in [0, 1]). */
  input: Float32Array;
  /** The model's probabilities, one per class. */
  probabilities: number[];
}

/** Options of {@linkcode picturesBundle}. */
export interface ShowPicturesOptions {
  /** The name of each class (`classNamesOf(model)`); default the digits. */
  classNames?: readonly string[];
}

/** Longest side, in pixels, of an original picture as shown. */
const SHOWN_SIDE = 112;

/** `picture` scaled (nearest pixel) to fit `SHOWN_SIDE`, as an RGBA PNG. */
function thumbnailPng(picture: RgbaImage): Uint8Array {
  const scale = Math.min(
    1,
    SHOWN_SIDE / Math.max(picture.width, picture.height),
  );
  const w = Math.max(1, Math.round(picture.width * scale));
  const h = Math.max(1, Math.round(picture.height * scale));
  const data = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(picture.height - 1, Math.floor(y / scale));
    for (let x = 0; x < w; x++) {
      const sx = Math.min(picture.width - 1, Math.floor(x / scale));
      data.set(
        picture.data.subarray(
          4 * (sy * picture.width + sx),
          4 * (sy * picture.width + sx) + 4,
        ),
        4 * (y * w + x),
      );
    }
  }
  return encodePng(data, w, h, 4);
}

/**
 * Shows, for each picture, the original, the 28×28 the model sees (enlarged)
 * and its ten probabilities as a bar chart with the predicted digit marked.
 * The `text/plain` fallback gives each prediction and its probability.
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { buildModel, initBackend, predictInputs, readImage, picturesBundle, toMnistInput } from "./mod.ts";
 * await initBackend();
 * const model = buildModel({ seed: 1 }); // untrained: any answer
 * const picture = await readImage("notebooks/sample_digits/digit_7.png");
 * const input = toMnistInput(picture);
 * const [probabilities] = (await predictInputs(model, [input])).probabilities;
 * const bundle = picturesBundle([{ name: "digit_7.png", picture, input, probabilities }]);
 * assertStringIncludes(bundle["text/plain"], "digit_7.png");
 * ```
 */
export function picturesBundle(
  results: PictureResult[],
  options: ShowPicturesOptions = {},
): MimeBundle {
  const text: string[] = [];
  const named = (c: number) => options.classNames?.[c] ?? String(c);
  const cards = results.map(({ name, picture, input, probabilities }) => {
    const best = probabilities.indexOf(Math.max(...probabilities));
    text.push(
      `${name}: ${named(best)} (p=${probabilities[best].toFixed(2)})`,
    );
    const seen = new Uint8Array(IMAGE_PIXELS);
    for (let i = 0; i < IMAGE_PIXELS; i++) {
      seen[i] = Math.round(255 * Math.min(1, Math.max(0, input[i])));
    }
    const cell = (html: string) =>
      `<td style="padding:0 2px;text-align:left;font:11px monospace">${html}</td>`;
    const bars = `<table style="border-collapse:collapse;margin:0">${
      probabilities.map((p, digit) =>
        `<tr>` + cell(escapeHtml(named(digit))) +
        cell(
          `<span style="display:inline-block;height:9px;width:${
            Math.max(1, Math.round(100 * p))
          }px;background:${digit === best ? "#d9480f" : "#868e96"}"></span>`,
        ) + cell(p.toFixed(2)) + `</tr>`
      ).join("")
    }</table>`;
    const img = (png: Uint8Array, style: string) =>
      `<img src="data:image/png;base64,${
        base64(png)
      }" style="margin:0;${style}">`;
    return `<tr>` +
      `<td style="width:116px;text-align:center;vertical-align:middle">${
        img(thumbnailPng(picture), "max-width:112px;border:1px solid #ccc")
      }</td>` +
      `<td style="vertical-align:middle">${
        img(
          encodePng(
            upscale(seen, IMAGE_SIDE, IMAGE_SIDE, 3),
            IMAGE_SIDE * 3,
            IMAGE_SIDE * 3,
          ),
          "image-rendering:pixelated",
        )
      }</td>` +
      `<td style="vertical-align:middle;text-align:left">${bars}</td>` +
      `<td style="vertical-align:middle;text-align:left;font:bold 14px sans-serif">${
        escapeHtml(name)
      }<br>→ ${escapeHtml(named(best))}</td></tr>`;
  });
  return displayable({
    "text/plain": text.join("\n"),
    "text/html":
      `<table style="border-collapse:separate;border-spacing:8px;margin:0">${
        cards.join("")
      }</table>`,
  });
}

// ---------------------------------------------------------------------------
// Showing in a notebook

/**
 * Shows {@linkcode digitsBundle} in the running notebook cell; resolves once
 * the kernel has published it there (nothing happens outside a kernel).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { showDigits } from "./display.ts";
 * // In a notebook cell: `await showDigits({ images, labels });`
 * assertEquals(await showDigits({ images: new Uint8Array(784) }), undefined);
 * ```
 */
export function showDigits(options: ShowDigitsOptions): Promise<void> {
  return display(digitsBundle(options));
}

/**
 * Shows {@linkcode tableBundle} in the running notebook cell; resolves once
 * the kernel has published it there.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { showTable } from "./display.ts";
 * assertEquals(await showTable([{ epoch: 1, loss: 0.25 }]), undefined);
 * ```
 */
export function showTable(
  rows: Record<string, unknown>[],
  options: ShowTableOptions = {},
): Promise<void> {
  return display(tableBundle(rows, options));
}

/**
 * Shows {@linkcode summaryBundle} in the running notebook cell; resolves
 * once the kernel has published it there.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, initBackend, showSummary } from "./mod.ts";
 * await initBackend();
 * assertEquals(await showSummary(buildModel({ seed: 42 })), undefined);
 * ```
 */
export function showSummary(model: tf.LayersModel): Promise<void> {
  return display(summaryBundle(model));
}

/**
 * Shows {@linkcode metricsBundle} in the running notebook cell; resolves
 * once the kernel has published it there.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { showMetrics } from "./display.ts";
 * assertEquals(await showMetrics({ "test accuracy": 0.99 }), undefined);
 * ```
 */
export function showMetrics(
  metrics: Record<string, number>,
  options: ShowTableOptions = {},
): Promise<void> {
  return display(metricsBundle(metrics, options));
}

/**
 * Shows {@linkcode picturesBundle} in the running notebook cell; resolves
 * once the kernel has published it there.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { showPictures } from "./display.ts";
 * assertEquals(await showPictures([]), undefined);
 * ```
 */
export function showPictures(
  results: PictureResult[],
  options: ShowPicturesOptions = {},
): Promise<void> {
  return display(picturesBundle(results, options));
}

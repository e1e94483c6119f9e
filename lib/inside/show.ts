/**
 * Pictures of what the model sees: maps as PNG heat maps over the digit with
 * a colour bar, kernels and feature maps as tiles, and the notebook views
 * that put saliency, SmoothGrad, Grad-CAM and occlusion side by side.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { UsageError } from "../errors.ts";
import { encodePng, pngDataUrl, upscale } from "../image/encode.ts";
import { colourAt, DIVERGING, HEAT, type Palette } from "../image/palette.ts";
import { display, displayable, type MimeBundle } from "../jupyter/mod.ts";
import { featureMap, type LayerActivation } from "./activations.ts";
import type { ConvFilters } from "./filters.ts";
import { gradCam } from "./grad_cam.ts";
import { occlusion } from "./occlusion.ts";
import { saliency } from "./saliency.ts";

/** How a map's values become colours. */
export interface MapScale {
  /** The value drawn at the bottom of the palette (default 0). */
  min?: number;
  /** The value drawn at the top (default the map's largest |value|). */
  max?: number;
  /** The palette (default {@linkcode HEAT}). */
  palette?: Palette;
}

/**
 * The value at the given quantile of |map| (e.g. 0.99: saliency's scale, so
 * a few extreme pixels do not wash out the rest).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { quantileAbs } from "./show.ts";
 * assertEquals(quantileAbs(Float32Array.of(-4, 1, 2, 3), 1), 4);
 * ```
 */
export function quantileAbs(map: Float32Array, q: number): number {
  const sorted = Float32Array.from(map, Math.abs).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** RGB bytes `w × h` enlarged `scale` times, as a PNG data URL. */
function rgbDataUrl(
  rgb: Uint8Array,
  w: number,
  h: number,
  scale: number,
): string {
  return pngDataUrl(
    encodePng(upscale(rgb, w, h, scale, 3), w * scale, h * scale, 3),
  );
}

/** A map's colours, `width × height` RGB bytes, before enlarging. */
function mapRgb(
  map: Float32Array,
  width: number,
  height: number,
  options: MapScale & { under?: Float32Array } = {},
): Uint8Array {
  if (map.length !== width * height) {
    throw new UsageError(
      `a ${width}x${height} map needs ${
        width * height
      } values, got ${map.length}`,
    );
  }
  if (options.under && options.under.length !== map.length) {
    throw new UsageError(
      `the picture under the map holds ${options.under.length} values, the map ${map.length}`,
    );
  }
  const palette = options.palette ?? HEAT;
  const min = options.min ?? 0;
  let max = options.max ?? 0;
  if (options.max === undefined) {
    for (const v of map) max = Math.max(max, Math.abs(v));
  }
  const span = max - min || 1;
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0; p < map.length; p++) {
    const t = (map[p] - min) / span;
    const c = colourAt(palette, t);
    if (options.under) {
      // The digit in grey beneath, the colour over it as strong as the value.
      const a = Math.min(Math.max(t, 0), 1) * 0.85 + 0.15;
      const g = 40 + 120 * options.under[p];
      for (let k = 0; k < 3; k++) rgb[p * 3 + k] = (1 - a) * g + a * c[k];
    } else {
      rgb.set(c, p * 3);
    }
  }
  return rgb;
}

/**
 * A map as a PNG data URL: each value coloured on the scale; with `under`
 * (the 28×28 input, 0..1) the colours are laid over the digit, which shows
 * through in grey where the map is low.
 *
 * @throws {UsageError} when the sizes disagree.
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { mapPng } from "./show.ts";
 * const url = mapPng(new Float32Array(784).fill(1), 28, 28, { scale: 2 });
 * assert(url.startsWith("data:image/png;base64,"));
 * ```
 */
export function mapPng(
  map: Float32Array,
  width: number,
  height: number,
  options: MapScale & { under?: Float32Array; scale?: number } = {},
): string {
  return rgbDataUrl(
    mapRgb(map, width, height, options),
    width,
    height,
    options.scale ?? 3,
  );
}

/** Options of {@linkcode gridPng}. */
export interface GridOptions {
  /** Tiles per row. */
  columns: number;
  /** Enlargement of each tile (default 1). */
  scale?: number;
  /** Pixels between tiles (default 2). */
  gap?: number;
  /** The colour between tiles (default white). */
  background?: readonly [number, number, number];
}

/**
 * Tiles of the same size (`width × height` RGB bytes each) laid out row by
 * row as ONE PNG, enlarged `scale` times with `gap` pixels between them; so
 * no page's CSS can rearrange the grid (classic Notebook's `.rendered_html
 * img {display: block}` stacks separate images). Returns the PNG's data URL
 * and its size.
 *
 * @throws {UsageError} when a tile's size disagrees or there are no tiles.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { gridPng } from "./show.ts";
 * const tile = new Uint8Array(2 * 2 * 3); // 2×2, black
 * const grid = gridPng([tile, tile, tile], 2, 2, { columns: 2, scale: 3, gap: 1 });
 * assertEquals([grid.width, grid.height], [2 * 6 + 1, 2 * 6 + 1]);
 * ```
 */
export function gridPng(
  tiles: Uint8Array[],
  width: number,
  height: number,
  options: GridOptions,
): { url: string; width: number; height: number } {
  if (tiles.length === 0) throw new UsageError("a grid needs tiles");
  for (const t of tiles) {
    if (t.length !== width * height * 3) {
      throw new UsageError(
        `a ${width}x${height} RGB tile needs ${
          width * height * 3
        } bytes, got ${t.length}`,
      );
    }
  }
  const scale = options.scale ?? 1, gap = options.gap ?? 2;
  const columns = Math.min(options.columns, tiles.length);
  const rows = Math.ceil(tiles.length / columns);
  const tw = width * scale, th = height * scale;
  const W = columns * tw + (columns - 1) * gap;
  const H = rows * th + (rows - 1) * gap;
  const out = new Uint8Array(W * H * 3);
  const bg = options.background ?? [255, 255, 255];
  for (let p = 0; p < W * H; p++) out.set(bg, p * 3);
  tiles.forEach((tile, i) => {
    const x0 = (i % columns) * (tw + gap),
      y0 = Math.floor(i / columns) * (th + gap);
    for (let y = 0; y < th; y++) {
      for (let x = 0; x < tw; x++) {
        const from = (Math.floor(y / scale) * width + Math.floor(x / scale)) *
          3;
        out.set(tile.subarray(from, from + 3), ((y0 + y) * W + x0 + x) * 3);
      }
    }
  });
  return { url: pngDataUrl(encodePng(out, W, H, 3)), width: W, height: H };
}

const img = (src: string, size: number, alt: string) =>
  `<img src="${src}" width="${size}" height="${size}" alt="${alt}" style="image-rendering:pixelated;margin:0">`;

/**
 * A horizontal colour bar with its ends labelled, as HTML (a PNG strip).
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { colourBar } from "./show.ts";
 * assertStringIncludes(colourBar("saliency", "0", "max"), "saliency");
 * ```
 */
export function colourBar(
  label: string,
  low: string,
  high: string,
  palette: Palette = HEAT,
): string {
  const strip = new Float32Array(64).map((_, i) => i / 63);
  // A table: no page's CSS or HTML sanitizer rearranges it.
  const cell = (html: string) =>
    `<td style="padding:0 3px;vertical-align:middle;text-align:left">${html}</td>`;
  return `<table style="border-collapse:collapse;font:12px sans-serif;margin:4px 0"><tr>` +
    cell(`${label}:`) + cell(low) +
    cell(
      `<img src="${
        mapPng(strip, 64, 1, { min: 0, max: 1, palette, scale: 2 })
      }" width="128" height="12" alt="colour scale from ${low} to ${high}" style="image-rendering:pixelated;margin:0">`,
    ) + cell(high) + `</tr></table>`;
}

/** One digit to show with its maps. */
export interface ExplainedDigit {
  /** The input, 784 values in [0, 1]. */
  input: Float32Array;
  /** A caption (e.g. "#8: 9 read as 8, p = 0.97"). */
  caption: string;
  /** True when the caption reports a mistake (drawn in red). */
  wrong?: boolean;
  /** The maps, left to right, each 784 values. */
  maps: { name: string; map: Float32Array; scale: MapScale }[];
}

/**
 * Digits and their maps as an HTML table, one digit a row, each map laid
 * over its digit, with a colour bar per column.
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { explainedHtml } from "./show.ts";
 * const d = new Float32Array(784);
 * const html = explainedHtml([{ input: d, caption: "blank", maps: [{ name: "Grad-CAM", map: d, scale: { max: 1 } }] }]);
 * assertStringIncludes(html, "Grad-CAM");
 * ```
 */
export function explainedHtml(
  digits: ExplainedDigit[],
  options: { scale?: number; bars?: Record<string, string> } = {},
): string {
  const scale = options.scale ?? 3;
  const size = 28 * scale;
  const names = digits[0]?.maps.map((m) => m.name) ?? [];
  const head = `<tr><th>digit</th>${
    names.map((n) => `<th>${n}</th>`).join("")
  }</tr>`;
  const rows = digits.map((d) => {
    const greys = mapPng(d.input, 28, 28, {
      min: 0,
      max: 1,
      palette: [[0, 0, 0], [255, 255, 255]],
      scale,
    });
    const cells = d.maps.map((m) =>
      `<td>${
        img(
          mapPng(m.map, 28, 28, { ...m.scale, under: d.input, scale }),
          size,
          `${m.name} of ${d.caption}`,
        )
      }</td>`
    ).join("");
    return `<tr><td style="font:12px sans-serif;text-align:center">${
      img(greys, size, d.caption)
    }<br><span style="color:${
      d.wrong ? "#e03131" : "inherit"
    }">${d.caption}</span></td>${cells}</tr>`;
  }).join("");
  const bars = Object.entries(options.bars ?? {}).map(([name, range]) => {
    const [low, high] = range.split("..");
    return colourBar(name, low, high);
  }).join("");
  return `<table style="border-collapse:collapse;text-align:center">${head}${rows}</table>${bars}`;
}

/** Options of {@linkcode explanationsBundle}. */
export interface ShowExplanationsOptions {
  /** Captions, one per input (default "#i"). */
  captions?: string[];
  /** The inputs' true labels: a wrong prediction is captioned in red. */
  labels?: number[];
  /** SmoothGrad's seed (default 0). */
  seed?: number;
}

/**
 * Saliency, SmoothGrad, Grad-CAM and occlusion side by side for each input,
 * explaining the class the model predicts, each laid over the digit: saliency
 * and SmoothGrad as |gradient| up to its 99th percentile, Grad-CAM up to its
 * largest value, occlusion as the probability lost when a 6×6 patch around a
 * pixel is hidden (absolute, 0 to 1).
 *
 * @example
 * ```ts ignore
 * // needs a trained model and MNIST
 * const shown = explanationsBundle(model, digitInputs(mnist.train, [0, 1, 2]));
 * ```
 */
export function explanationsBundle(
  model: tf.LayersModel,
  inputs: Float32Array[],
  options: ShowExplanationsOptions = {},
): MimeBundle {
  const { digits, text } = explainDigits(model, inputs, options);
  return displayable({
    "text/html": explainedHtml(digits, { bars: EXPLANATION_BARS }),
    "text/plain": text,
  });
}

/** The colour bars under {@linkcode explanationsBundle}' table. */
export const EXPLANATION_BARS: Record<string, string> = {
  "saliency, SmoothGrad": "0..99th percentile of |gradient|",
  "Grad-CAM": "0..its largest value",
  "occlusion": "0..1 (probability lost; a rise shows as 0)",
};

/** The four maps of each input, ready for {@linkcode explainedHtml}, and a text summary. */
export function explainDigits(
  model: tf.LayersModel,
  inputs: Float32Array[],
  options: ShowExplanationsOptions = {},
): { digits: ExplainedDigit[]; text: string } {
  const plain = saliency(model, inputs);
  const smooth = saliency(model, inputs, {
    smoothGrad: { seed: options.seed ?? 0 },
  });
  const cam = gradCam(model, inputs);
  const occluded = occlusion(model, inputs);
  const lines: string[] = [];
  const digits = inputs.map((input, i) => {
    const predicted = plain.classes[i];
    const p = plain.probabilities[i][predicted];
    const label = options.labels?.[i];
    const wrong = label !== undefined && label !== predicted;
    const caption = `${options.captions?.[i] ?? `#${i}`}: ${
      label !== undefined && wrong ? `${label} read as ` : ""
    }${predicted}, p = ${p.toFixed(2)}`;
    lines.push(
      `${caption}; Grad-CAM peak at ${
        peak(cam.maps[i])
      }, occlusion's largest drop ${Math.max(...occluded.drops[i]).toFixed(2)}`,
    );
    const abs = (m: Float32Array) => m.map(Math.abs);
    return {
      input,
      caption,
      wrong,
      maps: [
        {
          name: "saliency",
          map: abs(plain.maps[i]),
          scale: { max: quantileAbs(plain.maps[i], 0.99) },
        },
        {
          name: "SmoothGrad",
          map: abs(smooth.maps[i]),
          scale: { max: quantileAbs(smooth.maps[i], 0.99) },
        },
        { name: `Grad-CAM (${cam.layer})`, map: cam.maps[i], scale: {} },
        { name: "occlusion", map: occluded.maps[i], scale: { min: 0, max: 1 } },
      ],
    };
  });
  return { digits, text: lines.join("\n") };
}

/** "(row, column)" of a 28×28 map's largest value. */
function peak(map: Float32Array): string {
  let best = 0;
  for (let p = 1; p < map.length; p++) if (map[p] > map[best]) best = p;
  return `(${Math.floor(best / 28)}, ${best % 28})`;
}

/**
 * A conv layer's kernels as ONE picture of tiles on the blue-white-red scale
 * (white 0, the same scale for all): conv1's 32 3×3 kernels in rows of 16;
 * for a layer with several input channels, one row per output channel (the
 * first `rows`), one column per input channel.
 *
 * @example
 * ```ts
 * import { assertEquals, assertStringIncludes } from "@std/assert";
 * import { buildModel } from "../model.ts";
 * import { convFilters } from "./filters.ts";
 * import { filtersBundle } from "./show.ts";
 * const bundle = filtersBundle(convFilters(buildModel({ seed: 1 })));
 * assertStringIncludes(bundle["text/plain"], "32 kernels");
 * // One picture for the grid, one for the colour bar.
 * assertEquals(bundle["text/html"]!.split("<img").length - 1, 2);
 * ```
 */
export function filtersBundle(
  filters: ConvFilters,
  options: { rows?: number; scale?: number } = {},
): MimeBundle {
  const single = filters.inChannels === 1;
  const scale = options.scale ?? (single ? 12 : 6);
  let max = 0;
  for (const out of filters.kernels) {
    for (const k of out) for (const v of k) max = Math.max(max, Math.abs(v));
  }
  const colours = (k: Float32Array) =>
    mapRgb(k, filters.width, filters.height, {
      min: -max,
      max,
      palette: DIVERGING,
    });
  const shown = single
    ? filters.kernels
    : filters.kernels.slice(0, options.rows ?? 4);
  const tiles = single
    ? shown.map((o) => colours(o[0]))
    : shown.flatMap((o) => o.map(colours));
  const grid = gridPng(tiles, filters.width, filters.height, {
    columns: single ? 16 : filters.inChannels,
    scale,
    gap: Math.max(2, scale / 3),
  });
  const layout = single
    ? `${tiles.length} kernels, ${Math.min(16, tiles.length)} a row`
    : `rows: output channels 0..${
      shown.length - 1
    }; columns: input channels 0..${filters.inChannels - 1}`;
  const text = `${filters.layer}: ${
    filters.kernels.length * filters.inChannels
  } kernels of ${filters.height}x${filters.width} (${filters.kernels.length} out, ${filters.inChannels} in)`;
  return displayable({
    "text/html": gridImg(grid, `${filters.layer}'s kernels: ${layout}`) +
      colourBar("weight", (-max).toFixed(2), max.toFixed(2), DIVERGING),
    "text/plain": single ? text : `${text}; shown: ${layout}`,
  });
}

/** A grid picture as an `<img>` at its own size, pixels kept sharp. */
function gridImg(
  grid: { url: string; width: number; height: number },
  alt: string,
): string {
  return `<img src="${grid.url}" width="${grid.width}" height="${grid.height}" alt="${alt}" title="${alt}" style="image-rendering:pixelated;max-width:none;margin:0">`;
}

/**
 * A 2-D layer's feature maps for one sample as ONE picture of tiles (the
 * first `count`, 8 a row), each on its own scale from 0 to its largest value.
 *
 * @throws {UsageError} when the layer's output is not 2-D maps.
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { featureMapsBundle } from "./show.ts";
 * const layer = { name: "conv2d", className: "Conv2D", shape: [1, 2, 2, 3], data: new Float32Array(12) };
 * assertStringIncludes(featureMapsBundle(layer)["text/plain"], "3 maps");
 * ```
 */
export function featureMapsBundle(
  layer: LayerActivation,
  options: { sample?: number; count?: number; scale?: number } = {},
): MimeBundle {
  if (layer.shape.length !== 4) {
    throw new UsageError(
      `layer "${layer.name}" outputs [${layer.shape}], not 2-D feature maps`,
    );
  }
  const [, h, w, k] = layer.shape;
  const count = Math.min(options.count ?? k, k);
  const scale = options.scale ?? 2;
  const tiles: Uint8Array[] = [];
  for (let c = 0; c < count; c++) {
    tiles.push(mapRgb(featureMap(layer, options.sample ?? 0, c), w, h));
  }
  const grid = gridPng(tiles, w, h, { columns: 8, scale, gap: 3 });
  return displayable({
    "text/html": gridImg(
      grid,
      `${layer.name}'s first ${count} feature maps, 8 a row`,
    ) + colourBar("activation", "0", "each map's largest"),
    "text/plain": `${layer.name}: ${k} maps of ${h}x${w}${
      count < k ? ` (the first ${count} shown)` : ""
    }`,
  });
}

/**
 * Shows {@linkcode explanationsBundle} in the running notebook cell;
 * resolves once the kernel has published it there.
 *
 * @example
 * ```ts ignore
 * // needs a trained model and MNIST
 * await showExplanations(model, digitInputs(mnist.train, [0, 1, 2]));
 * ```
 */
export function showExplanations(
  model: tf.LayersModel,
  inputs: Float32Array[],
  options: ShowExplanationsOptions = {},
): Promise<void> {
  return display(explanationsBundle(model, inputs, options));
}

/**
 * Shows {@linkcode filtersBundle} in the running notebook cell; resolves
 * once the kernel has published it there.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel } from "../model.ts";
 * import { convFilters } from "./filters.ts";
 * import { showFilters } from "./show.ts";
 * assertEquals(await showFilters(convFilters(buildModel({ seed: 1 }))), undefined);
 * ```
 */
export function showFilters(
  filters: ConvFilters,
  options: { rows?: number; scale?: number } = {},
): Promise<void> {
  return display(filtersBundle(filters, options));
}

/**
 * Shows {@linkcode featureMapsBundle} in the running notebook cell; resolves
 * once the kernel has published it there.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { showFeatureMaps } from "./show.ts";
 * const layer = { name: "conv2d", className: "Conv2D", shape: [1, 2, 2, 3], data: new Float32Array(12) };
 * assertEquals(await showFeatureMaps(layer), undefined);
 * ```
 */
export function showFeatureMaps(
  layer: LayerActivation,
  options: { sample?: number; count?: number; scale?: number } = {},
): Promise<void> {
  return display(featureMapsBundle(layer, options));
}

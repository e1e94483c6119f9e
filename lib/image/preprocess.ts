/**
 * Turns a picture of a handwritten digit into what the model was trained on,
 * the way MNIST itself was made: a white digit on black, its longer side
 * scaled to 20 pixels (keeping its aspect ratio, with area resampling), placed
 * in a 28×28 field so that its centre of mass is at the centre.
 *
 * The steps: grey (alpha composited on white); find which way round ink and
 * paper are (dark on light, or light on dark) and invert to light ink on
 * black; subtract the paper's level and stretch the ink to full range, with
 * the noise floor cut (Otsu's threshold); keep the connected strokes that
 * matter and drop specks; crop; scale; centre.
 *
 * @module
 */
import { ImageError } from "../errors.ts";
import type { RgbaImage } from "./decode.ts";

/** Side of the model's input field. */
export const FIELD = 28;
/** Side of the box the digit is fitted into, as in MNIST. */
export const BOX = 20;
/**
 * The stroke width, in pixels of the 28×28 field, that thin strokes (a
 * typed digit, a fine pen) are widened to: about MNIST's pen.
 */
export const STROKE = 2.2;

/** Options of {@linkcode toMnistInput}. */
export interface PreprocessOptions {
  /** Names the picture in errors (a file or a request). */
  name?: string;
}

/**
 * MNIST-style preprocessing of a picture: 784 values in [0, 1], row-major,
 * the digit white on black, its longer side 20 pixels, centred by its centre
 * of mass in the 28×28 field.
 *
 * @throws {ImageError} "no digit found" when the picture is blank or holds
 * nothing that stands out from the paper.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { centreOfMass, readImage, toMnistInput } from "./mod.ts";
 * const picture = await readImage("notebooks/sample_digits/digit_7.png");
 * const input = toMnistInput(picture, { name: "digit_7.png" });
 * assertEquals(input.length, 784);
 * const { x, y } = centreOfMass(input); // centred by centre of mass, as MNIST
 * assertEquals([Math.round(x), Math.round(y)], [14, 14]);
 * ```
 */
export function toMnistInput(
  image: RgbaImage,
  options: PreprocessOptions = {},
): Float32Array {
  const name = options.name ?? "picture";
  const { width, height } = image;
  const ink = inkLevels(image);
  const strokes = keepStrokes(ink, width, height);
  if (strokes === undefined) {
    throw new ImageError(name, "no digit found", { kind: "no-digit" });
  }
  const { box } = strokes;
  // Thin strokes are widened first (the box grows with them), then the
  // digit, strokes and all, is fitted into the 20-pixel box.
  const thin = BOX / Math.max(box.x1 - box.x0, box.y1 - box.y0);
  thickenStrokes(strokes.ink, width, height, box, STROKE / thin);
  const w = box.x1 - box.x0, h = box.y1 - box.y0;
  const scale = BOX / Math.max(w, h);
  const sw = Math.max(1, Math.round(w * scale));
  const sh = Math.max(1, Math.round(h * scale));
  const small = resampleArea(strokes.ink, width, box, sw, sh);
  return centre(small, sw, sh);
}

/**
 * Ink per pixel in [0, 1] (1 = full ink): grey, inverted when the paper is
 * light, the paper's level subtracted and the ink stretched to full range;
 * values under the noise floor are 0.
 */
function inkLevels(image: RgbaImage): Float32Array {
  const { width, height, data } = image;
  const n = width * height;
  const grey = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const a = data[4 * i + 3] / 255;
    const lum = 0.299 * data[4 * i] + 0.587 * data[4 * i + 1] +
      0.114 * data[4 * i + 2];
    grey[i] = a * lum + (1 - a) * 255; // composited on white paper
  }
  // The paper is what the border mostly shows.
  const border: number[] = [];
  for (let x = 0; x < width; x++) {
    border.push(grey[x], grey[(height - 1) * width + x]);
  }
  for (let y = 0; y < height; y++) {
    border.push(grey[y * width], grey[y * width + width - 1]);
  }
  const paperIsLight = median(border) >= 128;
  const raw = new Float32Array(n);
  for (let i = 0; i < n; i++) raw[i] = paperIsLight ? 255 - grey[i] : grey[i];
  const paper = nthValue(raw.slice(), Math.floor(n / 2));
  const threshold = otsu(raw);
  // Full ink: a high percentile of the pixels above the threshold.
  const inked = raw.filter((v) => v > threshold).sort();
  const full = inked.length > 0
    ? inked[Math.floor(0.9 * (inked.length - 1))]
    : 255;
  const span = full - paper;
  const out = new Float32Array(n);
  if (span < 24) return out; // nothing stands out from the paper
  const floor = Math.max(0, (threshold - paper) / span) * 0.5;
  for (let i = 0; i < n; i++) {
    const v = Math.min(1, Math.max(0, (raw[i] - paper) / span));
    out[i] = v <= floor ? 0 : (v - floor) / (1 - floor);
  }
  return out;
}

/**
 * The value that would sit at `k` if `values` were sorted (Hoare's
 * selection: linear on average; reorders `values`).
 */
function nthValue(values: Float32Array, k: number): number {
  let lo = 0, hi = values.length - 1;
  while (lo < hi) {
    const pivot = values[(lo + hi) >>> 1];
    let i = lo, j = hi;
    while (i <= j) {
      while (values[i] < pivot) i++;
      while (values[j] > pivot) j--;
      if (i <= j) {
        const t = values[i];
        values[i++] = values[j];
        values[j--] = t;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return values[k];
}

/** The median of `values` (which it sorts). */
function median(values: number[]): number {
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)] ?? 0;
}

/** Otsu's threshold of 0..255 levels: the split with most between-class variance. */
function otsu(values: Float32Array): number {
  const hist = new Float64Array(256);
  for (const v of values) hist[Math.min(255, Math.max(0, Math.round(v)))]++;
  const total = values.length;
  let sum = 0;
  for (let t = 0; t < 256; t++) sum += t * hist[t];
  let sumB = 0, weightB = 0, best = 0, threshold = 0;
  for (let t = 0; t < 256; t++) {
    weightB += hist[t];
    if (weightB === 0) continue;
    const weightF = total - weightB;
    if (weightF === 0) break;
    sumB += t * hist[t];
    const meanB = sumB / weightB, meanF = (sum - sumB) / weightF;
    const between = weightB * weightF * (meanB - meanF) ** 2;
    if (between > best) {
      best = between;
      threshold = t;
    }
  }
  return threshold;
}

/** A box `[x0, x1) × [y0, y1)` in pixels. */
interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/**
 * The ink of the strokes that make the digit, specks dropped, and their
 * bounding box; undefined when there is no stroke. Strokes are the connected
 * components (8-neighbour) of clear ink; a component is kept when it holds at
 * least a tenth of the largest one's ink, so a digit's separate strokes (a
 * 5's cap, a 7's bar) stay and dust goes.
 */
function keepStrokes(
  ink: Float32Array,
  width: number,
  height: number,
): { ink: Float32Array; box: Box } | undefined {
  const n = width * height;
  const labels = new Int32Array(n).fill(-1);
  const mass: number[] = [];
  const stack: number[] = [];
  for (let start = 0; start < n; start++) {
    if (ink[start] < 0.25 || labels[start] >= 0) continue;
    const label = mass.length;
    let total = 0;
    labels[start] = label;
    stack.push(start);
    while (stack.length > 0) {
      const p = stack.pop()!;
      total += ink[p];
      const x = p % width, y = (p - x) / width;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx, ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
          const q = ny * width + nx;
          if (ink[q] >= 0.25 && labels[q] < 0) {
            labels[q] = label;
            stack.push(q);
          }
        }
      }
    }
    mass.push(total);
  }
  if (mass.length === 0) return undefined;
  const largest = Math.max(...mass);
  // A digit is more than a few pixels of ink.
  if (largest < Math.max(4, n * 1e-4)) return undefined;
  const keep = mass.map((m) => m >= largest / 10);
  // Faint pixels (anti-aliased edges) belong to the nearest kept stroke:
  // keep them when a neighbour within 2 pixels is a kept stroke.
  const kept = new Float32Array(n);
  const box: Box = { x0: width, y0: height, x1: 0, y1: 0 };
  for (let p = 0; p < n; p++) {
    if (ink[p] === 0) continue;
    const x = p % width, y = (p - x) / width;
    let near = labels[p] >= 0 && keep[labels[p]];
    for (let dy = -2; dy <= 2 && !near && labels[p] < 0; dy++) {
      for (let dx = -2; dx <= 2 && !near; dx++) {
        const nx = x + dx, ny = y + dy;
        if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
        const l = labels[ny * width + nx];
        near = l >= 0 && keep[l];
      }
    }
    if (!near) continue;
    kept[p] = ink[p];
    box.x0 = Math.min(box.x0, x);
    box.y0 = Math.min(box.y0, y);
    box.x1 = Math.max(box.x1, x + 1);
    box.y1 = Math.max(box.y1, y + 1);
  }
  return { ink: kept, box };
}

/**
 * Widens strokes thinner than `target` pixels, in place: the stroke width is
 * estimated as twice the ink area over the boundary length (a stroke of width
 * w and length L has area wL and about 2L boundary pixels), and the ink is
 * dilated (a grey max filter over a square, row pass then column pass, each
 * a sliding-window maximum: linear in the pixels whatever the radius) by the
 * missing half-width, within `box` and a margin of that radius.
 */
function thickenStrokes(
  ink: Float32Array,
  width: number,
  height: number,
  box: Box,
  target: number,
): void {
  let area = 0, boundary = 0;
  for (let y = box.y0; y < box.y1; y++) {
    for (let x = box.x0; x < box.x1; x++) {
      if (ink[y * width + x] < 0.5) continue;
      area++;
      const out = (nx: number, ny: number) =>
        nx < 0 || ny < 0 || nx >= width || ny >= height ||
        ink[ny * width + nx] < 0.5;
      if (out(x - 1, y) || out(x + 1, y) || out(x, y - 1) || out(x, y + 1)) {
        boundary++;
      }
    }
  }
  if (boundary === 0) return;
  const stroke = (2 * area) / boundary;
  const radius = Math.round((target - stroke) / 2);
  if (radius < 1) return;
  const x0 = Math.max(0, box.x0 - radius),
    x1 = Math.min(width, box.x1 + radius);
  const y0 = Math.max(0, box.y0 - radius),
    y1 = Math.min(height, box.y1 + radius);
  for (let y = y0; y < y1; y++) {
    slidingMax(ink, y * width + x0, 1, x1 - x0, radius);
  }
  for (let x = x0; x < x1; x++) {
    slidingMax(ink, y0 * width + x, width, y1 - y0, radius);
  }
  // The box grows with the strokes.
  box.x0 = x0;
  box.x1 = x1;
  box.y0 = y0;
  box.y1 = y1;
}

/**
 * Replaces `count` values of `a` (from `start`, `step` apart) by the maximum
 * over a window of `radius` on each side, with a monotonic deque.
 */
function slidingMax(
  a: Float32Array,
  start: number,
  step: number,
  count: number,
  radius: number,
): void {
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) values[i] = a[start + i * step];
  const deque = new Int32Array(count);
  let head = 0, tail = 0, next = 0;
  for (let i = 0; i < count; i++) {
    // Admit every index up to i + radius.
    for (; next < count && next <= i + radius; next++) {
      while (tail > head && values[deque[tail - 1]] <= values[next]) tail--;
      deque[tail++] = next;
    }
    while (deque[head] < i - radius) head++;
    a[start + i * step] = values[deque[head]];
  }
}

/**
 * Area (box-filter) resampling of the `box` region of `src` (row stride
 * `stride`) to `outW × outH`: each output pixel is the mean of the source
 * area it covers, fractional pixels weighted by their overlap.
 */
function resampleArea(
  src: Float32Array,
  stride: number,
  box: Box,
  outW: number,
  outH: number,
): Float32Array {
  const w = box.x1 - box.x0, h = box.y1 - box.y0;
  const weights = (inSize: number, outSize: number) => {
    const rows: { from: number; to: number; w: Float64Array }[] = [];
    const step = inSize / outSize;
    for (let o = 0; o < outSize; o++) {
      const a = o * step, b = (o + 1) * step;
      const from = Math.floor(a), to = Math.min(inSize, Math.ceil(b));
      const w = new Float64Array(to - from);
      for (let i = from; i < to; i++) {
        w[i - from] = (Math.min(b, i + 1) - Math.max(a, i)) / step;
      }
      rows.push({ from, to, w });
    }
    return rows;
  };
  const wx = weights(w, outW), wy = weights(h, outH);
  // Horizontal pass into [h, outW], then vertical into [outH, outW].
  const mid = new Float64Array(h * outW);
  for (let y = 0; y < h; y++) {
    const row = (box.y0 + y) * stride + box.x0;
    for (let o = 0; o < outW; o++) {
      const { from, to, w: k } = wx[o];
      let s = 0;
      for (let i = from; i < to; i++) s += src[row + i] * k[i - from];
      mid[y * outW + o] = s;
    }
  }
  const out = new Float32Array(outH * outW);
  for (let o = 0; o < outH; o++) {
    const { from, to, w: k } = wy[o];
    for (let x = 0; x < outW; x++) {
      let s = 0;
      for (let i = from; i < to; i++) s += mid[i * outW + x] * k[i - from];
      out[o * outW + x] = s;
    }
  }
  return out;
}

/**
 * Places a `w × h` digit in the 28×28 field so that its centre of mass lands
 * on the field's centre (rounded to whole pixels, kept inside the field).
 */
function centre(digit: Float32Array, w: number, h: number): Float32Array {
  let total = 0, cx = 0, cy = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = digit[y * w + x];
      total += v;
      cx += v * (x + 0.5);
      cy += v * (y + 0.5);
    }
  }
  cx = total > 0 ? cx / total : w / 2;
  cy = total > 0 ? cy / total : h / 2;
  const clamp = (v: number, size: number) =>
    Math.min(FIELD - size, Math.max(0, v));
  const left = clamp(Math.round(FIELD / 2 - cx), w);
  const top = clamp(Math.round(FIELD / 2 - cy), h);
  const out = new Float32Array(FIELD * FIELD);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      out[(top + y) * FIELD + left + x] = Math.min(1, digit[y * w + x]);
    }
  }
  return out;
}

/**
 * The centre of mass `(x, y)` of a 28×28 input, in pixels from its top-left
 * corner (the field's centre is `(14, 14)`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { centreOfMass } from "./preprocess.ts";
 * const field = new Float32Array(784);
 * field[14 * 28 + 13] = 1;
 * assertEquals(centreOfMass(field), { x: 13.5, y: 14.5 });
 * ```
 */
export function centreOfMass(input: Float32Array): { x: number; y: number } {
  let total = 0, cx = 0, cy = 0;
  for (let y = 0; y < FIELD; y++) {
    for (let x = 0; x < FIELD; x++) {
      const v = input[y * FIELD + x];
      total += v;
      cx += v * (x + 0.5);
      cy += v * (y + 0.5);
    }
  }
  return total > 0
    ? { x: cx / total, y: cy / total }
    : { x: FIELD / 2, y: FIELD / 2 };
}

/**
 * Renders a 28×28 input as text shading, one line per row (` .:-=+*#%@`
 * from no ink to full ink), as `predict --show` prints it.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shadeText } from "./preprocess.ts";
 * assertEquals(shadeText(new Float32Array(784)).split("\n").length, 28);
 * ```
 */
export function shadeText(input: Float32Array): string {
  const ramp = " .:-=+*#%@";
  const lines: string[] = [];
  for (let y = 0; y < FIELD; y++) {
    let line = "";
    for (let x = 0; x < FIELD; x++) {
      const v = Math.min(1, Math.max(0, input[y * FIELD + x]));
      line += ramp[Math.min(ramp.length - 1, Math.floor(v * ramp.length))];
    }
    lines.push(line.trimEnd());
  }
  return lines.join("\n");
}

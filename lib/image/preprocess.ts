/**
 * Turns a picture of a handwritten digit into what the model was trained on,
 * the way MNIST itself was made: a white digit on black, its longer side
 * scaled to 20 pixels (keeping its aspect ratio, with area resampling), placed
 * in a 28×28 field so that its centre of mass is at the centre.
 *
 * The steps: grey (alpha composited on white); find which way round ink and
 * paper are (dark on light, or light on dark) and turn light ink round;
 * estimate the paper's level locally (so light that changes across a photo
 * cancels) and take ink as darkness relative to it; grow the strokes from
 * clear ink through fainter connected ink (hysteresis over the paper's
 * measured noise: grain and JPEG noise stay out, faint pencil stays in); drop
 * paper lines, specks and dust; crop; scale; centre.
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
  // A shape broader than the local paper estimate can follow (a large filled
  // blob) reads as paper there: then one paper level, the border's, is used.
  let ink = inkLevels(image, { local: true });
  let strokes = ink && keepStrokes(ink, width, height);
  if (strokes === undefined) {
    ink = inkLevels(image, { local: false });
    strokes = ink && keepStrokes(ink, width, height);
  }
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

/** What {@linkcode inkLevels} finds: ink per pixel and the thresholds. */
interface Ink {
  /** Darkness of each pixel against its local paper, 0 (paper) up. */
  ink: Float32Array;
  /** The same, averaged over 3×3 pixels (grain and JPEG noise averaged out). */
  smooth: Float32Array;
  /** Noise of the paper: the spread of `smooth` where there is no ink. */
  noise: number;
  /** A level of full ink: a high percentile of the clearly inked pixels. */
  full: number;
  /** The smoothed darkness above which a pixel is clearly inked. */
  clear: number;
}

/**
 * Ink per pixel against the paper around it: grey; the paper's level
 * estimated locally (block medians, a grey closing over blocks so strokes do
 * not pull it down, then interpolated), so light that changes across the
 * page cancels out; ink as darkness relative to that level (reflectance, not
 * brightness: a shaded corner's ink is as dark as a lit one's). Pictures of
 * light ink on dark paper are turned round first. With `local: false`, the
 * paper is one level, the border's. Undefined when nothing stands out from
 * the paper.
 */
function inkLevels(
  image: RgbaImage,
  { local }: { local: boolean },
): Ink | undefined {
  const { width, height, data } = image;
  const n = width * height;
  const grey = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const a = data[4 * i + 3] / 255;
    const lum = 0.299 * data[4 * i] + 0.587 * data[4 * i + 1] +
      0.114 * data[4 * i + 2];
    grey[i] = a * lum + (1 - a) * 255; // composited on white paper
  }
  // The paper is what the border mostly shows: clearly light or clearly
  // dark decides; in between (a dim photo), the side the ink stands out to.
  const border = borderMedian(grey, width, height);
  const grid = blockMedians(grey, width, height);
  const paperIsLight = border >= 185 ||
    (border > 70 && darkInkSkew(grey, width, height) >= 0);
  if (!paperIsLight) {
    for (let i = 0; i < n; i++) grey[i] = 255 - grey[i];
    for (let i = 0; i < grid.values.length; i++) {
      grid.values[i] = 255 - grid.values[i];
    }
  }
  // The paper: a grey closing of the block medians (blocks darkened by a
  // stroke take the level of the paper beside them), smoothed.
  let paper: Float32Array;
  if (local) {
    close(grid, 3);
    paper = upsample(grid, width, height);
  } else {
    paper = new Float32Array(n).fill(paperIsLight ? border : 255 - border);
  }
  const ink = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    ink[i] = (paper[i] - grey[i]) / Math.max(paper[i], 16);
  }
  const smooth = boxBlur3(ink, width, height);
  // Paper noise: the spread of the smoothed darkness about its median, from
  // its absolute deviations: over the whole picture (most pixels are paper),
  // or with one paper level (a shape that may cover most of it) over the
  // border's pixels.
  const paperPixels = local ? smooth : borderValues(smooth, width, height);
  const centre = percentile(paperPixels, 0.5);
  const residual = paperPixels.map((v) => v - centre);
  const noise = 1.4826 * percentile(residual, 0.5, true);
  const clear = Math.max(6 * noise, 0.08);
  let count = 0;
  for (let i = 0; i < n; i++) if (smooth[i] >= clear) count++;
  if (count < 4) return undefined;
  const inked = new Float32Array(count);
  for (let i = 0, k = 0; i < n; i++) {
    if (smooth[i] >= clear) inked[k++] = ink[i];
  }
  const full = percentile(inked, 0.9);
  if (full < Math.max(0.094, 8 * noise)) return undefined;
  for (let i = 0; i < n; i++) ink[i] = Math.max(0, ink[i]);
  return { ink, smooth, noise, full, clear };
}

/** The values of the two-pixel ring along the picture's border. */
function borderValues(
  values: Float32Array,
  width: number,
  height: number,
): Float32Array {
  const out: number[] = [];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (x < 2 || y < 2 || x >= width - 2 || y >= height - 2) {
        out.push(values[y * width + x]);
      }
    }
  }
  return Float32Array.from(out);
}

/**
 * Which way the ink stands out: against the paper's broad level (the medians
 * of a 4×4 grid of blocks, interpolated, so a slope of light cancels), the
 * ink is the longer tail, down for dark ink, up for light. Positive for dark
 * ink.
 */
function darkInkSkew(grey: Float32Array, width: number, height: number) {
  const size = Math.max(1, Math.ceil(Math.max(width, height) / 4));
  const broad = upsample(
    blockMedians(grey, width, height, size),
    width,
    height,
  );
  const residual = new Float32Array(grey.length);
  for (let i = 0; i < grey.length; i++) residual[i] = grey[i] - broad[i];
  return -percentile(residual, 0.01) - percentile(residual, 0.99);
}

/** The median grey of the picture's outermost pixels. */
function borderMedian(grey: Float32Array, width: number, height: number) {
  const border: number[] = [];
  for (let x = 0; x < width; x++) {
    border.push(grey[x], grey[(height - 1) * width + x]);
  }
  for (let y = 0; y < height; y++) {
    border.push(grey[y * width], grey[y * width + width - 1]);
  }
  border.sort((a, b) => a - b);
  return border[border.length >> 1];
}

/** A grid of blocks over a picture: `cols × rows` values, `size` pixels each. */
interface Grid {
  values: Float32Array;
  cols: number;
  rows: number;
  size: number;
}

/**
 * The median grey of each block of a grid over the picture: blocks of about
 * a 24th of the longer side (at least 4 pixels), from 256-bin histograms.
 */
function blockMedians(
  grey: Float32Array,
  width: number,
  height: number,
  size = Math.max(4, Math.ceil(Math.max(width, height) / 24)),
): Grid {
  const cols = Math.ceil(width / size), rows = Math.ceil(height / size);
  const values = new Float32Array(cols * rows);
  const hist = new Int32Array(256);
  for (let by = 0; by < rows; by++) {
    for (let bx = 0; bx < cols; bx++) {
      hist.fill(0);
      const x0 = bx * size, x1 = Math.min(width, x0 + size);
      const y0 = by * size, y1 = Math.min(height, y0 + size);
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) hist[Math.round(grey[y * width + x])]++;
      }
      const half = ((x1 - x0) * (y1 - y0)) / 2;
      let level = 0;
      for (let seen = hist[0]; seen < half; seen += hist[++level]);
      values[by * cols + bx] = level;
    }
  }
  return { values, cols, rows, size };
}

/**
 * Grey closing of a grid, in place: the maximum over `radius` blocks each
 * way, then the minimum, on the grid extended past its edges by point
 * reflection (so a slope of light runs on and is kept to the border); dark
 * features narrower than the window go. Then a 3×3 mean.
 */
function close(grid: Grid, radius: number): void {
  const { cols, rows } = grid;
  const pc = cols + 2 * radius, pr = rows + 2 * radius;
  // Extended by point reflection: v[-k] = 2 v[0] - v[k].
  const reflect = (i: number, count: number): [number, number] =>
    i < 0
      ? [0, Math.min(-i, count - 1)]
      : i >= count
      ? [count - 1, Math.max(0, 2 * (count - 1) - i)]
      : [i, i];
  let values = new Float32Array(pc * pr);
  for (let y = 0; y < pr; y++) {
    const [ey, my] = reflect(y - radius, rows);
    for (let x = 0; x < pc; x++) {
      const [ex, mx] = reflect(x - radius, cols);
      const edge = grid.values[ey * cols + ex];
      const inner = grid.values[my * cols + mx];
      const corner = grid.values[ey * cols + mx] + grid.values[my * cols + ex] -
        inner;
      // Reflected through the edge row/column, or through the corner.
      const v = ey === my && ex === mx
        ? edge
        : ey === my
        ? 2 * grid.values[ey * cols + ex] - grid.values[ey * cols + mx]
        : ex === mx
        ? 2 * grid.values[ey * cols + ex] - grid.values[my * cols + ex]
        : 2 * edge - inner + 0 * corner;
      values[y * pc + x] = Math.min(255, Math.max(0, v));
    }
  }
  const filter = (pick: (a: number, b: number) => number) => {
    const out = new Float32Array(values.length);
    for (let y = 0; y < pr; y++) {
      for (let x = 0; x < pc; x++) {
        let v = values[y * pc + x];
        for (
          let yy = Math.max(0, y - radius);
          yy <= Math.min(pr - 1, y + radius);
          yy++
        ) {
          for (
            let xx = Math.max(0, x - radius);
            xx <= Math.min(pc - 1, x + radius);
            xx++
          ) {
            v = pick(v, values[yy * pc + xx]);
          }
        }
        out[y * pc + x] = v;
      }
    }
    values = out;
  };
  filter(Math.max);
  filter(Math.min);
  const out = grid.values;
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      let sum = 0;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          sum += values[(y + radius + dy) * pc + x + radius + dx];
        }
      }
      out[y * cols + x] = sum / 9;
    }
  }
}

/** The grid's values interpolated (bilinearly, between block centres) at every pixel. */
function upsample(grid: Grid, width: number, height: number): Float32Array {
  const { values, cols, rows, size } = grid;
  const out = new Float32Array(width * height);
  const at = (p: number, count: number) => {
    const f = Math.min(count - 1, Math.max(0, (p + 0.5) / size - 0.5));
    const i = Math.min(count - 2, Math.floor(f));
    return i < 0 ? { i: 0, j: 0, w: 0 } : { i, j: i + 1, w: f - i };
  };
  const xs = Array.from({ length: width }, (_, x) => at(x, cols));
  for (let y = 0; y < height; y++) {
    const { i: r0, j: r1, w: wy } = at(y, rows);
    for (let x = 0; x < width; x++) {
      const { i: c0, j: c1, w: wx } = xs[x];
      const top = values[r0 * cols + c0] * (1 - wx) +
        values[r0 * cols + c1] * wx;
      const bottom = values[r1 * cols + c0] * (1 - wx) +
        values[r1 * cols + c1] * wx;
      out[y * width + x] = top * (1 - wy) + bottom * wy;
    }
  }
  return out;
}

/** The mean over each pixel's 3×3 neighbourhood (within the picture). */
function boxBlur3(
  a: Float32Array,
  width: number,
  height: number,
): Float32Array {
  const rows = new Float32Array(a.length);
  for (let y = 0; y < height; y++) {
    const o = y * width;
    for (let x = 0; x < width; x++) {
      let s = a[o + x], c = 1;
      if (x > 0) (s += a[o + x - 1]), c++;
      if (x < width - 1) (s += a[o + x + 1]), c++;
      rows[o + x] = s / c;
    }
  }
  const out = new Float32Array(a.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      let s = rows[i], c = 1;
      if (y > 0) (s += rows[i - width]), c++;
      if (y < height - 1) (s += rows[i + width]), c++;
      out[i] = s / c;
    }
  }
  return out;
}

/**
 * The `q` quantile of `values` (of their absolute values when `absolute`),
 * from a 4,096-bin histogram between their extremes: linear in the pixels.
 */
function percentile(values: Float32Array, q: number, absolute = false): number {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = absolute ? Math.abs(values[i]) : values[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(hi > lo)) return values.length > 0 ? lo : 0;
  const bins = 4096, scale = (bins - 1) / (hi - lo);
  const hist = new Int32Array(bins);
  for (let i = 0; i < values.length; i++) {
    const v = absolute ? Math.abs(values[i]) : values[i];
    hist[Math.floor((v - lo) * scale)]++;
  }
  const target = q * (values.length - 1);
  let seen = 0, bin = 0;
  for (; bin < bins - 1; bin++) {
    seen += hist[bin];
    if (seen > target) break;
  }
  return lo + (bin + 0.5) / scale;
}

/** A box `[x0, x1) × [y0, y1)` in pixels. */
interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/**
 * The ink of the strokes that make the digit, and their bounding box;
 * undefined when there is no stroke. Strokes are grown from clear ink
 * (hysteresis on the smoothed darkness: seeds well above the paper's noise,
 * grown through fainter connected pixels, 8-neighbour), so a faint pencil
 * line is kept whole and grain inside a loop, not connected to anything
 * clear, is not. Paper lines (a component running from one border of the
 * picture to the opposite one) are dropped unless nothing else is there.
 * The digit's main stroke is the heaviest one off the picture's border; any
 * other is kept when it holds at least a tenth of the main one's ink, lies
 * within half the main one's size of it and (unless the main one does) off
 * the border, so a digit's separate strokes (a 5's cap, a 7's bar) stay and
 * dust, pieces of cut paper lines and a dark corner's shade go. Kept pixels
 * are stretched to full range over a floor of 30% of the strokes' full ink
 * (or the paper's noise, if higher), which also cuts shade joined to a stroke.
 */
function keepStrokes(
  found: Ink,
  width: number,
  height: number,
): { ink: Float32Array; box: Box } | undefined {
  const { ink, smooth, noise } = found;
  const n = width * height;
  const seed = Math.max(6 * noise, 0.4 * found.full);
  const grow = Math.max(3 * noise, 0.2 * found.full);
  const labels = new Int32Array(n).fill(-1);
  const mass: number[] = [], seeded: boolean[] = [], spans: Box[] = [];
  const stack: number[] = [];
  for (let start = 0; start < n; start++) {
    if (smooth[start] < grow || labels[start] >= 0) continue;
    const label = mass.length;
    let total = 0, clear = false;
    const span: Box = { x0: width, y0: height, x1: 0, y1: 0 };
    labels[start] = label;
    stack.push(start);
    while (stack.length > 0) {
      const p = stack.pop()!;
      total += ink[p];
      clear ||= smooth[p] >= seed;
      const x = p % width, y = (p - x) / width;
      if (x < span.x0) span.x0 = x;
      if (x >= span.x1) span.x1 = x + 1;
      if (y < span.y0) span.y0 = y;
      if (y >= span.y1) span.y1 = y + 1;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if (nx < 0 || nx >= width) continue;
          const q = ny * width + nx;
          if (smooth[q] >= grow && labels[q] < 0) {
            labels[q] = label;
            stack.push(q);
          }
        }
      }
    }
    mass.push(total);
    seeded.push(clear);
    spans.push(span);
  }
  // Paper lines run from border to border.
  const ruling = spans.map((s) =>
    (s.x0 <= 1 && s.x1 >= width - 1) || (s.y0 <= 1 && s.y1 >= height - 1)
  );
  const candidates = mass.map((_, l) => seeded[l] && !ruling[l]);
  if (!candidates.some((c) => c)) {
    mass.forEach((_, l) => candidates[l] = seeded[l]);
  }
  // The digit's main stroke: the heaviest candidate away from the border
  // (shading in a corner and cut lines reach it; a digit seldom does).
  const edge = spans.map((s) =>
    s.x0 <= 1 || s.y0 <= 1 || s.x1 >= width - 1 || s.y1 >= height - 1
  );
  const heaviest = (inner: boolean) =>
    mass.reduce(
      (best, m, l) =>
        candidates[l] && (!inner || !edge[l]) && (best < 0 || m > mass[best])
          ? l
          : best,
      -1,
    );
  const inner = heaviest(true), any = heaviest(false);
  const main = inner >= 0 && mass[inner] >= mass[any] / 10 ? inner : any;
  const largest = main < 0 ? 0 : mass[main];
  // A digit is more than a few pixels of ink.
  if (largest < Math.max(4, n * 1e-4)) return undefined;
  // Other strokes belong to the digit when they are heavy enough, near its
  // main stroke (within half its size) and, unless it does, off the border.
  const m = spans[main];
  const reach = 0.5 * Math.max(m.x1 - m.x0, m.y1 - m.y0);
  const near = (s: Box) =>
    Math.max(m.x0 - s.x1, s.x0 - m.x1, m.y0 - s.y1, s.y0 - m.y1) <= reach;
  const keep = mass.map((w, l) =>
    l === main ||
    (candidates[l] && w >= largest / 10 && near(spans[l]) &&
      (!edge[l] || edge[main]))
  );
  // Full ink among the kept strokes only (dust must not move it); below 30%
  // of it (or the paper's noise) is paper: antialiasing, shade, grain.
  let count = 0;
  for (let p = 0; p < n; p++) {
    if (labels[p] >= 0 && keep[labels[p]] && smooth[p] >= found.clear) count++;
  }
  const strokeInk = new Float32Array(count);
  for (let p = 0, k = 0; p < n; p++) {
    if (labels[p] >= 0 && keep[labels[p]] && smooth[p] >= found.clear) {
      strokeInk[k++] = ink[p];
    }
  }
  const full = count > 0 ? percentile(strokeInk, 0.9) : found.full;
  const floor = Math.min(Math.max(3 * noise, 0.3 * full), 0.5 * full);
  const kept = new Float32Array(n);
  const box: Box = { x0: width, y0: height, x1: 0, y1: 0 };
  for (let p = 0; p < n; p++) {
    const l = labels[p];
    if (l < 0 || !keep[l] || ink[p] <= floor) continue;
    const x = p % width, y = (p - x) / width;
    kept[p] = Math.min(1, (ink[p] - floor) / (full - floor));
    box.x0 = Math.min(box.x0, x);
    box.y0 = Math.min(box.y0, y);
    box.x1 = Math.max(box.x1, x + 1);
    box.y1 = Math.max(box.y1, y + 1);
  }
  if (box.x1 <= box.x0) return undefined;
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

/**
 * Digits as pen strokes, the way a person draws them with a mouse or a pen:
 * polylines in a unit box (x right, y down). The tests draw them on the
 * drawing page's canvas with the mouse, and `make_samples.ts` renders them
 * into the sample pictures that ship in `notebooks/sample_digits/`.
 *
 * @module
 */

/** A stroke: points `[x, y]` in the unit box, joined by straight lines. */
export type Stroke = [number, number][];

/** Arc of an ellipse from angle `a0` to `a1` (radians, y down), as points. */
function arc(
  cx: number,
  cy: number,
  rx: number,
  ry: number,
  a0: number,
  a1: number,
  steps = 16,
): Stroke {
  return Array.from({ length: steps + 1 }, (_, i) => {
    const a = a0 + ((a1 - a0) * i) / steps;
    return [cx + rx * Math.cos(a), cy + ry * Math.sin(a)] as [number, number];
  });
}

const PI = Math.PI;

/** The strokes of each digit 0–9, drawn as MNIST's writers drew them. */
export const DIGIT_STROKES: readonly Stroke[][] = [
  [arc(0.5, 0.5, 0.27, 0.4, -PI / 2, 1.5 * PI, 24)],
  [[[0.38, 0.22], [0.52, 0.1], [0.52, 0.9]]],
  [[...arc(0.5, 0.33, 0.26, 0.23, -PI, 0.15 * PI, 12), [0.24, 0.88], [
    0.8,
    0.88,
  ]]],
  [[...arc(0.48, 0.3, 0.24, 0.2, -0.9 * PI, 0.5 * PI, 12)], [
    ...arc(0.48, 0.69, 0.28, 0.21, -0.5 * PI, 0.85 * PI, 12),
  ]],
  [[[0.6, 0.1], [0.22, 0.62], [0.8, 0.62]], [[0.62, 0.36], [0.62, 0.92]]],
  [[[0.74, 0.12], [0.32, 0.12], [0.28, 0.46]], [
    ...arc(0.47, 0.66, 0.28, 0.24, -0.65 * PI, 0.8 * PI, 14),
  ]],
  [[[0.68, 0.08], [0.42, 0.34], ...arc(0.5, 0.7, 0.21, 0.19, PI, 3 * PI, 20)]],
  [[[0.2, 0.14], [0.8, 0.14], [0.42, 0.92]]],
  [
    arc(0.5, 0.3, 0.22, 0.2, 0, 2 * PI, 18),
    arc(0.5, 0.7, 0.26, 0.21, 0, 2 * PI, 18),
  ],
  [[...arc(0.48, 0.32, 0.24, 0.22, 0.1 * PI, 2.1 * PI, 18), [0.72, 0.36], [
    0.66,
    0.92,
  ]]],
];

/** Options of {@linkcode renderStrokes}. */
export interface RenderOptions {
  /** Picture side in pixels. */
  size: number;
  /** Pen width in pixels. */
  pen: number;
  /** Ink and paper colours, RGB 0–255. */
  ink?: [number, number, number];
  paper?: [number, number, number];
  /** Where the unit box goes: left, top and side, in pixels. */
  left?: number;
  top?: number;
  side?: number;
}

/** Distance from `(px, py)` to the segment `a`–`b`. */
function segmentDistance(
  px: number,
  py: number,
  a: [number, number],
  b: [number, number],
): number {
  const dx = b[0] - a[0], dy = b[1] - a[1];
  const len = dx * dx + dy * dy;
  const t = len === 0
    ? 0
    : Math.max(0, Math.min(1, ((px - a[0]) * dx + (py - a[1]) * dy) / len));
  return Math.hypot(px - a[0] - t * dx, py - a[1] - t * dy);
}

/**
 * Renders strokes with a round, anti-aliased pen into an RGBA picture.
 *
 * @example
 * ```ts
 * import { DIGIT_STROKES, renderStrokes } from "./strokes.ts";
 * const seven = renderStrokes(DIGIT_STROKES[7], { size: 64, pen: 5 });
 * ```
 */
export function renderStrokes(
  strokes: Stroke[],
  options: RenderOptions,
): { width: number; height: number; data: Uint8Array } {
  const { size, pen } = options;
  const ink = options.ink ?? [30, 30, 30];
  const paper = options.paper ?? [255, 255, 255];
  const side = options.side ?? size * 0.8;
  const left = options.left ?? (size - side) / 2;
  const top = options.top ?? (size - side) / 2;
  const points = strokes.map((s) =>
    s.map(([x, y]) => [left + x * side, top + y * side] as [number, number])
  );
  const data = new Uint8Array(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let d = Infinity;
      for (const s of points) {
        for (let i = 0; i + 1 < s.length; i++) {
          d = Math.min(d, segmentDistance(x + 0.5, y + 0.5, s[i], s[i + 1]));
        }
      }
      const cover = Math.max(0, Math.min(1, pen / 2 + 0.5 - d));
      const o = 4 * (y * size + x);
      for (let c = 0; c < 3; c++) {
        data[o + c] = Math.round(paper[c] + (ink[c] - paper[c]) * cover);
      }
      data[o + 3] = 255;
    }
  }
  return { width: size, height: size, data };
}

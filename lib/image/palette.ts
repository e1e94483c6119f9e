/**
 * Colour scales for maps: the one home of the palettes the notebooks, the
 * report and the drawing page colour with (the page receives
 * {@linkcode HEAT} with each explanation).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { colourAt, DIVERGING } from "./palette.ts";
 * assertEquals(colourAt(DIVERGING, 0.5), [247, 247, 247]); // white at 0
 * ```
 *
 * @module
 */

/** A colour scale: control points from 0 to 1, as `[r, g, b]` bytes. */
export type Palette = readonly (readonly [number, number, number])[];

/** "Inferno" (matplotlib's, sampled at nine points): black → purple → orange → yellow; perceptually even, readable in grey. */
export const HEAT: Palette = [
  [0, 0, 4],
  [31, 12, 72],
  [85, 15, 109],
  [136, 34, 106],
  [186, 54, 85],
  [227, 89, 51],
  [249, 140, 10],
  [249, 201, 50],
  [252, 255, 164],
];

/** Blue → white → red, for signed values (kernels): white is 0. */
export const DIVERGING: Palette = [
  [33, 102, 172],
  [146, 197, 222],
  [247, 247, 247],
  [244, 165, 130],
  [178, 24, 43],
];

/**
 * The colour of `t` (clamped to [0, 1]) on `palette`, interpolated linearly.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { colourAt, HEAT } from "./palette.ts";
 * assertEquals(colourAt(HEAT, 0), [0, 0, 4]);
 * assertEquals(colourAt(HEAT, 1), [252, 255, 164]);
 * ```
 */
export function colourAt(
  palette: Palette,
  t: number,
): [number, number, number] {
  const v = Math.min(Math.max(Number.isFinite(t) ? t : 0, 0), 1) *
    (palette.length - 1);
  const i = Math.min(Math.floor(v), palette.length - 2), f = v - i;
  const [a, b] = [palette[i], palette[i + 1]];
  return [0, 1, 2].map((c) => Math.round(a[c] + f * (b[c] - a[c]))) as [
    number,
    number,
    number,
  ];
}

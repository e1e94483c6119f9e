/**
 * The Winograd F(m×m, 3×3) algorithms the kernels implement, as their three
 * transform matrices (Lavin & Gray, "Fast Algorithms for Convolutional Neural
 * Networks", 2016). One tile of output Y (m×m) comes from one input tile d
 * ((m+2)×(m+2)) and the 3×3 filter g as
 * `Y = Aᵀ·[(G·g·Gᵀ) ⊙ (Bᵀ·d·B)]·A`.
 *
 * `generate.ts` turns `bt` and `at` into the unrolled WASM SIMD transforms;
 * `../winograd.ts` applies `g` (the filter transform, in float64) and its
 * transpose (the filter gradient's last step).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { F4 } from "./tiles.ts";
 * assertEquals([F4.m, F4.bt.length], [4, 6]); // F(4×4, 3×3): 6×6 input tiles
 * ```
 *
 * @module
 */

/** One Winograd F(m×m, 3×3) algorithm. */
export interface WinogradTile {
  /** Output tile side m (the input tile side is m + 2). */
  readonly m: 2 | 4 | 6;
  /** Bᵀ, (m+2)×(m+2): the input tile transform `Bᵀ·d·B`. */
  readonly bt: readonly (readonly number[])[];
  /** Aᵀ, m×(m+2): the output transform `Aᵀ·M·A`. */
  readonly at: readonly (readonly number[])[];
  /** G, (m+2)×3: the filter transform `G·g·Gᵀ`. */
  readonly g: readonly (readonly number[])[];
}

/** F(2×2, 3×3): 16 products per 4 outputs (2.25× fewer than direct). */
export const F2: WinogradTile = {
  m: 2,
  bt: [
    [1, 0, -1, 0],
    [0, 1, 1, 0],
    [0, -1, 1, 0],
    [0, 1, 0, -1],
  ],
  at: [
    [1, 1, 1, 0],
    [0, 1, -1, -1],
  ],
  g: [
    [1, 0, 0],
    [1 / 2, 1 / 2, 1 / 2],
    [1 / 2, -1 / 2, 1 / 2],
    [0, 0, 1],
  ],
};

/**
 * F(4×4, 3×3) on the points 0, ±1, ±2, ∞: 36 products per 16 outputs (4×
 * fewer than direct), with larger rounding error (measured in
 * `tests/kernels/winograd_test.ts`).
 */
export const F4: WinogradTile = {
  m: 4,
  bt: [
    [4, 0, -5, 0, 1, 0],
    [0, -4, -4, 1, 1, 0],
    [0, 4, -4, -1, 1, 0],
    [0, -2, -1, 2, 1, 0],
    [0, 2, -1, -2, 1, 0],
    [0, 4, 0, -5, 0, 1],
  ],
  at: [
    [1, 1, 1, 1, 1, 0],
    [0, 1, -1, 2, -2, 0],
    [0, 1, 1, 4, 4, 0],
    [0, 1, -1, 8, -8, 1],
  ],
  g: [
    [1 / 4, 0, 0],
    [-1 / 6, -1 / 6, -1 / 6],
    [-1 / 6, 1 / 6, -1 / 6],
    [1 / 24, 1 / 12, 1 / 6],
    [1 / 24, -1 / 12, 1 / 6],
    [0, 0, 1],
  ],
};

/**
 * F(6×6, 3×3) on the points 0, ±1, ±2, ±1/2, ∞: 64 products per 36 outputs
 * (5.06× fewer than direct), with larger rounding error still (measured in
 * `tests/kernels/winograd_test.ts`).
 */
export const F6: WinogradTile = {
  m: 6,
  bt: [
    [1, 0, -21 / 4, 0, 21 / 4, 0, -1, 0],
    [0, 1, 1, -17 / 4, -17 / 4, 1, 1, 0],
    [0, -1, 1, 17 / 4, -17 / 4, -1, 1, 0],
    [0, 1 / 2, 1 / 4, -5 / 2, -5 / 4, 2, 1, 0],
    [0, -1 / 2, 1 / 4, 5 / 2, -5 / 4, -2, 1, 0],
    [0, 2, 4, -5 / 2, -5, 1 / 2, 1, 0],
    [0, -2, 4, 5 / 2, -5, -1 / 2, 1, 0],
    [0, -1, 0, 21 / 4, 0, -21 / 4, 0, 1],
  ],
  at: [
    [1, 1, 1, 1, 1, 1, 1, 0],
    [0, 1, -1, 2, -2, 1 / 2, -1 / 2, 0],
    [0, 1, 1, 4, 4, 1 / 4, 1 / 4, 0],
    [0, 1, -1, 8, -8, 1 / 8, -1 / 8, 0],
    [0, 1, 1, 16, 16, 1 / 16, 1 / 16, 0],
    [0, 1, -1, 32, -32, 1 / 32, -1 / 32, 1],
  ],
  g: [
    [1, 0, 0],
    [-2 / 9, -2 / 9, -2 / 9],
    [-2 / 9, 2 / 9, -2 / 9],
    [1 / 90, 1 / 45, 2 / 45],
    [1 / 90, -1 / 45, 2 / 45],
    [32 / 45, 16 / 45, 8 / 45],
    [32 / 45, -16 / 45, 8 / 45],
    [0, 0, 1],
  ],
};

/** The tiles by output side. */
export const TILES: Readonly<Record<2 | 4 | 6, WinogradTile>> = {
  2: F2,
  4: F4,
  6: F6,
};

/**
 * The tile sizes with a one-input-channel output transform (a first layer's,
 * which forms the products as it loads them). F(6×6) has none: it is slower
 * there than F(4×4) (docs/kernels.md).
 */
export const OUTER_TILES: readonly (2 | 4 | 6)[] = [2, 4];

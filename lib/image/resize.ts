/**
 * The plain alternative to the digit preprocessing: a picture made grey and
 * resized to 28×28 as it is (stretched, not cropped or centred), as Keras's
 * `image_dataset_from_directory(color_mode="grayscale", image_size=(28, 28))`
 * does. Grey and resampling follow Pillow to the byte: `convert("L")` (ITU-R
 * 601-2 luma in fixed point), then `resize((28, 28), Image.BILINEAR)` (a
 * triangle filter widened by the scale when shrinking, so every source pixel
 * counts, in two 8-bit passes, columns first).
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { RgbaImage } from "./decode.ts";

/** Options of {@linkcode resizeGrey}. */
export interface ResizeGreyOptions {
  /** Output width; default 28. */
  width?: number;
  /** Output height; default 28. */
  height?: number;
}

/**
 * The picture grey (transparency composited on white) and resized with
 * Pillow's bilinear filter, as `width × height` bytes (0 = black).
 *
 * @throws {UsageError} when a size is not a whole number from 1 to 4096.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { resizeGreyBytes } from "./resize.ts";
 * const white = { width: 2, height: 2, data: new Uint8Array(16).fill(255) };
 * assertEquals(resizeGreyBytes(white, { width: 1, height: 1 }), new Uint8Array([255]));
 * ```
 */
export function resizeGreyBytes(
  picture: RgbaImage,
  options: ResizeGreyOptions = {},
): Uint8Array {
  const outW = options.width ?? 28, outH = options.height ?? 28;
  for (const [name, value] of [["width", outW], ["height", outH]] as const) {
    if (!Number.isInteger(value) || value < 1 || value > 4096) {
      throw new UsageError(
        `resizeGrey: ${name} must be a whole number from 1 to 4096, got ${value}`,
      );
    }
  }
  const { width, height, data } = picture;
  const grey = new Uint8Array(width * height);
  for (let i = 0; i < grey.length; i++) {
    const a = data[4 * i + 3];
    // On white: c·a/255 + 255·(1 − a/255), rounded, per channel.
    const on = (c: number) =>
      a === 255 ? c : Math.round((c * a + 255 * (255 - a)) / 255);
    grey[i] = (on(data[4 * i]) * 19595 + on(data[4 * i + 1]) * 38470 +
      on(data[4 * i + 2]) * 7471 + 0x8000) >>> 16;
  }
  const rows = width === outW
    ? grey
    : resamplePass(grey, width, height, outW, true);
  return height === outH ? rows : resamplePass(rows, outW, height, outH, false);
}

/**
 * {@linkcode resizeGreyBytes} as model input: 784 values (for 28×28) in
 * [0, 1], row-major.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { resizeGrey } from "./resize.ts";
 * const black = { width: 56, height: 56, data: new Uint8Array(56 * 56 * 4).fill(0).map((_, i) => i % 4 === 3 ? 255 : 0) };
 * assertEquals(resizeGrey(black).length, 784);
 * ```
 */
export function resizeGrey(
  picture: RgbaImage,
  options: ResizeGreyOptions = {},
): Float32Array {
  return Float32Array.from(resizeGreyBytes(picture, options), (v) => v / 255);
}

/** Pillow's fixed-point precision of 8-bit resampling coefficients. */
const PRECISION_BITS = 32 - 8 - 2;

/**
 * One pass of Pillow's `ImagingResample` with the bilinear filter: along the
 * rows (`horizontal`) or the columns, from `inSize` to `outSize` pixels.
 */
function resamplePass(
  src: Uint8Array,
  width: number,
  height: number,
  outSize: number,
  horizontal: boolean,
): Uint8Array {
  const inSize = horizontal ? width : height;
  const { bounds, coeffs, kSize } = coefficients(inSize, outSize);
  const outW = horizontal ? outSize : width;
  const outH = horizontal ? height : outSize;
  const out = new Uint8Array(outW * outH);
  const half = 1 << (PRECISION_BITS - 1);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const o = horizontal ? x : y;
      const min = bounds[2 * o], n = bounds[2 * o + 1];
      let sum = half;
      for (let k = 0; k < n; k++) {
        const v = horizontal
          ? src[y * width + min + k]
          : src[(min + k) * width + x];
        sum += v * coeffs[o * kSize + k];
      }
      const value = Math.floor(sum / (1 << PRECISION_BITS));
      out[y * outW + x] = value < 0 ? 0 : value > 255 ? 255 : value;
    }
  }
  return out;
}

/** Pillow's `precompute_coeffs` and `normalize_coeffs_8bpc`, bilinear filter. */
function coefficients(
  inSize: number,
  outSize: number,
): { bounds: Int32Array; coeffs: Int32Array; kSize: number } {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 1 * filterScale; // the triangle's support is 1
  const kSize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const coeffs = new Int32Array(outSize * kSize);
  const k = new Float64Array(kSize);
  for (let xx = 0; xx < outSize; xx++) {
    const centre = (xx + 0.5) * scale;
    const ss = 1 / filterScale;
    const xmin = Math.max(Math.trunc(centre - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(centre + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - centre + 0.5) * ss);
      k[x] = t < 1 ? 1 - t : 0;
      ww += k[x];
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww === 0 ? 0 : k[x] / ww;
      coeffs[xx * kSize + x] = w < 0
        ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS))
        : Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { bounds, coeffs, kSize };
}

/**
 * Data augmentation on the fly, as Keras's preprocessing layers
 * `RandomRotation`, `RandomTranslation` and `RandomZoom` do it (their
 * `factor` arguments, their transform matrices, bilinear interpolation,
 * `fill_mode="constant"` with 0: the background of MNIST), composed into one
 * affine map per sample so each picture is interpolated once. The random
 * numbers of a sample are keyed by (seed, epoch, sample) like the dropout
 * masks, so a seeded run gives the same pictures whatever the batch split or
 * thread count, and resuming continues the same run.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { deriveKey, fillUniform } from "./random.ts";

/**
 * The factors of the three random transforms, as Keras's layers take them;
 * 0 turns one off.
 */
export interface AugmentOptions {
  /**
   * `RandomRotation(factor)`: an angle drawn uniformly from
   * `[-factor·2π, factor·2π]` (positive turns counter-clockwise).
   */
  rotation?: number;
  /**
   * `RandomTranslation(factor, factor)`: a shift drawn uniformly from
   * `[-factor, factor]` of the height and, independently, of the width.
   */
  translation?: number;
  /**
   * `RandomZoom(factor)`: a scale drawn uniformly from
   * `[1 - factor, 1 + factor]`, the same for both axes (as Keras with
   * `width_factor=None`); above 1 zooms out (the digit gets smaller).
   */
  zoom?: number;
}

/**
 * The factors `augment: true` uses: ±10° (`RandomRotation(10 / 360)`), ±10%
 * shifts and ±10% zoom, the augmentation most MNIST tutorials add.
 */
export const DEFAULT_AUGMENT: Readonly<Required<AugmentOptions>> = {
  rotation: 10 / 360,
  translation: 0.1,
  zoom: 0.1,
};

/** A stream of `random.ts` of its own, apart from the dropout layers'. */
const STREAM = 0x41554731;

/**
 * The factors `augment` asks for (`true`: {@linkcode DEFAULT_AUGMENT}),
 * checked; undefined when augmentation is off.
 *
 * @throws {UsageError} for a factor that is not a number in [0, 1).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { augmentFactors } from "./augment.ts";
 * assertEquals(augmentFactors({ zoom: 0.2 }), { rotation: 0, translation: 0, zoom: 0.2 });
 * assertEquals(augmentFactors(false), undefined);
 * ```
 */
export function augmentFactors(
  augment: boolean | AugmentOptions | undefined,
): Required<AugmentOptions> | undefined {
  if (augment === undefined || augment === false) return undefined;
  if (augment === true) return { ...DEFAULT_AUGMENT };
  const factors = {
    rotation: augment.rotation ?? 0,
    translation: augment.translation ?? 0,
    zoom: augment.zoom ?? 0,
  };
  for (const [name, value] of Object.entries(factors)) {
    if (typeof value !== "number" || !(value >= 0 && value < 1)) {
      throw new UsageError(
        `augment.${name} must be a number from 0 to below 1, got ${value}`,
      );
    }
  }
  return factors;
}

/** What one sample's transform drew. */
export interface AugmentDraw {
  /** Rotation in radians (counter-clockwise). */
  angle: number;
  /** Shift right and down, in pixels. */
  dx: number;
  dy: number;
  /** Zoom (1: none; above 1: the picture gets smaller). */
  zoom: number;
}

/**
 * The transform drawn for sample `id` in `epoch` of a run seeded `seed`:
 * depends on those three numbers and the factors only.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DEFAULT_AUGMENT, drawTransform } from "./augment.ts";
 * const a = drawTransform(DEFAULT_AUGMENT, { seed: 1, epoch: 0, id: 7 }, 28, 28);
 * const b = drawTransform(DEFAULT_AUGMENT, { seed: 1, epoch: 0, id: 7 }, 28, 28);
 * assertEquals(a, b);
 * ```
 */
export function drawTransform(
  factors: Required<AugmentOptions>,
  keys: { seed: number; epoch: number; id: number },
  height: number,
  width: number,
): AugmentDraw {
  const u = fillUniform(
    deriveKey(keys.seed, keys.epoch, STREAM, keys.id),
    new Float32Array(4),
  );
  const between = (v: number, f: number) => (2 * v - 1) * f;
  return {
    angle: between(u[0], factors.rotation) * 2 * Math.PI,
    dx: between(u[1], factors.translation) * width,
    dy: between(u[2], factors.translation) * height,
    zoom: 1 + between(u[3], factors.zoom),
  };
}

/**
 * The affine map from an output pixel `(x, y)` to the input point it samples,
 * `[a0, a1, a2, b0, b1, b2]` for `x' = a0 x + a1 y + a2`,
 * `y' = b0 x + b1 y + b2`, in pixel indices (Keras's
 * `ImageProjectiveTransform` convention): Keras's rotation, translation and
 * zoom matrices composed as the three layers stacked in that order apply
 * them.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { transformMatrix } from "./augment.ts";
 * assertEquals(transformMatrix({ angle: 0, dx: 2, dy: -1, zoom: 1 }, 28, 28),
 *   [1, 0, -2, 0, 1, 1]);
 * ```
 */
export function transformMatrix(
  draw: AugmentDraw,
  height: number,
  width: number,
): number[] {
  const cx = (width - 1) / 2, cy = (height - 1) / 2;
  const cos = Math.cos(draw.angle), sin = Math.sin(draw.angle);
  // Zoom: p1 = c + z (p - c); translation: p2 = p1 - d; rotation about the
  // centre: p3 = c + R (p2 - c), R = [[cos, -sin], [sin, cos]].
  const z = draw.zoom;
  const ox = -draw.dx, oy = -draw.dy;
  return [
    cos * z,
    -sin * z,
    cx + cos * (ox - z * cx) - sin * (oy - z * cy),
    sin * z,
    cos * z,
    cy + sin * (ox - z * cx) + cos * (oy - z * cy),
  ];
}

/**
 * Samples `src` (`height × width` bytes 0..255) at the affine map `m` of
 * {@linkcode transformMatrix} into `dst` as floats in [0, 1]: bilinear
 * interpolation, 0 outside the picture.
 */
export function warpAffine(
  src: Uint8Array,
  height: number,
  width: number,
  m: number[],
  dst: Float32Array,
): void {
  const [a0, a1, a2, b0, b1, b2] = m;
  for (let y = 0; y < height; y++) {
    let sx = a1 * y + a2, sy = b1 * y + b2;
    for (let x = 0; x < width; x++, sx += a0, sy += b0) {
      const x0 = Math.floor(sx), y0 = Math.floor(sy);
      const fx = sx - x0, fy = sy - y0;
      let v = 0;
      if (x0 >= 0 && y0 >= 0 && x0 < width - 1 && y0 < height - 1) {
        // Inside: the four neighbours directly.
        const i = y0 * width + x0;
        v = (src[i] * (1 - fx) + src[i + 1] * fx) * (1 - fy) +
          (src[i + width] * (1 - fx) + src[i + width + 1] * fx) * fy;
      } else if (x0 >= -1 && x0 < width && y0 >= -1 && y0 < height) {
        // On the edge: neighbours outside the picture are 0.
        const row0 = y0 * width, row1 = row0 + width;
        const inX0 = x0 >= 0, inX1 = x0 + 1 < width;
        const inY0 = y0 >= 0, inY1 = y0 + 1 < height;
        const p00 = inY0 && inX0 ? src[row0 + x0] : 0;
        const p01 = inY0 && inX1 ? src[row0 + x0 + 1] : 0;
        const p10 = inY1 && inX0 ? src[row1 + x0] : 0;
        const p11 = inY1 && inX1 ? src[row1 + x0 + 1] : 0;
        v = (p00 * (1 - fx) + p01 * fx) * (1 - fy) +
          (p10 * (1 - fx) + p11 * fx) * fy;
      }
      dst[y * width + x] = v / 255;
    }
  }
}

/**
 * The pictures of samples `ids` of a split (`count × height × width` bytes),
 * each through its own random transform: floats in [0, 1], image by image,
 * as a batch's input.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { augmentImages, DEFAULT_AUGMENT } from "./augment.ts";
 * const images = new Uint8Array(2 * 784).fill(255);
 * const out = augmentImages(images, 28, 28, [1], DEFAULT_AUGMENT, { seed: 3, epoch: 0 });
 * assertEquals(out.length, 784);
 * ```
 */
export function augmentImages(
  images: Uint8Array,
  height: number,
  width: number,
  ids: ArrayLike<number>,
  factors: Required<AugmentOptions>,
  keys: { seed: number; epoch: number },
): Float32Array {
  const pixels = height * width;
  const out = new Float32Array(ids.length * pixels);
  for (let s = 0; s < ids.length; s++) {
    const id = ids[s];
    const draw = drawTransform(factors, { ...keys, id }, height, width);
    warpAffine(
      images.subarray(id * pixels, (id + 1) * pixels),
      height,
      width,
      transformMatrix(draw, height, width),
      out.subarray(s * pixels, (s + 1) * pixels),
    );
  }
  return out;
}

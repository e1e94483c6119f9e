/**
 * Picture output: every PNG the project makes (notebook outputs, the report,
 * the drawing page's maps, the sample folder) is encoded here, with
 * `fast-png`, and enlarged here by repeating pixels.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeImage } from "./decode.ts";
 * import { encodePng, upscale } from "./encode.ts";
 * const png = encodePng(upscale(new Uint8Array([0, 255]), 2, 1, 3), 6, 3);
 * const back = decodeImage(png, "strip.png");
 * assertEquals([back.width, back.height, back.data[4 * 5]], [6, 3, 255]);
 * ```
 *
 * @module
 */
import { encode } from "fast-png";
import { checkWholeNumber, UsageError } from "../errors.ts";
import { base64 } from "../html.ts";

/** Colour channels of a picture's bytes: grey, RGB or RGBA. */
export type Channels = 1 | 3 | 4;

/**
 * Encodes an 8-bit image (`width * height * channels` bytes, row-major; one
 * channel is grey, 0 black; three RGB; four RGBA) as a PNG file.
 *
 * @throws {UsageError} when the sizes are not positive integers or `pixels`
 * does not hold exactly `width * height * channels` bytes.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodePng } from "./encode.ts";
 * const png = encodePng(new Uint8Array([0, 255, 255, 0]), 2, 2);
 * assertEquals(new TextDecoder().decode(png.subarray(1, 4)), "PNG");
 * ```
 */
export function encodePng(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: Channels = 1,
): Uint8Array {
  checkWholeNumber("encodePng: width", width, { min: 1 });
  checkWholeNumber("encodePng: height", height, { min: 1 });
  if (pixels.length !== width * height * channels) {
    throw new UsageError(
      `encodePng: a ${width}x${height} image needs ${
        width * height * channels
      } bytes, got ${pixels.length}`,
    );
  }
  return encode({ width, height, data: pixels, channels, depth: 8 });
}

/**
 * Enlarges an image `scale` times by repeating pixels (`channels` bytes
 * each: 1 for grey, 3 for RGB, 4 for RGBA).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { upscale } from "./encode.ts";
 * assertEquals(upscale(new Uint8Array([1, 2]), 2, 1, 2), new Uint8Array([1, 1, 2, 2, 1, 1, 2, 2]));
 * assertEquals(upscale(new Uint8Array([1, 2, 3]), 1, 1, 2, 3), new Uint8Array([1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]));
 * ```
 */
export function upscale(
  pixels: Uint8Array,
  width: number,
  height: number,
  scale: number,
  channels: Channels = 1,
): Uint8Array {
  const w = width * scale, h = height * scale;
  const out = new Uint8Array(w * h * channels);
  for (let y = 0; y < h; y++) {
    const row = Math.floor(y / scale) * width;
    for (let x = 0; x < w; x++) {
      const from = (row + Math.floor(x / scale)) * channels;
      const to = (y * w + x) * channels;
      for (let c = 0; c < channels; c++) out[to + c] = pixels[from + c];
    }
  }
  return out;
}

/**
 * A PNG file as a `data:` URL, for `<img src>` in HTML outputs.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { encodePng, pngDataUrl } from "./encode.ts";
 * assert(pngDataUrl(encodePng(new Uint8Array(1), 1, 1)).startsWith("data:image/png;base64,iVBOR"));
 * ```
 */
export function pngDataUrl(png: Uint8Array): string {
  return `data:image/png;base64,${base64(png)}`;
}

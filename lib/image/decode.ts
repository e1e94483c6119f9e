/**
 * The picture formats as one table ({@linkcode IMAGE_FORMATS}: name, media
 * type, extensions, signatures, decoder), and decoding: PNG (with
 * `fast-png`) and JPEG (with `jpeg-js`) into 8-bit RGBA, with a size limit
 * and a clear {@linkcode ImageError} with a `kind` for anything else: other
 * formats, corrupt or truncated files.
 *
 * @module
 */
import { convertIndexedToRgb, decode as decodePng } from "fast-png";
import { decode as decodeJpeg } from "jpeg-js";
import { ImageError } from "../errors.ts";

/** A decoded picture: 8-bit RGBA, row-major, `width * height * 4` bytes. */
export interface RgbaImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** RGBA bytes, row-major. */
  data: Uint8Array;
}

/** The largest picture accepted, in pixels (16 megapixels, e.g. 4096×4096). */
export const MAX_PIXELS = 16 * 1024 * 1024;
/** The largest file accepted, in bytes (32 MiB). */
export const MAX_FILE_BYTES = 32 * 1024 * 1024;

/** A picture format: how it is named, declared, recognised and decoded. */
export interface ImageFormat {
  /** The name people know it by, e.g. `"PNG"`. */
  readonly name: string;
  /** The media type an upload of it declares, e.g. `"image/png"`. */
  readonly mediaType: string;
  /** File name extensions, lower case with the dot, e.g. `[".png"]`. */
  readonly extensions: readonly string[];
  /** Signatures: a file in this format starts with one of these bytes. */
  readonly magic: readonly (readonly number[])[];
  /**
   * Decodes a file of this format to RGBA (`name` names it in errors);
   * absent for formats recognised only to name them in the error.
   */
  readonly decode?: (bytes: Uint8Array, name: string) => RgbaImage;
}

/**
 * Every picture format the project knows, in the order signatures are
 * tried: the ones it decodes (PNG with `fast-png`, JPEG with `jpeg-js`) and
 * the ones people try, recognised to say so. Adding a format is adding a row
 * (with a decoder): the file extensions ({@linkcode IMAGE_EXTENSIONS}), the
 * server's accepted content types and the help texts derive from it.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SUPPORTED_FORMATS } from "./decode.ts";
 * assertEquals(SUPPORTED_FORMATS.map((f) => f.mediaType), ["image/png", "image/jpeg"]);
 * ```
 */
export const IMAGE_FORMATS: readonly ImageFormat[] = [
  {
    name: "PNG",
    mediaType: "image/png",
    extensions: [".png"],
    magic: [[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]],
    decode: readPng,
  },
  {
    name: "JPEG",
    mediaType: "image/jpeg",
    extensions: [".jpg", ".jpeg"],
    magic: [[0xff, 0xd8, 0xff]],
    decode: readJpeg,
  },
  {
    name: "GIF",
    mediaType: "image/gif",
    extensions: [".gif"],
    magic: [[0x47, 0x49, 0x46, 0x38]],
  },
  {
    name: "BMP",
    mediaType: "image/bmp",
    extensions: [".bmp"],
    magic: [[0x42, 0x4d]],
  },
  {
    name: "WebP",
    mediaType: "image/webp",
    extensions: [".webp"],
    magic: [[0x52, 0x49, 0x46, 0x46]],
  },
  {
    name: "TIFF",
    mediaType: "image/tiff",
    extensions: [".tif", ".tiff"],
    magic: [[0x49, 0x49, 0x2a, 0x00], [0x4d, 0x4d, 0x00, 0x2a]],
  },
  {
    name: "HEIC",
    mediaType: "image/heic",
    extensions: [".heic"],
    magic: [[0x00, 0x00, 0x00]],
  },
];

/** The formats {@linkcode decodeImage} decodes: those with a decoder. */
export const SUPPORTED_FORMATS: readonly ImageFormat[] = IMAGE_FORMATS.filter(
  (f) => f.decode !== undefined,
);

/** File name extensions of the supported formats (`.png`, `.jpg`, …). */
export const IMAGE_EXTENSIONS: readonly string[] = SUPPORTED_FORMATS.flatMap(
  (f) => f.extensions,
);

/**
 * The supported formats' names for messages: `"PNG or JPEG"`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { supportedNames } from "./decode.ts";
 * assertEquals(supportedNames(), "PNG or JPEG");
 * ```
 */
export function supportedNames(): string {
  const names = SUPPORTED_FORMATS.map((f) => f.name);
  return names.length < 2
    ? names.join("")
    : `${names.slice(0, -1).join(", ")} or ${names.at(-1)}`;
}

const startsWith = (bytes: Uint8Array, magic: readonly number[]) =>
  bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b);

/**
 * The format of `bytes` by its signature, supported or not; undefined when
 * no row of {@linkcode IMAGE_FORMATS} matches.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { imageFormat } from "./decode.ts";
 * assertEquals(imageFormat(new Uint8Array([0xff, 0xd8, 0xff, 0xe0]))?.name, "JPEG");
 * assertEquals(imageFormat(new TextEncoder().encode("GIF89a"))?.decode, undefined);
 * ```
 */
export function imageFormat(bytes: Uint8Array): ImageFormat | undefined {
  return IMAGE_FORMATS.find((f) => f.magic.some((m) => startsWith(bytes, m)));
}

/**
 * Decodes a picture in one of the {@linkcode SUPPORTED_FORMATS}: PNG (every
 * colour type and bit depth, palettes and transparency included) or JPEG.
 * `name` names the file or request in errors.
 *
 * @throws {ImageError} of kind `"unsupported"` for an empty file or another
 * format, `"too-large"` for a picture over {@linkcode MAX_PIXELS} pixels or
 * {@linkcode MAX_FILE_BYTES} bytes, `"corrupt"` for a corrupt or truncated
 * file.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeImage } from "./decode.ts";
 * const path = "notebooks/sample_digits/digit_7.png";
 * const image = decodeImage(await Deno.readFile(path), path);
 * assertEquals(image.data.length, image.width * image.height * 4); // RGBA
 * ```
 */
export function decodeImage(bytes: Uint8Array, name: string): RgbaImage {
  if (bytes.length === 0) {
    throw new ImageError(name, "empty file", { kind: "unsupported" });
  }
  if (bytes.length > MAX_FILE_BYTES) {
    throw new ImageError(
      name,
      `too large: ${bytes.length} bytes (at most ${MAX_FILE_BYTES})`,
      { kind: "too-large" },
    );
  }
  const format = imageFormat(bytes);
  if (format?.decode === undefined) {
    throw new ImageError(
      name,
      `not a ${supportedNames()} picture${
        format ? ` (looks like ${format.name})` : ""
      }: use ${supportedNames()}`,
      { kind: "unsupported" },
    );
  }
  const image = format.decode(bytes, name);
  if (image.width < 1 || image.height < 1) {
    throw new ImageError(
      name,
      `has no pixels (${image.width}×${image.height})`,
      { kind: "corrupt" },
    );
  }
  return image;
}

function checkSize(name: string, width: number, height: number): void {
  if (width * height > MAX_PIXELS) {
    throw new ImageError(
      name,
      `too large: ${width}×${height} pixels (at most ${MAX_PIXELS} pixels, e.g. 4096×4096)`,
      { kind: "too-large" },
    );
  }
}

function readPng(bytes: Uint8Array, name: string): RgbaImage {
  // IHDR: width and height at bytes 16..23, checked before decoding.
  if (bytes.length >= 24) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    checkSize(name, view.getUint32(16), view.getUint32(20));
  }
  let png;
  try {
    png = decodePng(bytes);
  } catch (error) {
    throw new ImageError(name, `corrupt or truncated PNG: ${message(error)}`, {
      kind: "corrupt",
    });
  }
  const { width, height } = png;
  checkSize(name, width, height);
  let data = png.data;
  let channels = png.channels;
  let depth: number = png.depth;
  if (png.palette) {
    data = convertIndexedToRgb(png);
    channels = data.length / (width * height);
    depth = 8;
  } else if (depth < 8) {
    data = unpackBits(data, width * channels, height, depth);
  }
  const n = width * height;
  if (data.length < n * channels) {
    throw new ImageError(
      name,
      "truncated PNG: fewer pixels than its header says",
      { kind: "corrupt" },
    );
  }
  const shift = depth === 16 ? 8 : 0;
  const scale = depth < 8 ? 255 / ((1 << depth) - 1) : 1;
  const out = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    const px = (c: number) =>
      Math.round((data[i * channels + c] >> shift) * scale);
    if (channels <= 2) {
      const g = px(0);
      out[4 * i] = out[4 * i + 1] = out[4 * i + 2] = g;
      out[4 * i + 3] = channels === 2 ? px(1) : 255;
    } else {
      out[4 * i] = px(0);
      out[4 * i + 1] = px(1);
      out[4 * i + 2] = px(2);
      out[4 * i + 3] = channels === 4 ? px(3) : 255;
    }
  }
  return { width, height, data: out };
}

/**
 * Unpacks samples of 1, 2 or 4 bits (rows start on a byte, as PNG stores
 * them) into one byte each.
 */
function unpackBits(
  packed: ArrayLike<number>,
  samplesPerRow: number,
  rows: number,
  depth: number,
): Uint8Array {
  const rowBytes = Math.ceil((samplesPerRow * depth) / 8);
  const out = new Uint8Array(samplesPerRow * rows);
  const mask = (1 << depth) - 1;
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < samplesPerRow; x++) {
      const bit = x * depth;
      const byte = packed[y * rowBytes + (bit >> 3)] ?? 0;
      out[y * samplesPerRow + x] = (byte >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

function readJpeg(bytes: Uint8Array, name: string): RgbaImage {
  try {
    const jpeg = decodeJpeg(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: MAX_PIXELS / 1e6,
      maxMemoryUsageInMB: 512,
    });
    checkSize(name, jpeg.width, jpeg.height);
    return { width: jpeg.width, height: jpeg.height, data: jpeg.data };
  } catch (error) {
    if (error instanceof ImageError) throw error;
    const text = message(error);
    if (/maxResolutionInMP|maxMemoryUsage/i.test(text)) {
      throw new ImageError(
        name,
        `too large: over ${MAX_PIXELS} pixels (e.g. 4096×4096)`,
        { kind: "too-large" },
      );
    }
    throw new ImageError(name, `corrupt or truncated JPEG: ${text}`, {
      kind: "corrupt",
    });
  }
}

function message(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split(
    "\n",
  )[0];
}

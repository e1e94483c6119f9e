/**
 * A small folder of labelled pictures the project draws itself, to try
 * `imageDatasetFromDirectory` on without pictures of your own: filled
 * circles, crosses, squares and triangles, dark on light paper of uneven
 * brightness with grain, at random sizes, places and angles, in pictures of
 * different sizes, as PNG and JPEG.
 *
 * @module
 */
import { encode as encodeJpeg } from "jpeg-js";
import { join } from "node:path";
import { encodePng } from "../image/encode.ts";
import { deriveKey, fillUniform } from "../engine/random.ts";
import { UsageError } from "../errors.ts";
import { writeFileAtomic } from "../files.ts";

/** The classes of the sample folder, one sub-folder each. */
export const SAMPLE_CLASSES: readonly string[] = Object.freeze([
  "circle",
  "cross",
  "square",
  "triangle",
]);

/** Options of {@linkcode writeSampleFolder}. */
export interface SampleFolderOptions {
  /** Pictures per class; default 60. */
  perClass?: number;
  /** Seed of the drawing; the same seed draws the same pictures. */
  seed?: number;
}

/**
 * Draws the sample folder into `dir` (`dir/circle/…`, `dir/cross/…`, …),
 * every eighth picture a JPEG, and returns the number of pictures written.
 * Pictures already there with the same names are replaced, unless they are
 * the same already (so a second call changes nothing).
 *
 * @throws {UsageError} when `perClass` is not a whole number from 1 to 10000.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { writeSampleFolder } from "./samples.ts";
 * const dir = await Deno.makeTempDir();
 * assertEquals(await writeSampleFolder(dir, { perClass: 2 }), 8);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeSampleFolder(
  dir: string,
  options: SampleFolderOptions = {},
): Promise<number> {
  const perClass = options.perClass ?? 60;
  if (!Number.isInteger(perClass) || perClass < 1 || perClass > 10000) {
    throw new UsageError(
      `perClass must be a whole number from 1 to 10000, got ${perClass}`,
    );
  }
  const seed = options.seed ?? 1;
  let written = 0;
  for (const [label, name] of SAMPLE_CLASSES.entries()) {
    for (let i = 0; i < perClass; i++) {
      const random = fillUniform(
        deriveKey(seed, label, i),
        new Float32Array(12),
      );
      const side = 40 + Math.floor(random[0] * 60);
      const grey = drawShape(name, side, random);
      const jpeg = i % 8 === 7;
      const file = join(
        dir,
        name,
        `${name}_${String(i).padStart(3, "0")}.${jpeg ? "jpg" : "png"}`,
      );
      const bytes = jpeg
        ? encodeJpeg({
          width: side,
          height: side,
          data: Uint8Array.from(
            { length: side * side * 4 },
            (_, k) => (k % 4 === 3 ? 255 : grey[k >> 2]),
          ),
        }, 85).data
        : encodePng(grey, side, side);
      // A picture already there as drawn is left alone (and its cache valid).
      const old = await Deno.readFile(file).catch(() => undefined);
      if (!old || !equal(old, bytes)) await writeFileAtomic(file, bytes);
      written++;
    }
  }
  return written;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** A `side × side` grey picture of one shape, from 12 random numbers. */
function drawShape(name: string, side: number, r: Float32Array): Uint8Array {
  const size = side * (0.45 + 0.35 * r[1]);
  const cx = side / 2 + (r[2] - 0.5) * (side - size) * 0.8;
  const cy = side / 2 + (r[3] - 0.5) * (side - size) * 0.8;
  const angle = r[4] * Math.PI * 2;
  const cos = Math.cos(angle), sin = Math.sin(angle);
  const ink = 20 + 60 * r[5], paper = 190 + 50 * r[6];
  const gx = (r[7] - 0.5) * 60, gy = (r[8] - 0.5) * 60; // light across
  const grain = fillUniform(
    Math.floor(r[9] * 2 ** 31),
    new Float32Array(side * side),
  );
  const half = size / 2;
  const inside = (px: number, py: number): boolean => {
    // In the shape's own frame: centred, unrotated, `half` its half-size.
    const dx = px - cx, dy = py - cy;
    const x = (dx * cos + dy * sin) / half, y = (-dx * sin + dy * cos) / half;
    if (name === "circle") return x * x + y * y <= 1;
    if (name === "square") return Math.abs(x) <= 0.8 && Math.abs(y) <= 0.8;
    if (name === "cross") {
      return (Math.abs(x) <= 1 && Math.abs(y) <= 0.3) ||
        (Math.abs(y) <= 1 && Math.abs(x) <= 0.3);
    }
    // An equilateral triangle pointing up, centred on its centroid.
    return y <= 0.5 && y >= -1 + Math.abs(x) * Math.sqrt(3);
  };
  const out = new Uint8Array(side * side);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      let covered = 0; // 4×4 samples a pixel, for smooth edges
      for (let sy = 0; sy < 4; sy++) {
        for (let sx = 0; sx < 4; sx++) {
          if (inside(x + (sx + 0.5) / 4, y + (sy + 0.5) / 4)) covered++;
        }
      }
      const background = paper + gx * (x / side - 0.5) +
        gy * (y / side - 0.5);
      const v = background + (ink - background) * covered / 16 +
        (grain[y * side + x] - 0.5) * 24;
      out[y * side + x] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return out;
}

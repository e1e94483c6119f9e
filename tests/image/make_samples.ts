/**
 * Writes the sample pictures that ship in `notebooks/sample_digits/`: one
 * pen-stroke digit 0–9 each (`strokes.ts`), drawn as a person would on paper
 * or a screen, in a few inks, papers, sizes and pens, as PNG and JPEG. Made
 * by the project itself, not taken from MNIST.
 *
 * Run: deno run --allow-write tests/image/make_samples.ts
 *
 * @module
 */
import { encode as encodePng } from "fast-png";
import { encode as encodeJpeg } from "jpeg-js";
import { fileURLToPath } from "node:url";
import { DIGIT_STROKES, type RenderOptions, renderStrokes } from "./strokes.ts";

/** Where the samples go. */
export const SAMPLES_DIR = fileURLToPath(
  new URL("../../notebooks/sample_digits/", import.meta.url),
);

const LOOKS: (RenderOptions & { jpeg?: boolean })[] = [
  { size: 160, pen: 10 },
  { size: 96, pen: 5, ink: [20, 40, 160], paper: [245, 240, 225] },
  { size: 200, pen: 14, side: 120, left: 50, top: 30 },
  { size: 128, pen: 8, ink: [240, 240, 240], paper: [25, 30, 35] },
  { size: 140, pen: 9, ink: [160, 20, 30], paper: [230, 230, 230], jpeg: true },
];

if (import.meta.main) {
  await Deno.mkdir(SAMPLES_DIR, { recursive: true });
  for (const [digit, strokes] of DIGIT_STROKES.entries()) {
    const look = LOOKS[digit % LOOKS.length];
    const image = renderStrokes(strokes, look);
    const name = `${SAMPLES_DIR}digit_${digit}.${look.jpeg ? "jpg" : "png"}`;
    const bytes = look.jpeg
      ? encodeJpeg({ ...image, data: image.data }, 90).data
      : encodePng({ ...image, channels: 4, depth: 8 });
    await Deno.writeFile(name, bytes);
    console.log(`wrote ${name}`);
  }
}

/**
 * Tests of lib/image/preprocess.ts on pictures the project makes itself:
 * digits in eight fonts, five styles (dark ink on white, coloured ink on
 * noisy grey paper, light on dark, transparent PNG, JPEG), several sizes,
 * stroke widths and positions; clean printed digits in six fonts at three
 * sizes, which must keep their whole shape; and pen-stroke digits as a
 * person draws them.
 * The preprocessed 28×28 must have the digit's mass centred and its longer
 * side 20 pixels, and a trained model must read most of them, far more than
 * after a naive resize of the same pictures.
 *
 * `IMAGE_TEST_MODEL=models/mnist_cnn` measures with a saved model (the
 * README's figure, from a full epoch) instead of the test's own.
 *
 * Run: deno test --allow-read --allow-write --allow-run --allow-env tests/image/preprocess_test.ts
 */
import {
  assert,
  assertEquals,
  assertGreater,
  assertGreaterOrEqual,
  assertThrows,
} from "@std/assert";
import { join } from "node:path";
import { ImageError } from "../../lib/errors.ts";
import {
  initBackend,
  loadModel,
  predictInputs,
  readImage,
  type RgbaImage,
  toMnistInput,
} from "../../lib/mod.ts";
import { centreOfMass, shadeText } from "../../lib/image/mod.ts";
import { trainedModel } from "../helpers.ts";
import {
  makeDigitPictures,
  makeFontDigits,
  makeFormatPictures,
  skipPictures,
} from "./pictures.ts";
import { DIGIT_STROKES, renderStrokes } from "./strokes.ts";

const skip = await skipPictures();

/** The model measured: a saved one (IMAGE_TEST_MODEL) or the test's own. */
async function model() {
  const dir = Deno.env.get("IMAGE_TEST_MODEL");
  if (!dir) return (await trainedModel()).model;
  await initBackend();
  return await loadModel(dir);
}

/**
 * The naive way in: the whole picture resized to 28×28 (nearest pixel),
 * grey, not inverted, not cropped or centred.
 */
function naiveInput(image: RgbaImage): Float32Array {
  const out = new Float32Array(784);
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      const sx = Math.floor(((x + 0.5) * image.width) / 28);
      const sy = Math.floor(((y + 0.5) * image.height) / 28);
      const i = 4 * (sy * image.width + sx);
      const a = image.data[i + 3] / 255;
      const lum = 0.299 * image.data[i] + 0.587 * image.data[i + 1] +
        0.114 * image.data[i + 2];
      out[y * 28 + x] = (a * lum + (1 - a) * 255) / 255;
    }
  }
  return out;
}

/** The ink's bounding box in a 28×28 input. */
function inkBox(input: Float32Array): { w: number; h: number } {
  let x0 = 28, y0 = 28, x1 = -1, y1 = -1;
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      if (input[y * 28 + x] > 0.05) {
        x0 = Math.min(x0, x);
        y0 = Math.min(y0, y);
        x1 = Math.max(x1, x);
        y1 = Math.max(y1, y);
      }
    }
  }
  return { w: x1 - x0 + 1, h: y1 - y0 + 1 };
}

/** Asserts the MNIST geometry: mass centred, longer side 20 pixels. */
function assertMnistGeometry(input: Float32Array, what: string): void {
  const { x, y } = centreOfMass(input);
  assert(
    Math.abs(x - 14) <= 1 && Math.abs(y - 14) <= 1,
    `${what}: centre of mass (${x.toFixed(2)}, ${
      y.toFixed(2)
    }), want (14, 14)\n${shadeText(input)}`,
  );
  const { w, h } = inkBox(input);
  assert(
    Math.max(w, h) >= 19 && Math.max(w, h) <= 21,
    `${what}: ink box ${w}×${h}, want the longer side 20\n${shadeText(input)}`,
  );
}

Deno.test({
  name:
    "pictures in eight fonts and five styles: centred, 20 px, read far better than naively",
  ignore: skip,
  sanitizeResources: false,
  async fn() {
    const { dir, labels } = await makeDigitPictures(10);
    const files = Object.keys(labels);
    const inputs: Float32Array[] = [];
    const naive: Float32Array[] = [];
    for (const file of files) {
      const image = await readImage(join(dir, file));
      const input = toMnistInput(image, { name: file });
      assertMnistGeometry(input, file);
      inputs.push(input);
      naive.push(naiveInput(image));
    }
    const m = await model();
    const right = (classes: number[]) =>
      classes.filter((c, i) => c === labels[files[i]]).length / files.length;
    const accuracy = right((await predictInputs(m, inputs)).classes);
    const naiveAccuracy = right((await predictInputs(m, naive)).classes);
    console.log(
      `${files.length} pictures: ${(100 * accuracy).toFixed(0)}% right with ` +
        `MNIST-style preprocessing, ${
          (100 * naiveAccuracy).toFixed(0)
        }% with a naive resize`,
    );
    assertGreater(accuracy, 0.6, "MNIST-style preprocessing");
    assertGreater(accuracy, naiveAccuracy + 0.4, "against a naive resize");
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("pen-stroke digits at any size, position and pen are read right", async () => {
  const m = await model();
  const inputs: Float32Array[] = [];
  const labels: number[] = [];
  const variants = [
    { size: 64, pen: 4 },
    { size: 200, pen: 18, side: 90, left: 10, top: 100 },
    {
      size: 120,
      pen: 6,
      ink: [250, 250, 250] as [number, number, number],
      paper: [10, 10, 40] as [number, number, number],
    },
  ];
  for (const v of variants) {
    for (const [digit, strokes] of DIGIT_STROKES.entries()) {
      const input = toMnistInput(renderStrokes(strokes, v));
      assertMnistGeometry(input, `stroke digit ${digit} ${JSON.stringify(v)}`);
      inputs.push(input);
      labels.push(digit);
    }
  }
  const { classes } = await predictInputs(m, inputs);
  const right = classes.filter((c, i) => c === labels[i]).length;
  assertGreater(right, 0.85 * labels.length, `read ${classes.join(" ")}`);
});

Deno.test({
  name: "a blank picture is 'no digit found', never a guess",
  ignore: skip,
  async fn() {
    const dir = await makeFormatPictures();
    for (
      const name of ["blank_white.png", "blank_black.png", "blank_noise.png"]
    ) {
      const path = join(dir, "bad", name);
      const image = await readImage(path);
      assertThrows(
        () => toMnistInput(image, { name: path }),
        ImageError,
        `${path}: no digit found`,
      );
    }
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("a large picture with a fine pen is widened and read like a small one", () => {
  // 1,400×1,400 pixels, a 3-pixel pen: the widening must scale, not stall.
  const large = renderStrokes(DIGIT_STROKES[4], { size: 1400, pen: 3 });
  const input = toMnistInput(large);
  assertMnistGeometry(input, "large 4");
  const small = toMnistInput(
    renderStrokes(DIGIT_STROKES[4], { size: 100, pen: 3 }),
  );
  let diff = 0;
  for (let i = 0; i < 784; i++) diff += Math.abs(input[i] - small[i]);
  assert(
    diff / 784 < 0.1,
    `mean difference ${diff / 784} from the small picture`,
  );
});

Deno.test("dust around a digit is dropped; the digit stays", () => {
  const seven = renderStrokes(DIGIT_STROKES[7], { size: 100, pen: 7 });
  const clean = toMnistInput(seven);
  for (const [x, y] of [[3, 3], [95, 8], [6, 90], [90, 92]]) {
    const i = 4 * (y * 100 + x);
    seven.data.fill(0, i, i + 3);
  }
  const dusty = toMnistInput(seven);
  let diff = 0;
  for (let i = 0; i < 784; i++) {
    diff = Math.max(diff, Math.abs(dusty[i] - clean[i]));
  }
  assertEquals(diff, 0, "specks changed the digit's input");
});

Deno.test("a filled shape covering most of the picture is kept (one paper level when the local one cannot follow it)", () => {
  const side = 60, data = new Uint8Array(side * side * 4);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const inside = (x - 30) ** 2 + (y - 30) ** 2 <= 28 ** 2;
      const level = inside ? 60 : 200 + ((x * 7 + y * 13) % 9) - 4;
      data.set([level, level, level, 255], (y * side + x) * 4);
    }
  }
  const input = toMnistInput({ width: side, height: side, data });
  // The disk fills the 20×20 box: about π·10² pixels of ink, centred.
  const ink = input.reduce((a, b) => a + b, 0);
  assertGreater(ink, 250);
  const { x, y } = centreOfMass(input);
  assert(Math.abs(x - 14) < 1 && Math.abs(y - 14) < 1, `centre ${x}, ${y}`);
});

Deno.test("a line fragment away from the digit and shading in a corner are dropped; the digit stays", () => {
  // A 7 on a page twice its size, then marks a photo of paper shows.
  const small = renderStrokes(DIGIT_STROKES[7], { size: 160, pen: 10 });
  const side = 400, at = 60;
  const page = (marks: boolean) => {
    const data = new Uint8Array(side * side * 4).fill(255);
    for (let y = 0; y < 160; y++) {
      data.set(
        small.data.subarray(4 * y * 160, 4 * (y + 1) * 160),
        4 * ((y + at) * side + at),
      );
    }
    const darken = (x: number, y: number, level: number) => {
      const i = 4 * (y * side + x);
      for (let c = 0; c < 3; c++) data[i + c] = Math.min(data[i + c], level);
    };
    if (marks) {
      // A cut grid line: 150 px of ink, 4 thick, well right of the digit,
      // heavier than a tenth of it, touching no border.
      for (let y = 100; y < 250; y++) {
        for (let x = 330; x < 334; x++) darken(x, y, 40);
      }
      // Shading in the bottom-left corner: a soft grey quarter disk.
      for (let y = side - 80; y < side; y++) {
        for (let x = 0; x < 80; x++) {
          const r = Math.hypot(x, side - 1 - y);
          if (r < 80) darken(x, y, Math.round(255 - 120 * (1 - r / 80)));
        }
      }
    }
    return { width: side, height: side, data };
  };
  const clean = toMnistInput(page(false));
  const marked = toMnistInput(page(true));
  let diff = 0;
  for (let i = 0; i < 784; i++) {
    diff = Math.max(diff, Math.abs(marked[i] - clean[i]));
  }
  assert(diff < 0.05, `the marks changed the digit's input by ${diff}`);
});

/** The bounding box of `inside(x, y)` over a `width` × `height` grid. */
function box(
  width: number,
  height: number,
  inside: (x: number, y: number) => boolean,
): { w: number; h: number } {
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!inside(x, y)) continue;
      [x0, x1, y0, y1] = [
        Math.min(x0, x),
        Math.max(x1, x),
        Math.min(y0, y),
        Math.max(y1, y),
      ];
    }
  }
  return { w: x1 - x0 + 1, h: y1 - y0 + 1 };
}

/** The glyph's box in the picture: its pixels darker than mid-grey. */
const glyphBox = (image: RgbaImage) =>
  box(
    image.width,
    image.height,
    (x, y) => image.data[4 * (y * image.width + x)] < 128,
  );

/** The digit's box in the 28×28: its pixels over 30% ink. */
const inputBox = (input: Float32Array) =>
  box(28, 28, (x, y) => input[y * 28 + x] > 0.3);

Deno.test({
  name:
    "printed digits in six fonts at three sizes: nothing cut, centred, read as well as before the photo tuning",
  ignore: skip,
  sanitizeResources: false,
  async fn() {
    const inputs: Float32Array[] = [], labels: number[] = [];
    for (const [size, side] of [[24, 32], [64, 100], [96, 160]]) {
      const set = await makeFontDigits(size, side);
      for (const [file, label] of Object.entries(set.labels)) {
        const what = `${file} at ${size} pt`;
        const image = await readImage(join(set.dir, file));
        const input = toMnistInput(image, { name: file });
        // The whole glyph: the 28×28 keeps its aspect ratio (a cut-off part
        // changes it), the longer side 20 pixels, the mass centred.
        const g = glyphBox(image), d = inputBox(input);
        const ratio = (g.w / g.h) / (d.w / d.h);
        assert(
          ratio > 0.75 && ratio < 1.33,
          `${what}: glyph ${g.w}×${g.h}, in the 28×28 ${d.w}×${d.h}\n${
            shadeText(input)
          }`,
        );
        assert(Math.max(d.w, d.h) >= 19 && Math.max(d.w, d.h) <= 21, what);
        const { x, y } = centreOfMass(input);
        assert(Math.abs(x - 14) <= 1 && Math.abs(y - 14) <= 1, what);
        inputs.push(input);
        labels.push(label);
      }
      await Deno.remove(set.dir, { recursive: true });
    }
    const { classes } = await predictInputs(await model(), inputs);
    const right = classes.filter((c, i) => c === labels[i]).length;
    const misses = classes.flatMap((c, i) =>
      c === labels[i] ? [] : [`${labels[i]}→${c}`]
    );
    console.log(
      `printed digits: ${right} of ${labels.length} read right; misses ${
        misses.join(" ")
      }`,
    );
    // Measured with the test's own model: 143 of 180 (46, 49, 48 of 60 by
    // size), the same figure with the preprocessing of every commit since
    // the first (707ca90, before the photo tuning); with the one-epoch
    // model of `deno task train --seed 2`: 157 (155 before the tuning).
    // The misses are typographic shapes: a serif 1's foot read as 2, an open
    // 4 as 2, a 6's hook as 5, a 9's tail as 8 or 3.
    assertGreaterOrEqual(right, 138, misses.join(" "));
  },
});

/**
 * Headless tests of lib/display.ts: PNG encoding (decoded back and compared
 * pixel by pixel), the digit strip, tables, metrics and the model summary.
 *
 * Run: deno test --allow-read --allow-env tests/display_test.ts
 */
import * as tf from "@tensorflow/tfjs";
import {
  assert,
  assertEquals,
  assertGreater,
  assertMatch,
  assertNotMatch,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import {
  digitsBundle,
  metricsBundle,
  picturesBundle,
  summaryBundle,
  tableBundle,
} from "../lib/display.ts";
import { encodePng } from "../lib/image/encode.ts";
import { mistakesBundle } from "../lib/charts/show.ts";
import { colourBar } from "../lib/inside/show.ts";
import { UsageError } from "../lib/errors.ts";
import { isJupyterKernel, type MimeBundle } from "../lib/jupyter/mod.ts";
import { buildModel } from "../lib/model.ts";

await tf.setBackend("cpu");

// ---------------------------------------------------------------------------
// A minimal PNG reader, independent of the encoder under test.

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

interface DecodedPng {
  width: number;
  height: number;
  bitDepth: number;
  colourType: number;
  chunks: string[];
  pixels: Uint8Array;
}

/** Reads an 8-bit greyscale, non-interlaced PNG with filter 0 rows. */
async function decodePng(png: Uint8Array): Promise<DecodedPng> {
  assertEquals(
    [...png.subarray(0, 8)],
    [137, 80, 78, 71, 13, 10, 26, 10],
    "PNG signature",
  );
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks: string[] = [];
  const idat: Uint8Array[] = [];
  let header: Uint8Array | undefined;
  let offset = 8;
  while (offset < png.length) {
    const length = view.getUint32(offset);
    const typeAndData = png.subarray(offset + 4, offset + 8 + length);
    const type = new TextDecoder().decode(typeAndData.subarray(0, 4));
    assertEquals(
      view.getUint32(offset + 8 + length),
      crc32(typeAndData),
      `CRC of ${type}`,
    );
    chunks.push(type);
    const data = typeAndData.subarray(4);
    if (type === "IHDR") header = data;
    if (type === "IDAT") idat.push(data);
    offset += 12 + length;
  }
  assertEquals(offset, png.length, "chunks end exactly at the end of the file");
  if (!header) throw new Error("no IHDR chunk");
  const h = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const width = h.getUint32(0), height = h.getUint32(4);
  assertEquals(
    [...header.subarray(10, 13)],
    [0, 0, 0],
    "compression, filter, interlace",
  );
  const zlib = new Uint8Array(idat.reduce((n, d) => n + d.length, 0));
  idat.reduce((at, d) => (zlib.set(d, at), at + d.length), 0);
  const stream = new Blob([zlib]).stream()
    .pipeThrough(new DecompressionStream("deflate"));
  const raw = new Uint8Array(await new Response(stream).arrayBuffer());
  assertEquals(raw.length, height * (width + 1), "inflated size");
  const pixels = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    assertEquals(raw[y * (width + 1)], 0, `filter type of row ${y}`);
    pixels.set(
      raw.subarray(y * (width + 1) + 1, (y + 1) * (width + 1)),
      y * width,
    );
  }
  return {
    width,
    height,
    bitDepth: header[8],
    colourType: header[9],
    chunks,
    pixels,
  };
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** The PNGs embedded in `html` as data URLs, decoded. */
function embeddedPngs(html: string): Uint8Array[] {
  return [
    ...html.matchAll(/<img src="data:image\/png;base64,([A-Za-z0-9+/=]+)"/g),
  ]
    .map((m) => fromBase64(m[1]));
}

/** `n` distinct synthetic 28x28 "digits": image i has pixel (y, x) = (i*37 + y*28 + x) % 256. */
function syntheticImages(n: number): Uint8Array {
  const images = new Uint8Array(n * 784);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < 784; p++) images[i * 784 + p] = (i * 37 + p) % 256;
  }
  return images;
}

// ---------------------------------------------------------------------------

Deno.test("encodePng writes a valid greyscale PNG that decodes to its input", async () => {
  const width = 5, height = 3;
  const pixels = Uint8Array.from(
    { length: width * height },
    (_, i) => (i * 17) % 256,
  );
  const png = await encodePng(pixels, width, height);
  const decoded = await decodePng(png);
  assertEquals(decoded.chunks, ["IHDR", "IDAT", "IEND"]);
  assertEquals([decoded.width, decoded.height], [width, height]);
  assertEquals([decoded.bitDepth, decoded.colourType], [8, 0]);
  assertEquals(decoded.pixels, pixels);
});

Deno.test("encodePng compresses: a blank 84x84 image is far smaller than raw", async () => {
  const png = await encodePng(new Uint8Array(84 * 84), 84, 84);
  assert(png.length < 500, `blank 84x84 PNG is ${png.length} bytes`);
  assertEquals((await decodePng(png)).pixels, new Uint8Array(84 * 84));
});

Deno.test("encodePng rejects bad sizes with a UsageError naming them", () => {
  assertThrows(
    () => encodePng(new Uint8Array(4), 0, 4),
    UsageError,
    "width",
  );
  assertThrows(
    () => encodePng(new Uint8Array(4), 2, 1.5),
    UsageError,
    "height",
  );
  assertThrows(
    () => encodePng(new Uint8Array(5), 2, 2),
    UsageError,
    "needs 4 bytes, got 5",
  );
});

Deno.test("not inside a Jupyter kernel under deno test", () => {
  assertEquals(isJupyterKernel(), false);
});

Deno.test("digitsBundle embeds one upscaled PNG per digit, matching the input pixels", async () => {
  const images = syntheticImages(4);
  const bundle = digitsBundle({ images, start: 1, count: 3 });
  const pngs = embeddedPngs(bundle["text/html"]!);
  assertEquals(pngs.length, 3);
  for (const [k, png] of pngs.entries()) {
    const { width, height, pixels } = await decodePng(png);
    assertEquals([width, height], [84, 84], "default scale 3");
    const source = images.subarray((1 + k) * 784, (2 + k) * 784);
    for (let y = 0; y < 84; y++) {
      for (let x = 0; x < 84; x++) {
        if (
          pixels[y * 84 + x] !==
            source[Math.floor(y / 3) * 28 + Math.floor(x / 3)]
        ) {
          throw new Error(`image ${1 + k}: pixel (${y}, ${x}) differs`);
        }
      }
    }
  }
  assertStringIncludes(bundle["text/html"]!, 'width="84" height="84"');
  assertStringIncludes(bundle["text/plain"], "digits 1..3");
});

Deno.test("digitsBundle honours scale", async () => {
  const bundle = digitsBundle({
    images: syntheticImages(1),
    count: 1,
    scale: 2,
  });
  const [png] = embeddedPngs(bundle["text/html"]!);
  const decoded = await decodePng(png);
  assertEquals([decoded.width, decoded.height], [56, 56]);
});

Deno.test("digitsBundle captions labels and predictions and highlights mismatches", () => {
  const images = syntheticImages(12);
  const labels = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4, 3, 5];
  // Predictions for images 2..5 (relative to start); image 3 is wrong.
  const bundle = digitsBundle({
    images,
    labels,
    predictions: [4, 7, 9, 2],
    start: 2,
    count: 4,
  });
  const html = bundle["text/html"]!;
  for (
    const text of [
      "label 4",
      "label 1",
      "label 9",
      "label 2",
      "predicted 4",
      "predicted 7",
    ]
  ) {
    assertStringIncludes(html, text);
  }
  assertStringIncludes(html, "#2");
  assertStringIncludes(html, "#5");
  assertNotMatch(html, /#1</, "images before start are not shown");
  assertEquals(
    html.match(/class="mismatch"/g)?.length,
    1,
    "one mismatch highlighted",
  );
  assertMatch(
    html,
    /class="mismatch"[^>]*><img[^>]*alt="#3, label 1, predicted 7"/,
  );
  assertStringIncludes(html, "3/4 predicted correctly");
  const text = bundle["text/plain"];
  assertStringIncludes(text, "image:     2 3  4 5\n");
  assertStringIncludes(text, "label:     4 1  9 2\n");
  assertStringIncludes(text, "predicted: 4 7* 9 2\n");
  assertStringIncludes(text, "3/4 predicted correctly");
});

Deno.test("digitsBundle without predictions shows labels only; default count is 10", () => {
  const labels = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4, 3, 5];
  const bundle = digitsBundle({ images: syntheticImages(12), labels });
  assertEquals(embeddedPngs(bundle["text/html"]!).length, 10);
  assertStringIncludes(bundle["text/plain"], "label:     5 0 4 1 9 2 1 3 1 4");
  assertNotMatch(bundle["text/html"]!, /predicted|mismatch/);
});

Deno.test("digitsBundle rejects ranges, labels and predictions that do not fit", () => {
  const images = syntheticImages(3);
  assertThrows(
    () => digitsBundle({ images, start: 3 }),
    UsageError,
    "start",
  );
  assertThrows(
    () => digitsBundle({ images, start: 1, count: 3 }),
    UsageError,
    "count",
  );
  assertThrows(
    () => digitsBundle({ images, count: 0 }),
    UsageError,
    "count",
  );
  assertThrows(
    () => digitsBundle({ images, start: 1, count: 2, labels: [1, 2] }),
    UsageError,
    "labels has 2 entries",
  );
  assertThrows(
    () => digitsBundle({ images, count: 3, predictions: [1] }),
    UsageError,
    "predictions has 1 entries",
  );
  assertThrows(
    () => digitsBundle({ images: new Uint8Array(100) }),
    UsageError,
    "multiple of 784",
  );
});

Deno.test("tableBundle renders every value in HTML and aligned text", () => {
  const bundle = tableBundle([
    { epoch: 1, loss: 0.26543, acc: 0.9184, note: "<warm-up>" },
    { epoch: 2, loss: 0.0875, acc: 0.97312, samples: 60000 },
  ], { title: "history" });
  const html = bundle["text/html"]!;
  for (
    const text of [
      "<caption",
      "history",
      "epoch",
      "samples",
      "0.2654",
      "0.9184",
      "0.0875",
      "0.9731",
      "60,000",
    ]
  ) {
    assertStringIncludes(html, text);
  }
  assertStringIncludes(html, "&lt;warm-up&gt;", "HTML is escaped");
  assertNotMatch(html, /<warm-up>/);
  assertEquals(html.match(/<tr>/g)?.length, 3, "header and two rows");
  const lines = bundle["text/plain"].split("\n");
  assertEquals(lines[0], "history");
  assertMatch(lines[1], /^epoch\s+loss\s+acc\s+note\s+samples$/);
  assertMatch(lines[3], /^\s*1\s+0\.2654\s+0\.9184\s+<warm-up>$/);
  assertMatch(lines[4], /^\s*2\s+0\.0875\s+0\.9731\s+60,000$/);
  assertEquals(
    lines[3].indexOf("0.2654"),
    lines[4].indexOf("0.0875"),
    "columns aligned",
  );
});

Deno.test("tableBundle of no rows is an empty table, not an error", () => {
  const bundle = tableBundle([]);
  assertStringIncludes(bundle["text/html"]!, "<table");
});

Deno.test("metricsBundle shows each metric with 4 decimals", () => {
  const bundle = metricsBundle({
    "test loss": 0.029812,
    "test accuracy": 0.99051,
  }, {
    title: "Test",
  });
  for (
    const text of ["test loss", "0.0298", "test accuracy", "0.9905", "Test"]
  ) {
    assertStringIncludes(bundle["text/html"]!, text);
    assertStringIncludes(bundle["text/plain"], text);
  }
});

Deno.test("summaryBundle tabulates the tutorial model with 1,199,882 params", () => {
  const model = buildModel({ seed: 42 });
  try {
    const bundle = summaryBundle(model);
    const html = bundle["text/html"]!;
    for (
      const text of [
        "conv2d (Conv2D)",
        "(None, 26, 26, 32)",
        "dense (Dense)",
        "1,179,776",
        "dense_1 (Dense)",
        "(None, 10)",
        "Total params",
        "1,199,882",
        "Non-trainable params",
      ]
    ) assertStringIncludes(html, text);
    assertEquals(
      html.match(/<tr>/g)?.length,
      1 + 8 + 3,
      "header, 8 layers, 3 totals",
    );
    assertStringIncludes(bundle["text/plain"], "Total params: 1,199,882");
  } finally {
    model.dispose();
  }
});

Deno.test("a returned bundle has only MIME keys and renders as a cell's result", () => {
  const bundle: MimeBundle = metricsBundle({ acc: 0.5 });
  assertEquals(Object.keys(bundle).sort(), ["text/html", "text/plain"]);
  const format = (bundle as unknown as Record<symbol, () => MimeBundle>)[
    Symbol.for("Jupyter.display")
  ];
  assertEquals(
    format(),
    { ...bundle },
    "the kernel renders the bundle itself",
  );
});

Deno.test("galleries are tables: every picture in a cell of its own, no flex box a page's CSS or a sanitizer can undo", () => {
  // Classic Notebook's `.rendered_html img {display: block}`, and untrusted
  // notebooks and GitHub dropping `style`, turned flex rows of pictures into
  // one tall column; a table keeps its rows and columns either way.
  const images = syntheticImages(12);
  const split = {
    images,
    labels: new Uint8Array(12).map((_, i) => i % 10),
    count: 12,
    rows: 28 as const,
    cols: 28 as const,
  };
  const results = {
    labels: [...split.labels],
    classes: [...split.labels].map((l, i) => (i < 8 ? (l + 1) % 10 : l)),
    confidence: new Array(12).fill(0.9),
  };
  const picture = { width: 2, height: 2, data: new Uint8Array(16).fill(255) };
  const htmls = {
    digits: digitsBundle({ images, labels: split.labels, count: 12 }),
    mistakes: mistakesBundle(split, results, 8),
    pictures: picturesBundle([{
      name: "a.png",
      picture,
      input: new Float32Array(784),
      probabilities: new Array(10).fill(0.1),
    }]),
    "colour bar": { "text/html": colourBar("weight", "-1", "1") },
  };
  for (const [name, bundle] of Object.entries(htmls)) {
    const html = bundle["text/html"]!;
    assertNotMatch(html, /display:\s*(inline-)?flex|<figure/, name);
    const imgs = html.match(/<img/g)?.length ?? 0;
    const inCells = html.match(/<td[^>]*>(<div[^>]*>)?<img/g)?.length ?? 0;
    assertEquals(inCells, imgs, `${name}: every picture in a table cell`);
    assertGreater(imgs, 0, name);
  }
  // Ten digits to a row: twelve digits are two rows.
  assertEquals(htmls.digits["text/html"]!.match(/<tr>/g)?.length, 2);
  assertEquals(htmls.mistakes["text/html"]!.match(/<tr>/g)?.length, 2);
});

/**
 * Tests of lib/image/decode.ts and files.ts: every PNG colour type and bit
 * depth Pillow writes, and JPEG, decode to the pixels Pillow decodes; other
 * formats, empty, corrupt, truncated and oversized files get an ImageError
 * naming the file.
 *
 * Run: deno test --allow-read --allow-write --allow-run --allow-env tests/image/decode_test.ts
 */
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { join } from "node:path";
import { ImageError, type ImageErrorKind } from "../../lib/errors.ts";
import {
  decodeImage,
  IMAGE_EXTENSIONS,
  IMAGE_FORMATS,
  imageFormat,
  listImages,
  readImage,
  SUPPORTED_FORMATS,
} from "../../lib/image/mod.ts";
import { makeFormatPictures, skipPictures } from "./pictures.ts";

const skip = await skipPictures();
const dir = skip ? "" : await makeFormatPictures();

const PNGS = [
  "mode_1.png",
  "mode_L.png",
  "mode_P_grey4.png",
  "mode_P.png",
  "mode_P_transparent.png",
  "mode_LA.png",
  "mode_RGB.png",
  "mode_RGBA.png",
  "mode_I16.png",
];

Deno.test({
  name: "every PNG colour type and bit depth decodes to Pillow's RGBA exactly",
  ignore: skip,
  async fn() {
    for (const name of PNGS) {
      const image = await readImage(join(dir, name));
      const expected = await Deno.readFile(join(dir, `${name}.rgba`));
      assertEquals([image.width, image.height], [40, 56], name);
      let worst = 0;
      for (let i = 0; i < expected.length; i++) {
        worst = Math.max(worst, Math.abs(image.data[i] - expected[i]));
      }
      assertEquals(worst, 0, `${name}: max difference from Pillow`);
    }
  },
});

Deno.test({
  name: "JPEG decodes to within a few levels of Pillow's libjpeg",
  ignore: skip,
  async fn() {
    for (const name of ["rgb.jpg", "grey.jpg"]) {
      const image = await readImage(join(dir, name));
      const expected = await Deno.readFile(join(dir, `${name}.rgba`));
      let sum = 0;
      for (let i = 0; i < expected.length; i++) {
        sum += Math.abs(image.data[i] - expected[i]);
      }
      const mean = sum / expected.length;
      assert(mean < 2, `${name}: mean difference ${mean} levels`);
    }
  },
});

Deno.test({
  name: "bad files get an ImageError naming the file and the problem",
  ignore: skip,
  async fn() {
    const cases: [string, string, ImageErrorKind][] = [
      [
        "digit.gif",
        "not a PNG or JPEG picture (looks like GIF)",
        "unsupported",
      ],
      [
        "digit.bmp",
        "not a PNG or JPEG picture (looks like BMP)",
        "unsupported",
      ],
      ["empty.png", "empty file", "unsupported"],
      ["text.png", "not a PNG or JPEG picture: use PNG or JPEG", "unsupported"],
      ["truncated.png", "PNG", "corrupt"],
      ["corrupt.png", "corrupt or truncated PNG", "corrupt"],
      ["truncated.jpg", "JPEG", "corrupt"],
      ["huge.png", "too large: 6000×6000 pixels", "too-large"],
      ["missing.png", "no such file or directory", "unreadable"],
    ];
    for (const [name, problem, kind] of cases) {
      const path = join(dir, "bad", name);
      const error = await assertRejects(() => readImage(path), ImageError);
      assert(
        error.message.startsWith(`${path}: `) &&
          error.message.includes(problem),
        `${name}: ${error.message}`,
      );
      assertEquals(error.kind, kind, name);
    }
  },
});

Deno.test("imageFormat knows formats by their signatures only", () => {
  assertEquals(
    imageFormat(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10]))
      ?.name,
    "PNG",
  );
  assertEquals(
    imageFormat(new Uint8Array([0xff, 0xd8, 0xff, 0xe0]))?.mediaType,
    "image/jpeg",
  );
  // Known, to name it, but not decoded.
  const gif = imageFormat(new Uint8Array([0x47, 0x49, 0x46, 0x38]));
  assertEquals([gif?.name, gif?.decode], ["GIF", undefined]);
  // A signature cut short is no match.
  assertEquals(imageFormat(new Uint8Array([0x89, 0x50, 0x4e])), undefined);
  assertEquals(imageFormat(new TextEncoder().encode("hello")), undefined);
  assertThrows(
    () => decodeImage(new Uint8Array([0xff, 0xd8, 0xff]), "req"),
    ImageError,
    "req: corrupt or truncated JPEG",
  );
});

Deno.test("the format table: the decoded formats, their extensions and types", () => {
  assertEquals(SUPPORTED_FORMATS.map((f) => f.name), ["PNG", "JPEG"]);
  assertEquals(IMAGE_EXTENSIONS, [".png", ".jpg", ".jpeg"]);
  // Each name, media type, extension and signature belongs to one row.
  for (const key of ["name", "mediaType"] as const) {
    const all = IMAGE_FORMATS.map((f) => f[key]);
    assertEquals(new Set(all).size, all.length, key);
  }
  const extensions = IMAGE_FORMATS.flatMap((f) => f.extensions);
  assertEquals(new Set(extensions).size, extensions.length);
  for (const f of IMAGE_FORMATS) {
    assert(f.extensions.every((e) => /^\.[a-z0-9]+$/.test(e)), f.name);
    // Each row's signatures lead to that row.
    for (const magic of f.magic) {
      assertEquals(imageFormat(new Uint8Array([...magic, 0, 0]))?.name, f.name);
    }
  }
});

Deno.test({
  name:
    "listImages: files as given, directories' pictures sorted, clear errors",
  ignore: skip,
  async fn() {
    const files = await listImages([join(dir, "mode_L.png"), dir]);
    assertEquals(files[0], join(dir, "mode_L.png"));
    assertEquals(files.slice(1), [...files.slice(1)].sort());
    assert(files.includes(join(dir, "rgb.jpg")));
    assert(!files.some((f) => f.endsWith(".rgba")));
    await assertRejects(
      () => listImages([join(dir, "missing.png")]),
      ImageError,
      "no such file or directory",
    );
    const empty = await Deno.makeTempDir();
    await assertRejects(
      () => listImages([empty]),
      ImageError,
      "no .png, .jpg, .jpeg pictures",
    );
    await Deno.remove(empty);
  },
});

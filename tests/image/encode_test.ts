/**
 * Tests of lib/image/encode.ts and lib/image/palette.ts: PNG of every channel
 * count read back by the project's decoder, pixel repetition for grey and
 * colour, and the palettes' ends and middle.
 *
 * Run: deno test tests/image/encode_test.ts
 */
import { assertEquals, assertThrows } from "@std/assert";
import { decodeImage } from "../../lib/image/decode.ts";
import { encodePng, pngDataUrl, upscale } from "../../lib/image/encode.ts";
import { colourAt, DIVERGING, HEAT } from "../../lib/image/palette.ts";
import { UsageError } from "../../lib/errors.ts";

Deno.test("encodePng: grey, RGB and RGBA read back as the same RGBA pixels", () => {
  const rgba = Uint8Array.from({ length: 3 * 2 * 4 }, (_, i) => (i * 37) % 256);
  const rgb = rgba.filter((_, i) => i % 4 !== 3);
  const grey = rgba.filter((_, i) => i % 4 === 0);
  const opaque = (bytes: Uint8Array, channels: number) =>
    Uint8Array.from({ length: 3 * 2 * 4 }, (_, i) => {
      const p = i >> 2, c = i & 3;
      if (c === 3) return channels === 4 ? bytes[p * 4 + 3] : 255;
      return channels === 1 ? bytes[p] : bytes[p * channels + c];
    });
  for (const [bytes, channels] of [[grey, 1], [rgb, 3], [rgba, 4]] as const) {
    const back = decodeImage(encodePng(bytes, 3, 2, channels), "x.png");
    assertEquals([back.width, back.height], [3, 2]);
    assertEquals(back.data, opaque(bytes, channels), `${channels} channels`);
  }
  assertThrows(
    () => encodePng(rgb, 3, 2, 4),
    UsageError,
    "needs 24 bytes, got 18",
  );
});

Deno.test("upscale repeats whole pixels of any channel count", () => {
  const rgb = Uint8Array.of(1, 2, 3, 4, 5, 6); // two pixels side by side
  assertEquals(
    upscale(rgb, 2, 1, 2, 3),
    Uint8Array.of(
      ...[1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6],
      ...[1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6],
    ),
  );
  assertEquals(upscale(Uint8Array.of(7), 1, 1, 3), new Uint8Array(9).fill(7));
  assertEquals(
    pngDataUrl(encodePng(Uint8Array.of(0), 1, 1)).slice(0, 27),
    "data:image/png;base64,iVBOR",
  );
});

Deno.test("palettes: their ends, white at the middle of the diverging one, clamped outside", () => {
  assertEquals(colourAt(HEAT, 0), [0, 0, 4]);
  assertEquals(colourAt(HEAT, 1), [252, 255, 164]);
  assertEquals(colourAt(HEAT, 2), colourAt(HEAT, 1));
  assertEquals(colourAt(HEAT, NaN), colourAt(HEAT, 0));
  assertEquals(colourAt(DIVERGING, 0.5), [247, 247, 247]);
  assertEquals(colourAt(DIVERGING, 0.125), [90, 150, 197]);
});

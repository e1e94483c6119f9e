/**
 * Tests of lib/errors.ts: the kinds typed errors carry, and the one message
 * style of whole-number checks.
 *
 * Run: deno test tests/errors_test.ts
 */
import { assertEquals, assertThrows } from "@std/assert";
import {
  checkWholeNumber,
  FileError,
  ImageError,
  TrainingError,
  UsageError,
} from "../lib/errors.ts";

Deno.test("checkWholeNumber: one message style for every bound", () => {
  const cases: [number, { min?: number; max?: number }, string][] = [
    [0, { min: 1, max: 256 }, "n must be from 1 to 256, got 0"],
    [257, { min: 1, max: 256 }, "n must be from 1 to 256, got 257"],
    [-1, { min: 0 }, "n must be at least 0, got -1"],
    [11, { max: 10 }, "n must be at most 10, got 11"],
    [1.5, { min: 1 }, "n must be a whole number, got 1.5"],
    [NaN, {}, "n must be a whole number, got NaN"],
    [2 ** 53, {}, "n must be a whole number, got 9007199254740992"],
  ];
  for (const [value, range, message] of cases) {
    const error = assertThrows(
      () => checkWholeNumber("n", value, range),
      UsageError,
    );
    assertEquals(error.message, message);
  }
  assertEquals(checkWholeNumber("n", 256, { min: 1, max: 256 }), 256);
  assertEquals(checkWholeNumber("n", -3), -3);
});

Deno.test("typed errors carry their kind and name the file", () => {
  const image = new ImageError("me.gif", "not a PNG", { kind: "unsupported" });
  assertEquals(
    [image.kind, image.path, image.message, image.name],
    ["unsupported", "me.gif", "me.gif: not a PNG", "ImageError"],
  );
  assertEquals(image instanceof FileError, true);
  assertEquals(new ImageError("x.png", "bad").kind, "corrupt");
  const cause = new Error("inner");
  assertEquals(
    new ImageError("x", "y", { kind: "too-large", cause }).cause,
    cause,
  );
  assertEquals(
    new TrainingError("stop", { kind: "interrupted" }).kind,
    "interrupted",
  );
  assertEquals(new TrainingError("NaN").kind, "not-finite");
});

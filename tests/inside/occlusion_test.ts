/**
 * Occlusion sensitivity on real digits: a patch over blank background
 * changes nothing, hiding the whole digit takes its probability away, the
 * per-pixel map is the mean of the drops covering it, and bad options are
 * refused.
 *
 * Run: deno test --allow-read --allow-write --allow-env tests/inside/occlusion_test.ts
 */
import { assert, assertEquals, assertThrows } from "@std/assert";
import { UsageError } from "../../lib/mod.ts";
import { digitInputs, occlusion } from "../../lib/inside/mod.ts";
import { smallModel } from "./reference.ts";

const { model, mnist } = await smallModel();
const inputs = digitInputs(mnist.test, [0, 1, 2, 3, 4, 5]);
const labels = [0, 1, 2, 3, 4, 5].map((i) => mnist.test.labels[i]);

Deno.test("a patch over blank background changes nothing", () => {
  const result = occlusion(model, inputs, { patch: 4, stride: 4 });
  assertEquals(result.positions, [0, 4, 8, 12, 16, 20, 24]);
  let blank = 0;
  for (const [i, x] of inputs.entries()) {
    result.positions.forEach((r, a) =>
      result.positions.forEach((c, b) => {
        let ink = 0;
        for (let y = r; y < r + 4; y++) {
          for (let xx = c; xx < c + 4; xx++) ink += x[y * 28 + xx];
        }
        const drop = result.drops[i][a * result.positions.length + b];
        if (ink === 0) {
          blank++;
          assert(
            Math.abs(drop) < 1e-6,
            `digit ${i}, blank patch (${r}, ${c}): ${drop}`,
          );
        }
      })
    );
  }
  assert(blank > 100, `only ${blank} blank patches`);
  assert(
    result.drops.some((d) => d.some((v) => Math.abs(v) > 0.01)),
    "no patch on the strokes mattered",
  );
});

Deno.test("hiding the whole digit takes the probability of its class away", () => {
  const result = occlusion(model, inputs, { patch: 28, classIndex: labels });
  assertEquals(result.positions, [0]);
  for (const [i, p] of result.probabilities.entries()) {
    const before = p[labels[i]];
    const after = before - result.drops[i][0];
    console.log(
      `digit ${labels[i]}: p ${before.toFixed(3)} → ${after.toFixed(3)} hidden`,
    );
    if (before > 0.5) {
      assert(after < before - 0.3, `digit ${i}: ${before} → ${after}`);
    }
  }
  assert(result.probabilities.filter((p, i) => p[labels[i]] > 0.5).length >= 4);
});

Deno.test("each pixel's value is the mean drop of the patches covering it", () => {
  const result = occlusion(model, inputs.slice(0, 1), { patch: 6, stride: 11 });
  assertEquals(result.positions, [0, 11, 22]);
  const d = result.drops[0];
  // Pixel (5, 11) lies under one patch only: the one at (0, 11), rows 0..5, columns 11..16.
  assert(Math.abs(result.maps[0][5 * 28 + 11] - d[1]) < 1e-7);
  // Pixel (0, 8) lies under no patch.
  assertEquals(result.maps[0][8], 0);
  assertThrows(
    () => occlusion(model, inputs, { patch: 0 }),
    UsageError,
    "patch",
  );
  assertThrows(
    () => occlusion(model, inputs, { stride: 1.5 }),
    UsageError,
    "stride",
  );
  assertThrows(
    () => occlusion(model, inputs, { fill: NaN }),
    UsageError,
    "fill",
  );
});

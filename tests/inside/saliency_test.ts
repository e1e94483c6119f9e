/**
 * Saliency against central finite differences of the class score, computed
 * in float64 by an independent forward pass (tests/inside/reference.ts) on
 * pixels sampled on and off the strokes; SmoothGrad seeded and batched;
 * explain() equal to saliency() and gradCam() called apart.
 *
 * Run: deno test --allow-read --allow-write --allow-env tests/inside/saliency_test.ts
 */
import { assert, assertEquals, assertThrows } from "@std/assert";
import { UsageError } from "../../lib/mod.ts";
import {
  digitInputs,
  explain,
  gradCam,
  saliency,
} from "../../lib/inside/mod.ts";
import {
  refForward,
  refGradA2,
  refGradInput,
  refWeights,
  smallModel,
} from "./reference.ts";

const { model, mnist } = await smallModel();
const DIGITS = [0, 1, 2, 3, 4, 7];
const inputs = digitInputs(mnist.train, DIGITS);

Deno.test("the float64 reference computes the model's scores", () => {
  const w = refWeights(model);
  const { probabilities } = saliency(model, inputs.slice(0, 2));
  for (let i = 0; i < 2; i++) {
    const { z } = refForward(w, inputs[i]);
    const max = Math.max(...z);
    const e = Array.from(z, (v) => Math.exp(v - max));
    const sum = e.reduce((a, b) => a + b, 0);
    e.forEach((v, c) =>
      assert(
        Math.abs(v / sum - probabilities[i][c]) < 1e-5,
        `digit ${i} class ${c}: ${v / sum} vs ${probabilities[i][c]}`,
      )
    );
  }
});

Deno.test("saliency equals central finite differences of the class score", () => {
  // The score is piecewise linear in the input (ReLU, max pooling), so a
  // central difference in float64 with h = 1e-6 is exact up to rounding
  // (~1e-9) unless a ReLU or a pooling choice flips within ±h; such pixels
  // show as one-sided differences that disagree, and are skipped (counted).
  // They are real: over blank background every conv2 unit sees the same
  // input, so a pooling window holds four equal values and the score has a
  // kink exactly there (any of the tied units' gradients is a subgradient).
  // The map under test is computed in float32 by tfjs: sums of up to 9,216
  // products, each rounded to 2^-24 relative, stay well within 1e-3 of the
  // map's largest |value|, the tolerance asserted.
  const w = refWeights(model);
  const { maps, targets } = saliency(model, inputs);
  // explain() carries the gradient from conv2 down to the input itself.
  const fused = explain(model, inputs).saliency;
  const h = 1e-6;
  let checked = 0, skipped = 0, worst = 0;
  for (const [i, x] of inputs.slice(0, 4).entries()) {
    const c = targets[i];
    const f = refForward(w, x);
    const mid = f.z[c];
    const analytic = refGradInput(w, f, refGradA2(w, f, c));
    let scale = 0;
    for (const v of maps[i]) scale = Math.max(scale, Math.abs(v));
    assert(scale > 0, `digit ${i}: an all-zero saliency map`);
    // 16 pixels on the strokes, 8 anywhere (a fixed stride through the image).
    // (Four digits: each pixel costs two float64 forward passes.)
    const on = [...x.keys()].filter((p) => x[p] > 0.3);
    const pixels = [
      ...Array.from({ length: 16 }, (_, k) => on[(k * 7919) % on.length]),
      ...Array.from({ length: 8 }, (_, k) => (k * 97 + i * 17) % 784),
    ];
    for (const p of pixels) {
      const at = (d: number) => {
        const moved = Float64Array.from(x);
        moved[p] += d;
        return refForward(w, moved).z[c];
      };
      const [up, down] = [at(h), at(-h)];
      const fd = (up - down) / (2 * h);
      if (Math.abs((up - mid) / h - (mid - down) / h) > 1e-6 * scale) {
        skipped++;
        continue;
      }
      const err = Math.max(
        Math.abs(maps[i][p] - fd),
        Math.abs(fused[i][p] - fd),
      );
      worst = Math.max(worst, err / scale);
      assert(
        err <= 1e-3 * scale,
        `digit ${i} pixel ${p}: saliency ${maps[i][p]}, explain ${
          fused[i][p]
        }, finite difference ${fd}, scale ${scale}`,
      );
      // The hand-written chain rule agrees too (both float64).
      assert(Math.abs(analytic[p] - fd) <= 1e-6 * scale);
      checked++;
    }
  }
  console.log(
    `saliency vs finite differences: ${checked} pixels, worst |error| ${
      worst.toExponential(2)
    } of the map's max, ${skipped} skipped at a kink`,
  );
  assert(checked >= 60, `only ${checked} pixels away from a kink`);
});

Deno.test("saliency of a chosen class, in batches, equals one at a time", () => {
  const all = saliency(model, inputs, { classIndex: 3, batchSize: 4 });
  assertEquals(all.targets, inputs.map(() => 3));
  const one = saliency(model, [inputs[5]], { classIndex: 3 });
  for (let p = 0; p < 784; p++) {
    assert(Math.abs(all.maps[5][p] - one.maps[0][p]) < 1e-6);
  }
  assertThrows(
    () => saliency(model, inputs, { classIndex: 10 }),
    UsageError,
    "classIndex 10",
  );
  assertThrows(
    () => saliency(model, [new Float32Array(10)]),
    UsageError,
    "784",
  );
});

Deno.test("SmoothGrad: a seed gives the same map, another seed a close one; the noise-free limit is plain saliency", () => {
  const a = saliency(model, inputs.slice(0, 2), {
    smoothGrad: { seed: 1, samples: 8 },
  });
  const again = saliency(model, inputs.slice(0, 2), {
    smoothGrad: { seed: 1, samples: 8 },
    batchSize: 3,
  });
  const b = saliency(model, inputs.slice(0, 2), {
    smoothGrad: { seed: 2, samples: 8 },
  });
  for (let p = 0; p < 784; p++) {
    assert(Math.abs(a.maps[1][p] - again.maps[1][p]) < 1e-6, "same seed");
  }
  assert(a.maps[1].some((v, p) => v !== b.maps[1][p]), "another seed differs");
  const plain = saliency(model, inputs.slice(0, 1));
  const zero = saliency(model, inputs.slice(0, 1), {
    smoothGrad: { noise: 0, samples: 3 },
  });
  for (let p = 0; p < 784; p++) {
    assert(Math.abs(plain.maps[0][p] - zero.maps[0][p]) < 1e-5);
  }
  assertThrows(
    () => saliency(model, inputs, { smoothGrad: { samples: 0 } }),
    UsageError,
    "samples",
  );
});

Deno.test("explain() gives gradCam()'s maps and the same classes in one pass", () => {
  const e = explain(model, inputs);
  const s = saliency(model, inputs);
  const g = gradCam(model, inputs);
  assertEquals(e.classes, s.classes);
  assertEquals(e.layer, g.layer);
  // Saliency may differ where the score has a kink (tied pooling values over
  // blank background, see above: either side's gradient is a subgradient);
  // it is checked against finite differences where it has none.
  let differ = 0;
  for (let i = 0; i < inputs.length; i++) {
    let dg = 0, ms = 0, mg = 0;
    for (let p = 0; p < 784; p++) {
      dg = Math.max(dg, Math.abs(e.gradCam[i][p] - g.maps[i][p]));
      ms = Math.max(ms, Math.abs(s.maps[i][p]));
      mg = Math.max(mg, g.maps[i][p]);
    }
    for (let p = 0; p < 784; p++) {
      if (Math.abs(e.saliency[i][p] - s.maps[i][p]) > 1e-5 * ms) differ++;
    }
    assert(dg <= 1e-5 * mg, `digit ${i}: Grad-CAM differs by ${dg}`);
  }
  console.log(
    `explain vs saliency: ${differ} of ${
      784 * inputs.length
    } pixels differ (ties)`,
  );
  for (let i = 0; i < inputs.length; i++) {
    let ink = 0;
    for (let p = 0; p < 784; p++) {
      if (inputs[i][p] > 0.3 && Math.abs(e.saliency[i][p]) > 0) ink++;
    }
    assert(ink > 20, `digit ${i}: saliency is zero on the strokes`);
  }
  assertEquals(e.firstConv.shape, [inputs.length, 26, 26, 32]);
});

/**
 * Checks augmentation (lib/engine/augment.ts): the warped pictures against an
 * independent NumPy reference that maps each output pixel through Keras's
 * zoom, translation and rotation one after another and samples bilinearly;
 * the draws seeded, in range and apart per epoch; training with it seeded and
 * reproducible on one or two threads, and without it exactly as before.
 */
import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertNotEquals,
  assertRejects,
} from "@std/assert";
import { buildModel, train, UsageError } from "../../lib/mod.ts";
import {
  augmentImages,
  DEFAULT_AUGMENT,
  drawTransform,
  transformMatrix,
  warpAffine,
} from "../../lib/engine/augment.ts";
import {
  maxWeightDiff,
  quiet,
  realMnist,
  smallTest,
  weightsOf,
} from "../helpers.ts";

const mnist = await realMnist();
/** The test split cut short: these runs never read train()'s test figures. */
const quick = smallTest(mnist);
const CI = Deno.env.get("CI") === "true";

/**
 * Keras's three maps applied to every output pixel one after another
 * (`RandomZoom` last in the stack, so first on the coordinates), then
 * bilinear sampling with 0 outside, in NumPy float64.
 */
const REFERENCE = `
import json, sys, numpy as np
job = json.load(sys.stdin)
h, w = job["h"], job["w"]
out = []
for case in job["cases"]:
    img = np.array(case["pixels"], dtype=np.float64).reshape(h, w)
    angle, dx, dy, z = case["angle"], case["dx"], case["dy"], case["zoom"]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    # RandomZoom: get_zoom_matrix [z, 0, cx (1 - z), 0, z, cy (1 - z)]
    x1, y1 = z * xs + cx * (1 - z), z * ys + cy * (1 - z)
    # RandomTranslation: [1, 0, -dx, 0, 1, -dy]
    x2, y2 = x1 - dx, y1 - dy
    # RandomRotation: get_rotation_matrix
    c, s = np.cos(angle), np.sin(angle)
    xo = ((w - 1) - (c * (w - 1) - s * (h - 1))) / 2
    yo = ((h - 1) - (s * (w - 1) + c * (h - 1))) / 2
    x3, y3 = c * x2 - s * y2 + xo, s * x2 + c * y2 + yo
    x0, y0 = np.floor(x3).astype(int), np.floor(y3).astype(int)
    fx, fy = x3 - x0, y3 - y0
    def at(yy, xx):
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        return np.where(inside, img[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)], 0.0)
    v = (at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx) * (1 - fy) + \\
        (at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx) * fy
    out.append((v / 255).ravel().tolist())
json.dump(out, sys.stdout)
`;

async function numpyReference(
  cases: {
    pixels: number[];
    angle: number;
    dx: number;
    dy: number;
    zoom: number;
  }[],
): Promise<number[][] | undefined> {
  let child;
  try {
    child = new Deno.Command("/usr/bin/python3", {
      args: ["-c", REFERENCE],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    if (CI) throw e;
    return undefined;
  }
  const writer = child.stdin.getWriter();
  await writer.write(
    new TextEncoder().encode(JSON.stringify({ h: 28, w: 28, cases })),
  );
  await writer.close();
  const out = await child.output();
  if (!out.success) {
    const message = new TextDecoder().decode(out.stderr);
    if (CI || !message.includes("No module named")) throw new Error(message);
    console.warn("SKIPPED: NumPy is not installed");
    return undefined;
  }
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("warpAffine: Keras's zoom, translation and rotation in one map, as NumPy applies them one by one", async () => {
  const strong = { rotation: 0.1, translation: 0.2, zoom: 0.3 };
  const cases = [];
  const ours: Float32Array[] = [];
  for (let id = 0; id < 12; id++) {
    const draw = id === 0
      ? { angle: Math.PI / 2, dx: 0, dy: 0, zoom: 1 } // a quarter turn
      : drawTransform(
        id < 6 ? DEFAULT_AUGMENT : strong,
        {
          seed: 5,
          epoch: id,
          id,
        },
        28,
        28,
      );
    const src = mnist.train.images.subarray(id * 784, (id + 1) * 784);
    const dst = new Float32Array(784);
    warpAffine(src, 28, 28, transformMatrix(draw, 28, 28), dst);
    ours.push(dst);
    cases.push({ pixels: Array.from(src), ...draw });
  }
  const reference = await numpyReference(cases);
  if (!reference) return;
  let worst = 0;
  reference.forEach((want, k) =>
    want.forEach((v, i) => worst = Math.max(worst, Math.abs(v - ours[k][i])))
  );
  assert(worst < 1e-5, `max |ours - numpy| = ${worst}`);
  // A quarter turn of a 28×28 picture moves pixels exactly: no blur.
  const turned = ours[0];
  const src = mnist.train.images.subarray(0, 784);
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      // x' = cos x - sin y + xo = 27 - y; y' = x
      assertAlmostEquals(turned[y * 28 + x], src[x * 28 + 27 - y] / 255, 1e-6);
    }
  }
});

Deno.test("drawTransform: seeded per (seed, epoch, sample), within the factors, apart per epoch", () => {
  const f = DEFAULT_AUGMENT;
  const draws = Array.from(
    { length: 2000 },
    (_, id) => drawTransform(f, { seed: 9, epoch: 0, id }, 28, 28),
  );
  assertEquals(
    draws[17],
    drawTransform(f, { seed: 9, epoch: 0, id: 17 }, 28, 28),
  );
  assertNotEquals(
    draws[17],
    drawTransform(f, { seed: 9, epoch: 1, id: 17 }, 28, 28),
  );
  const range = (pick: (d: typeof draws[0]) => number) => {
    const v = draws.map(pick);
    return [Math.min(...v), Math.max(...v)];
  };
  const [a0, a1] = range((d) => d.angle);
  const turn = f.rotation * 2 * Math.PI;
  assert(a0 >= -turn && a1 <= turn && a0 < -0.95 * turn && a1 > 0.95 * turn);
  const [x0, x1] = range((d) => d.dx);
  assert(x0 >= -2.8 && x1 <= 2.8 && x0 < -2.6 && x1 > 2.6, `dx ${x0}..${x1}`);
  const [z0, z1] = range((d) => d.zoom);
  assert(z0 >= 0.9 && z1 <= 1.1 && z0 < 0.91 && z1 > 1.09, `zoom ${z0}..${z1}`);
  // No augmentation at all: every factor 0 gives the picture itself.
  const none = { rotation: 0, translation: 0, zoom: 0 };
  const same = augmentImages(mnist.train.images, 28, 28, [3, 4], none, {
    seed: 1,
    epoch: 0,
  });
  for (let i = 0; i < 2 * 784; i++) {
    assertEquals(same[i], Math.fround(mnist.train.images[3 * 784 + i] / 255));
  }
});

Deno.test("train with augment: the same seed gives the same weights on one thread and on two; off gives exactly the run without it", async () => {
  const run = async (augment: boolean | undefined, threads: number) => {
    const model = buildModel({ seed: 4 });
    await train(model, quick, {
      ...quiet,
      limit: 256,
      seed: 4,
      threads,
      ...(augment === undefined ? {} : { augment }),
    });
    return weightsOf(model);
  };
  const plain = await run(undefined, 1);
  assertEquals(await run(false, 1), plain, "augment: false changed the run");
  const augmented = await run(true, 1);
  assert(maxWeightDiff(plain, augmented) > 1e-4, "augment changed nothing");
  assertEquals(await run(true, 1), augmented, "not reproducible");
  const two = maxWeightDiff(augmented, await run(true, 2));
  assert(two < 1e-4, `two threads: max |Δw| = ${two}`);
});

Deno.test("train: bad augment factors are usage errors before any work", async () => {
  for (const bad of [{ zoom: -0.1 }, { rotation: 1 }, { translation: NaN }]) {
    await assertRejects(
      () => train(buildModel({ seed: 1 }), quick, { ...quiet, augment: bad }),
      UsageError,
      "augment.",
    );
  }
});

/**
 * Grad-CAM against a reference computed here from conv2's activations and
 * the gradient of the class score with respect to them, both by the float64
 * loops of tests/inside/reference.ts; its geometry on the input; the same
 * maps from the model written to a Keras .h5 and read back; activations and
 * kernels against the reference too.
 *
 * Run: deno test --allow-read --allow-write --allow-env tests/inside/grad_cam_test.ts
 */
import { assert, assertEquals, assertThrows } from "@std/assert";
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { loadKeras, saveKeras, UsageError } from "../../lib/mod.ts";
import {
  activations,
  convFilters,
  digitInputs,
  gradCam,
  layerChain,
  layerGeometry,
} from "../../lib/inside/mod.ts";
import {
  refForward,
  refGradA2,
  refGradCam,
  refWeights,
  smallModel,
} from "./reference.ts";

const { model, mnist } = await smallModel();
const inputs = digitInputs(mnist.train, [0, 1, 2, 3, 5, 8]);

Deno.test("Grad-CAM equals the reference from conv2's activations and gradients", () => {
  const w = refWeights(model);
  const cam = gradCam(model, inputs);
  assertEquals(cam.layer, "conv2d_1");
  assertEquals([cam.coarse.height, cam.coarse.width], [24, 24]);
  for (const [i, x] of inputs.entries()) {
    const f = refForward(w, x);
    const ref = refGradCam(f.a2, refGradA2(w, f, cam.targets[i]));
    const max = Math.max(...ref);
    assert(max > 0, `digit ${i}: the reference map is all zero`);
    for (let p = 0; p < 576; p++) {
      assert(
        Math.abs(cam.coarse.maps[i][p] - ref[p]) <= 1e-4 * max,
        `digit ${i} at ${p}: ${cam.coarse.maps[i][p]} vs ${ref[p]}`,
      );
    }
    // conv2's pixel (r, c) looks at input pixels r..r+4: centred on r + 2.
    for (const [r, c] of [[0, 0], [10, 7], [23, 23]]) {
      assert(
        Math.abs(cam.maps[i][(r + 2) * 28 + c + 2] - ref[r * 24 + c]) <=
          1e-4 * max,
      );
    }
  }
});

Deno.test("Grad-CAM of another class and of a named layer", () => {
  const w = refWeights(model);
  const cam = gradCam(model, inputs.slice(0, 2), { classIndex: [7, 1] });
  assertEquals(cam.targets, [7, 1]);
  const f = refForward(w, inputs[0]);
  const ref = refGradCam(f.a2, refGradA2(w, f, 7));
  const max = Math.max(...ref, 1e-6);
  cam.coarse.maps[0].forEach((v, p) =>
    assert(Math.abs(v - ref[p]) <= 1e-4 * max)
  );
  const first = gradCam(model, inputs.slice(0, 1), { layer: "conv2d" });
  assertEquals([first.coarse.height, first.maps[0].length], [26, 784]);
  const pooled = gradCam(model, inputs.slice(0, 1), { layer: "max_pooling2d" });
  assertEquals(pooled.coarse.height, 12);
  assertThrows(
    () => gradCam(model, inputs, { layer: "nope" }),
    UsageError,
    "no layer",
  );
  assertThrows(
    () => gradCam(model, inputs, { layer: "dense" }),
    UsageError,
    "not 2-D",
  );
});

Deno.test("each layer's pixels are placed where they look on the input", () => {
  const chain = layerChain(model);
  assertEquals(layerGeometry(chain, 0), { stride: 1, offset: 1 });
  assertEquals(layerGeometry(chain, 1), { stride: 1, offset: 2 });
  assertEquals(layerGeometry(chain, 2), { stride: 2, offset: 2.5 });
});

Deno.test("activations and kernels are the reference's", () => {
  const w = refWeights(model);
  const layers = activations(model, inputs.slice(0, 2));
  assertEquals(layers.map((l) => l.name), model.layers.map((l) => l.name));
  const f = refForward(w, inputs[1]);
  for (
    const [name, ref] of [["conv2d", f.a1], ["conv2d_1", f.a2], [
      "dense",
      f.h,
    ]] as const
  ) {
    const layer = layers.find((l) => l.name === name)!;
    const per = ref.length;
    const max = Math.max(...ref);
    for (let p = 0; p < per; p++) {
      assert(
        Math.abs(layer.data[per + p] - ref[p]) <= 1e-4 * max,
        `${name} ${p}`,
      );
    }
  }
  const conv2 = convFilters(model, { layer: "conv2d_1" });
  // kernels[out][in][y * 3 + x] is the Keras kernel [y, x, in, out].
  assertEquals(
    conv2.kernels[5][7][4],
    Math.fround(w.k2[((1 * 3 + 1) * 32 + 7) * 64 + 5]),
  );
  assertEquals(convFilters(model).kernels.length, 32);
  assertThrows(
    () => convFilters(model, { layer: "dense" }),
    UsageError,
    "not a Conv2D",
  );
});

Deno.test("a Keras .h5 of the model gives the same Grad-CAM; a branching model is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "inside_keras_" });
  try {
    const path = join(dir, "model.h5");
    await saveKeras(model, path);
    const keras = await loadKeras(path);
    const a = gradCam(model, inputs.slice(0, 2));
    const b = gradCam(keras, inputs.slice(0, 2));
    assertEquals(b.classes, a.classes);
    for (let p = 0; p < 784; p++) {
      assert(
        Math.abs(a.maps[1][p] - b.maps[1][p]) <= 1e-5 * (1 + a.maps[1][p]),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const input = tf.input({ shape: [28, 28, 1] });
  const left = tf.layers.conv2d({ filters: 2, kernelSize: 3 }).apply(input);
  const right = tf.layers.conv2d({ filters: 2, kernelSize: 3 }).apply(input);
  const joined = tf.layers.add().apply([
    left as tf.SymbolicTensor,
    right as tf.SymbolicTensor,
  ]) as tf.SymbolicTensor;
  const branching = tf.model({ inputs: input, outputs: joined });
  assertThrows(() => gradCam(branching, inputs), UsageError, "not a chain");
});

/**
 * The sanity checks of Adebayo et al. (2018, "Sanity Checks for Saliency
 * Maps"): a map that explains the model must change when the model does.
 * Compared by Spearman's rank correlation of |map| with the trained model's,
 * on six test digits, each map explaining the digit's true class:
 *
 * - the baseline: SmoothGrad with two noise seeds on the trained model;
 * - cascading randomisation: the layers re-initialised one by one from the
 *   top (dense_1, then dense, conv2d_1, conv2d) as buildModel() initialises
 *   them (Glorot-uniform kernels, zero biases);
 * - the data randomisation test: the same model trained on the same images
 *   with their labels shuffled.
 *
 * The models are small: one epoch on 4,096 images (one thread), and two on
 * the shuffled labels, which the model cannot learn in that time (its
 * training accuracy is printed). The figures are printed; docs/inside.md
 * quotes them.
 *
 * Run: deno test --allow-read --allow-write --allow-env tests/inside/sanity_test.ts
 */
import { assert } from "@std/assert";
import type * as tf from "@tensorflow/tfjs";
import { buildModel } from "../../lib/mod.ts";
import { digitInputs, gradCam, saliency } from "../../lib/inside/mod.ts";
import { smallModel, spearman } from "./reference.ts";

const { model, mnist } = await smallModel();
const INDICES = [0, 1, 2, 3, 4, 7];
const inputs = digitInputs(mnist.test, INDICES);
const labels = INDICES.map((i) => mnist.test.labels[i]);
const SMOOTH = { samples: 16 };

const smooth = (m: tf.LayersModel, seed: number) =>
  saliency(m, inputs, {
    classIndex: labels,
    smoothGrad: { ...SMOOTH, seed },
  }).maps.map((map) => map.map(Math.abs));
const cam = (m: tf.LayersModel) =>
  gradCam(m, inputs, { classIndex: labels }).maps;
const meanCorrelation = (a: Float32Array[], b: Float32Array[]) =>
  a.reduce((s, m, i) => s + spearman(m, b[i]), 0) / a.length;

const trainedSmooth = smooth(model, 1);
const trainedCam = cam(model);
const baseline = meanCorrelation(trainedSmooth, smooth(model, 2));

/** The trained model with the layers from `layer` to the top re-initialised. */
function randomisedFrom(layer: string): tf.LayersModel {
  const fresh = buildModel({ seed: 77 });
  const copy = buildModel({ seed: 2 });
  const names = model.layers.map((l) => l.name);
  const from = names.indexOf(layer);
  copy.layers.forEach((l, i) =>
    l.setWeights((i >= from ? fresh : model).layers[i].getWeights())
  );
  fresh.dispose();
  return copy;
}

Deno.test("cascading randomisation of the layers changes SmoothGrad and Grad-CAM", () => {
  const figures: [string, number, number][] = [];
  for (const layer of ["dense_1", "dense", "conv2d_1", "conv2d"]) {
    const m = randomisedFrom(layer);
    figures.push([
      layer,
      meanCorrelation(trainedSmooth, smooth(m, 1)),
      meanCorrelation(trainedCam, cam(m)),
    ]);
    m.dispose();
  }
  console.log(
    `Spearman rank correlation with the trained model's map (mean of ${inputs.length} digits):\n` +
      `  two SmoothGrad seeds, trained model: ${baseline.toFixed(3)}\n` +
      figures.map(([layer, s, g]) =>
        `  from ${layer.padEnd(8)} up: SmoothGrad ${s.toFixed(3)}, Grad-CAM ${
          g.toFixed(3)
        }`
      ).join("\n"),
  );
  assert(baseline > 0.8, `two SmoothGrad seeds agree only to ${baseline}`);
  for (const [layer, s, g] of figures) {
    assert(
      s < 0.7 * baseline,
      `SmoothGrad with ${layer} up randomised: ${s.toFixed(3)} vs two seeds ${
        baseline.toFixed(3)
      }`,
    );
    assert(g < 0.5, `Grad-CAM with ${layer} up randomised: ${g.toFixed(3)}`);
  }
});

Deno.test("a model trained on shuffled labels explains differently", async () => {
  const shuffled = await smallModel({ labels: "random", epochs: 2 });
  const s = meanCorrelation(trainedSmooth, smooth(shuffled.model, 1));
  const g = meanCorrelation(trainedCam, cam(shuffled.model));
  console.log(
    `shuffled labels (training accuracy ${
      shuffled.trainAcc.toFixed(3)
    }): SmoothGrad ${s.toFixed(3)}, Grad-CAM ${g.toFixed(3)}; two seeds ${
      baseline.toFixed(3)
    }`,
  );
  assert(
    s < 0.7 * baseline,
    `SmoothGrad: ${s.toFixed(3)} vs ${baseline.toFixed(3)}`,
  );
  assert(g < 0.5, `Grad-CAM: ${g.toFixed(3)}`);
});

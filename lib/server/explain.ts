/**
 * The body of `POST /api/explain`: what `/api/predict` answers, plus what the
 * model sees of the picture — the 28×28 input, the first conv layer's
 * feature maps, and Grad-CAM and saliency maps of the predicted class — as
 * whole numbers 0–255 so the page can draw them at once.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { explain } from "../inside/explain.ts";
import { HEAT } from "../image/palette.ts";
import { quantileAbs } from "../inside/show.ts";

/** The JSON `POST /api/explain` answers. */
export interface ExplanationJson {
  /** The predicted class (one input). */
  classes: number[];
  /** Its ten probabilities, to 6 decimals. */
  probabilities: number[][];
  /** The 28×28 input the model saw, row by row, 0–255. */
  input: number[];
  /** Grad-CAM of the predicted class on `layer`, upsampled to 28×28, 0–255 (255 = its largest value). */
  gradCam: number[];
  /** The layer Grad-CAM explains, by its name in the model (e.g. `conv2d_1`). */
  layer: string;
  /** That layer as the notebooks call it: `conv2` for the second conv layer. */
  layerLabel: string;
  /** |saliency| of the predicted class, 28×28, 0–255 (255 = its 99th percentile or more). */
  saliency: number[];
  /** The first conv layer's feature maps, each `height × width`, 0–255 of that map's largest value. */
  featureMaps: {
    layer: string;
    /** As the notebooks call it: `conv1`. */
    label: string;
    height: number;
    width: number;
    maps: number[][];
    max: number[];
  };
  /**
   * The colour scale to draw the maps on: control points from 0 to 255 as
   * `[r, g, b]`, evenly spaced ({@linkcode HEAT}, the notebooks' scale).
   */
  palette: number[][];
}

const bytes = (values: ArrayLike<number>, top: number) =>
  Array.from(
    values,
    (v) => Math.round(Math.min(Math.max(v / (top || 1), 0), 1) * 255),
  );

/**
 * Explains one 28×28 input (784 values in [0, 1]) for the drawing page.
 *
 * @throws {UsageError} when the model cannot be explained (not a chain of
 * layers with a conv layer) or the input does not hold 784 values.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, initBackend } from "../mod.ts";
 * import { explanationJson } from "./explain.ts";
 * await initBackend();
 * const body = explanationJson(buildModel({ seed: 1 }), new Float32Array(784));
 * assertEquals([body.input.length, body.featureMaps.maps.length], [784, 32]);
 * assertEquals(body.palette[0], [0, 0, 4]);
 * assertEquals([body.featureMaps.label, body.layerLabel], ["conv1", "conv2"]);
 * ```
 */
export function explanationJson(
  model: tf.LayersModel,
  input: Float32Array,
): ExplanationJson {
  const e = explain(model, [input]);
  const [, h, w, k] = e.firstConv.shape;
  const maps: number[][] = [], max: number[] = [];
  for (let c = 0; c < k; c++) {
    const map = new Float32Array(h * w);
    let top = 0;
    for (let p = 0; p < h * w; p++) {
      map[p] = e.firstConv.data[p * k + c];
      top = Math.max(top, map[p]);
    }
    maps.push(bytes(map, top));
    max.push(Number(top.toFixed(6)));
  }
  // conv1, conv2, … in the model's order, as the notebooks name them.
  const convs = model.layers.filter((l) => l.getClassName() === "Conv2D")
    .map((l) => l.name);
  const label = (name: string) =>
    convs.includes(name) ? `conv${convs.indexOf(name) + 1}` : name;
  let camTop = 0;
  for (const v of e.gradCam[0]) camTop = Math.max(camTop, v);
  const saliency = e.saliency[0].map(Math.abs);
  return {
    classes: e.classes,
    probabilities: e.probabilities.map((row) =>
      row.map((p) => Number(p.toFixed(6)))
    ),
    input: bytes(input, 1),
    gradCam: bytes(e.gradCam[0], camTop),
    layer: e.layer,
    layerLabel: label(e.layer),
    saliency: bytes(saliency, quantileAbs(saliency, 0.99)),
    featureMaps: {
      layer: e.firstConv.name,
      label: label(e.firstConv.name),
      height: h,
      width: w,
      maps,
      max,
    },
    palette: HEAT.map((rgb) => [...rgb]),
  };
}

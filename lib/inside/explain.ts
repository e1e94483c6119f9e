/**
 * One digit's whole explanation in one forward and one backward pass, fast
 * enough to follow a drawing live: the probabilities, the plain saliency map,
 * Grad-CAM on the last conv layer and the first conv layer's feature maps.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { UsageError } from "../errors.ts";
import { camOf, layerGeometry, upsample } from "./grad_cam.ts";
import {
  type Chain,
  classScores,
  endsInSoftmax,
  findLayer,
  type Inputs,
  inputTensor,
  layerChain,
  runLayers,
  targetClasses,
} from "./network.ts";
import { classMask } from "./saliency.ts";

/** Options of {@linkcode explain}. */
export interface ExplainOptions {
  /** The conv layer for Grad-CAM by name; default the last `Conv2D`. */
  layer?: string;
  /** The class to explain: one for every input, or one per input; default each input's predicted class. */
  classIndex?: number | number[];
}

/** What {@linkcode explain} returns, per input. */
export interface Explanation {
  /** Each input's predicted class. */
  classes: number[];
  /** Each input's probabilities. */
  probabilities: number[][];
  /** The class explained. */
  targets: number[];
  /** Plain saliency, `d score / d pixel`, 784 values per input. */
  saliency: Float32Array[];
  /** Grad-CAM on `layer`, upsampled to 28×28. */
  gradCam: Float32Array[];
  /** The layer Grad-CAM explains. */
  layer: string;
  /** The first conv layer's output (e.g. `[n, 26, 26, 32]`), channels last. */
  firstConv: { name: string; shape: number[]; data: Float32Array };
}

const rows = (values: Float32Array | Int32Array | Uint8Array, k: number) =>
  Array.from(
    { length: values.length / k },
    (_, i) => Array.from(values.subarray(i * k, (i + 1) * k)),
  );

/**
 * Explains a few inputs at once: their probabilities, the plain saliency map
 * and Grad-CAM of the class to explain (the predicted one by default), and
 * the first conv layer's feature maps. The gradient with respect to the
 * Grad-CAM layer is computed once and carried on to the input, so saliency
 * costs only the backward pass through the layers below it. Grad-CAM equals
 * {@linkcode gradCam}'s; saliency equals {@linkcode saliency}'s wherever the
 * score is differentiable (at a kink, such as max-pooling windows of four
 * equal values over blank background, each gives a valid subgradient).
 *
 * @throws {UsageError} as {@linkcode gradCam} does.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, initBackend } from "../mod.ts";
 * import { explain } from "./explain.ts";
 * await initBackend();
 * const e = explain(buildModel({ seed: 1 }), [new Float32Array(784).fill(0.2)]);
 * assertEquals([e.saliency[0].length, e.gradCam[0].length, e.firstConv.shape], [784, 784, [1, 26, 26, 32]]);
 * ```
 */
export function explain(
  model: tf.LayersModel,
  inputs: Inputs,
  options: ExplainOptions = {},
): Explanation {
  const chain = layerChain(model);
  const index = findLayer(chain, options.layer);
  const first = chain.layers.findIndex((l) => l.getClassName() === "Conv2D");
  const shape = chain.layers[index].outputShape as number[];
  if (shape.length !== 4 || first < 0 || first > index) {
    throw new UsageError(
      `layer "${
        chain.layers[index].name
      }" outputs [${shape}], not 2-D feature maps after a Conv2D; name a conv layer`,
    );
  }
  const x = inputTensor(chain, inputs);
  const n = x.shape[0];
  try {
    return run(chain, x, n, index, first, options.classIndex);
  } finally {
    x.dispose();
  }
}

function run(
  chain: Chain,
  x: tf.Tensor,
  n: number,
  index: number,
  first: number,
  classIndex: number | number[] | undefined,
): Explanation {
  const conv1 = runLayers(chain, x, 0, first + 1);
  const a = runLayers(chain, conv1, first + 1, index + 1);
  const [scores, probs] = tf.tidy(() => {
    const z = classScores(chain, a, index + 1);
    return [z, endsInSoftmax(chain) ? tf.softmax(z) : z];
  });
  const k = scores.shape[1];
  const probabilities = rows(probs.dataSync(), k);
  tf.dispose([scores, probs]);
  const classes = probabilities.map((p) => p.indexOf(Math.max(...p)));
  const targets = targetClasses(classIndex, classes, k);
  const [cam, gx] = tf.tidy(() => {
    const mask = classMask(targets, k);
    const ga = tf.grad((t: tf.Tensor) =>
      tf.sum(tf.mul(classScores(chain, t, index + 1), mask))
    )(a);
    const gx = tf.grad((t: tf.Tensor) => runLayers(chain, t, 0, index + 1))(
      x,
      ga,
    );
    return [camOf(a, ga), gx];
  });
  const [, h, w] = cam.shape;
  const camValues = cam.dataSync() as Float32Array;
  const gxValues = gx.dataSync() as Float32Array;
  const convValues = conv1.dataSync().slice() as Float32Array;
  const geometry = layerGeometry(chain, index);
  const result: Explanation = {
    classes,
    probabilities,
    targets,
    saliency: rows(gxValues, gxValues.length / n).map((r) =>
      Float32Array.from(r)
    ),
    gradCam: Array.from(
      { length: n },
      (_, i) =>
        upsample(
          camValues.subarray(i * h * w, (i + 1) * h * w),
          h,
          w,
          geometry,
        ),
    ),
    layer: chain.layers[index].name,
    firstConv: {
      name: chain.layers[first].name,
      shape: conv1.shape.slice(),
      data: convValues,
    },
  };
  tf.dispose([conv1, a, cam, gx]);
  return result;
}

/**
 * Occlusion sensitivity (Zeiler & Fergus 2014): hide one square patch of the
 * input at a time and see how much the probability of the class falls.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { UsageError } from "../errors.ts";
import {
  batches,
  countInputs,
  type Inputs,
  inputTensor,
  layerChain,
  sliceInputs,
  targetClasses,
} from "./network.ts";
import { type Explained, scoresOf } from "./saliency.ts";
import { MAP_SIDE } from "./grad_cam.ts";

/** Options of {@linkcode occlusion}. */
export interface OcclusionOptions {
  /** The side of the square patch hidden, in pixels (default 6). */
  patch?: number;
  /** Pixels between two patches' corners (default 2). */
  stride?: number;
  /** The value a hidden pixel takes (default 0, MNIST's background). */
  fill?: number;
  /** The class to explain: one for every input, or one per input; default each input's predicted class. */
  classIndex?: number | number[];
  /** Occluded copies per forward pass (default 256). */
  batchSize?: number;
}

/** What {@linkcode occlusion} returns. */
export interface OcclusionResult extends Explained {
  /** The patch's top-left corners along each axis (the same both ways). */
  positions: number[];
  /**
   * Per input, the drop `p(class | input) − p(class | patch hidden)` for the
   * patch at `(positions[r], positions[c])`, at `r * positions.length + c`.
   */
  drops: Float32Array[];
}

/** The corners 0, stride, … and one last flush with the edge. */
function patchPositions(patch: number, stride: number): number[] {
  const out: number[] = [];
  for (let p = 0; p + patch <= MAP_SIDE; p += stride) out.push(p);
  if (out.at(-1)! + patch < MAP_SIDE) out.push(MAP_SIDE - patch);
  return out;
}

/**
 * Occlusion sensitivity of each input: the probability of the class to
 * explain (the predicted one by default) minus its probability with a
 * `patch × patch` square set to `fill`, for the square at every `stride`
 * pixels (`drops`); and per pixel the mean drop over the squares covering it
 * (`maps`). A drop above 0 means the hidden pixels spoke for the class.
 * Costs one forward pass per square (169 for the defaults); batched.
 *
 * @throws {UsageError} on a bad patch, stride or class.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel, initBackend } from "../mod.ts";
 * import { occlusion } from "./occlusion.ts";
 * await initBackend();
 * const blank = new Float32Array(784);
 * const { drops } = occlusion(buildModel({ seed: 1 }), [blank], { patch: 7, stride: 7 });
 * assertEquals(Array.from(drops[0]), new Array(16).fill(0)); // nothing to hide
 * ```
 */
export function occlusion(
  model: tf.LayersModel,
  inputs: Inputs,
  options: OcclusionOptions = {},
): OcclusionResult {
  const patch = options.patch ?? 6, stride = options.stride ?? 2;
  const fill = options.fill ?? 0;
  if (!Number.isInteger(patch) || patch < 1 || patch > MAP_SIDE) {
    throw new UsageError(
      `patch must be a whole number from 1 to ${MAP_SIDE}, got ${patch}`,
    );
  }
  if (!Number.isInteger(stride) || stride < 1 || stride > MAP_SIDE) {
    throw new UsageError(
      `stride must be a whole number from 1 to ${MAP_SIDE}, got ${stride}`,
    );
  }
  if (!Number.isFinite(fill)) {
    throw new UsageError(`fill must be a finite number, got ${fill}`);
  }
  const chain = layerChain(model);
  const positions = patchPositions(patch, stride);
  const squares = positions.flatMap((r) => positions.map((c) => [r, c]));
  const out: OcclusionResult = {
    classes: [],
    probabilities: [],
    targets: [],
    maps: [],
    positions,
    drops: [],
  };
  const n = countInputs(inputs);
  const perBatch = options.batchSize ?? 256;
  for (let i = 0; i < n; i++) {
    const part = sliceInputs(inputs, i, 1);
    const x = inputTensor(chain, part);
    if (part !== inputs && part instanceof tf.Tensor) part.dispose();
    const image = x.dataSync() as Float32Array;
    if (image.length !== MAP_SIDE * MAP_SIDE) {
      x.dispose();
      throw new UsageError(
        `occlusion needs 28×28 inputs; input ${i} holds ${image.length} values`,
      );
    }
    const { probabilities, classes } = scoresOf(chain, x);
    x.dispose();
    const [target] = targetClasses(
      Array.isArray(options.classIndex)
        ? options.classIndex.slice(i, i + 1)
        : options.classIndex,
      classes,
      probabilities[0].length,
    );
    const base = probabilities[0][target];
    const drops = new Float32Array(squares.length);
    for (const [start, count] of batches(squares.length, perBatch)) {
      const copies: Float32Array[] = [];
      for (let s = start; s < start + count; s++) {
        const copy = image.slice();
        const [r, c] = squares[s];
        for (let y = r; y < r + patch; y++) {
          copy.fill(fill, y * MAP_SIDE + c, y * MAP_SIDE + c + patch);
        }
        copies.push(copy);
      }
      const xs = inputTensor(chain, copies);
      const hidden = scoresOf(chain, xs).probabilities;
      xs.dispose();
      for (let s = 0; s < count; s++) {
        drops[start + s] = base - hidden[s][target];
      }
    }
    const sum = new Float32Array(MAP_SIDE * MAP_SIDE);
    const covered = new Float32Array(MAP_SIDE * MAP_SIDE);
    squares.forEach(([r, c], s) => {
      for (let y = r; y < r + patch; y++) {
        for (let x = c; x < c + patch; x++) {
          sum[y * MAP_SIDE + x] += drops[s];
          covered[y * MAP_SIDE + x]++;
        }
      }
    });
    out.maps.push(sum.map((v, p) => (covered[p] ? v / covered[p] : 0)));
    out.drops.push(drops);
    out.classes.push(classes[0]);
    out.probabilities.push(probabilities[0]);
    out.targets.push(target);
  }
  return out;
}

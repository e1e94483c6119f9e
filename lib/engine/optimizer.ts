/**
 * Adadelta exactly as Keras computes it. tfjs 4.22's `AdadeltaOptimizer`
 * divides by the *previous* squared-gradient accumulator, so its first step
 * is a plain SGD step of size `learningRate` (1.0 in the tutorial), which
 * kills the ReLUs of this model on step one. Keras (and the Adadelta paper)
 * divide by the *updated* accumulator:
 *
 *     a ← ρ·a + (1−ρ)·g²
 *     Δ = g · √(u + ε) / √(a + ε)
 *     u ← ρ·u + (1−ρ)·Δ²
 *     w ← w − lr·Δ
 *
 * The class keeps tfjs's name (`Adadelta`), state layout and serialisation, so
 * saved models stay standard and load in stock tfjs; registering it makes
 * models loaded here get the Keras update too.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

interface Slot {
  originalName: string;
  variable: tf.Variable;
}

/** Adadelta's hyperparameters. */
export interface AdadeltaHyper {
  /** Step size (Keras `learning_rate`, 1.0 in the tutorial). */
  learningRate: number;
  /** Decay of both accumulators (0.95). */
  rho: number;
  /** Fuzz factor (1e-7). */
  epsilon: number;
}

/**
 * Adadelta's state as flat arrays, in the order of the variables it was
 * asked for (the model's trainable weights), for an update outside tfjs.
 */
export interface FlatAdadeltaState {
  /** Accumulated squared gradients (`accum_grad`), all variables in a row. */
  accumGrad: Float32Array;
  /** Accumulated squared updates (`accum_var`), all variables in a row. */
  accumVar: Float32Array;
}

/**
 * One Keras Adadelta update of the elements `from .. to` of flat arrays, the
 * same rule as {@linkcode KerasAdadelta} (in float64, rounded to float32 on
 * store: about 2 ms per 600,000 weights on one core). The gradient is the weighted sum `Σ_t scales[t]·grads[t][i]` of
 * per-thread gradients, so that threads can each update a slice of the
 * weights from every thread's gradients.
 *
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { adadeltaUpdate } from "./optimizer.ts";
 * const w = new Float32Array([1]), g = new Float32Array([0.5]);
 * const state = { accumGrad: new Float32Array(1), accumVar: new Float32Array(1) };
 * adadeltaUpdate(w, [g], [1], state, { learningRate: 1, rho: 0.95, epsilon: 1e-7 }, 0, 1);
 * // Keras's first step: Δ = g·√ε/√(0.05·g² + ε), about √(ε/0.05) = 0.0014.
 * assertAlmostEquals(w[0], 1 - Math.sqrt(1e-7 / (0.05 * 0.25 + 1e-7)) * 0.5, 1e-6);
 * ```
 */
export function adadeltaUpdate(
  weights: Float32Array,
  grads: readonly Float32Array[],
  scales: readonly number[],
  state: FlatAdadeltaState,
  hyper: AdadeltaHyper,
  from: number,
  to: number,
): void {
  const { learningRate, rho, epsilon } = hyper;
  const a = state.accumGrad, u = state.accumVar;
  const keep = 1 - rho;
  const g0 = grads[0], s0 = scales[0];
  const g1 = grads.length > 1 ? grads[1] : g0,
    s1 = grads.length > 1 ? scales[1] : 0;
  const rest = grads.slice(2), restScales = scales.slice(2);
  for (let i = from; i < to; i++) {
    let g = g0[i] * s0 + g1[i] * s1;
    for (let t = 0; t < rest.length; t++) g += rest[t][i] * restScales[t];
    const ai = rho * a[i] + keep * g * g;
    // One square root of the ratio: the same number up to float64 rounding.
    const delta = Math.sqrt((u[i] + epsilon) / (ai + epsilon)) * g;
    a[i] = ai;
    u[i] = rho * u[i] + keep * delta * delta;
    weights[i] -= learningRate * delta;
  }
}

/**
 * Keras's Adadelta, a drop-in replacement of tfjs's `AdadeltaOptimizer`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { KerasAdadelta } from "./optimizer.ts";
 * const optimizer = new KerasAdadelta(1.0, 0.95, 1e-7);
 * assertEquals(optimizer.getClassName(), "Adadelta"); // saved as tfjs's own
 * assertEquals(optimizer.hyper, { learningRate: 1, rho: 0.95, epsilon: 1e-7 });
 * ```
 */
export class KerasAdadelta extends tf.AdadeltaOptimizer {
  /** Serialised under tfjs's own name, so saved models stay standard. */
  static override className = "Adadelta";

  /** Applies one Keras Adadelta update to each named variable. */
  override applyGradients(
    variableGradients: tf.NamedTensorMap | {
      name: string;
      tensor: tf.Tensor;
    }[],
  ): void {
    // The accumulators are private in tfjs's typings; the layout is the parent's.
    const self = this as unknown as {
      accumulatedGrads: Slot[];
      accumulatedUpdates: Slot[];
      rho: number;
      epsilon: number;
      learningRate: number;
    };
    const names = Array.isArray(variableGradients)
      ? variableGradients.map((item) => item.name)
      : Object.keys(variableGradients);
    names.forEach((name, i) => {
      const value = tf.engine().registeredVariables[name];
      const slot = (suffix: string): Slot => ({
        originalName: `${name}/${suffix}`,
        variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
      });
      self.accumulatedGrads[i] ??= slot("accum_grad");
      self.accumulatedUpdates[i] ??= slot("accum_var");
      const gradient = Array.isArray(variableGradients)
        ? variableGradients[i].tensor
        : variableGradients[name];
      if (gradient == null) return;
      const a = self.accumulatedGrads[i].variable;
      const u = self.accumulatedUpdates[i].variable;
      const { rho, epsilon, learningRate } = self;
      tf.tidy(() => {
        const newA = tf.add(
          tf.mul(a, rho),
          tf.mul(tf.square(gradient), 1 - rho),
        );
        const delta = tf.mul(
          tf.div(tf.sqrt(tf.add(u, epsilon)), tf.sqrt(tf.add(newA, epsilon))),
          gradient,
        );
        a.assign(newA);
        u.assign(tf.add(tf.mul(u, rho), tf.mul(tf.square(delta), 1 - rho)));
        value.assign(tf.sub(value, tf.mul(delta, learningRate)));
      });
    });
    this.incrementIterations();
  }

  /** The hyperparameters, for {@linkcode adadeltaUpdate}. */
  get hyper(): AdadeltaHyper {
    const { learningRate, rho, epsilon } = this as unknown as AdadeltaHyper;
    return { learningRate, rho, epsilon };
  }

  /**
   * Copies the accumulators of `variables` (zeros where none exist yet) into
   * flat arrays, in order.
   */
  exportState(variables: readonly tf.Variable[]): FlatAdadeltaState {
    const [accumGrad, accumVar] = readSlots(this, ADADELTA_SLOTS, variables);
    return { accumGrad, accumVar };
  }

  /**
   * Sets the accumulators of `variables` from flat arrays (as
   * {@linkcode adadeltaUpdate} left them) and counts `steps` more
   * iterations, so that saving, resuming and further steps continue the run.
   */
  importState(
    variables: readonly tf.Variable[],
    state: FlatAdadeltaState,
    steps: number,
  ): void {
    writeSlots(this, ADADELTA_SLOTS, variables, [
      state.accumGrad,
      state.accumVar,
    ]);
    for (let s = 0; s < steps; s++) this.incrementIterations();
  }
}

/** Adadelta's slot lists in tfjs's layout: field name and weight suffix. */
const ADADELTA_SLOTS = [
  ["accumulatedGrads", "accum_grad"],
  ["accumulatedUpdates", "accum_var"],
] as const;

/**
 * Copies per-variable slots of a tfjs optimizer (`optimizer[field][i]`, one
 * list per `[field, suffix]` pair, e.g. Adam's `accumulatedFirstMoment`) into
 * one flat array per list, zeros where a slot does not exist yet.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { assertEquals } from "@std/assert";
 * import { readSlots } from "./optimizer.ts";
 * const v = tf.variable(tf.ones([3]));
 * const [m] = readSlots(tf.train.adam(), [["accumulatedFirstMoment", "m"]], [v]);
 * assertEquals(m, new Float32Array(3));
 * ```
 */
export function readSlots(
  optimizer: tf.Optimizer,
  slots: readonly (readonly [string, string])[],
  variables: readonly tf.Variable[],
): Float32Array[] {
  const total = variables.reduce((n, v) => n + v.size, 0);
  return slots.map(([field]) => {
    const list = (optimizer as unknown as Record<string, Slot[]>)[field];
    const flat = new Float32Array(total);
    let offset = 0;
    variables.forEach((v, i) => {
      const slot = list[i]?.variable;
      if (slot) flat.set(slot.dataSync() as Float32Array, offset);
      offset += v.size;
    });
    return flat;
  });
}

/**
 * Sets per-variable slots of a tfjs optimizer from flat arrays, the reverse
 * of {@linkcode readSlots}; slots that do not exist yet are created under
 * tfjs's names (`<variable>/<suffix>`), so that saving writes them.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { assertEquals } from "@std/assert";
 * import { readSlots, writeSlots } from "./optimizer.ts";
 * const v = tf.variable(tf.ones([2]));
 * const adam = tf.train.adam();
 * const slots = [["accumulatedFirstMoment", "m"]] as const;
 * writeSlots(adam, slots, [v], [new Float32Array([1, 2])]);
 * assertEquals(readSlots(adam, slots, [v]), [new Float32Array([1, 2])]);
 * ```
 */
export function writeSlots(
  optimizer: tf.Optimizer,
  slots: readonly (readonly [string, string])[],
  variables: readonly tf.Variable[],
  flats: readonly Float32Array[],
): void {
  slots.forEach(([field, suffix], k) => {
    const list = (optimizer as unknown as Record<string, Slot[]>)[field];
    let offset = 0;
    variables.forEach((v, i) => {
      const value = tf.tensor(
        flats[k].slice(offset, offset + v.size),
        v.shape,
        "float32",
      );
      if (list[i]) list[i].variable.assign(value);
      else {
        list[i] = {
          originalName: `${v.name}/${suffix}`,
          variable: value.variable(false),
        };
      }
      value.dispose();
      offset += v.size;
    });
  });
}

tf.serialization.registerClass(KerasAdadelta);

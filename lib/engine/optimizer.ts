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

/**
 * Keras's Adadelta, a drop-in replacement of tfjs's `AdadeltaOptimizer`.
 *
 * @example
 * ```ts
 * import { KerasAdadelta } from "./optimizer.ts";
 * const optimizer = new KerasAdadelta(1.0, 0.95, 1e-7);
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
}

tf.serialization.registerClass(KerasAdadelta);

/**
 * The optimizers that training can apply on flat arrays outside tfjs (the
 * fast path of {@linkcode parallelRunner}: every thread updates its slice of
 * the weights from every thread's gradients, no tfjs ops): Keras's Adadelta
 * ({@linkcode KerasAdadelta}, the tutorial's), SGD and Adam, each the same rule
 * as the tfjs optimizer computes, in float64 rounded to float32 on store.
 * Any other optimizer is applied by tfjs on the calling thread, about twice
 * as slow a step.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { flatAdadelta, type FlatMemory } from "./flat_memory.ts";
import {
  type AdadeltaHyper,
  adadeltaUpdate,
  KerasAdadelta,
  readSlots,
  writeSlots,
} from "./optimizer.ts";

/** An optimizer's update rule and hyperparameters, as the flat update runs it. */
export type FlatRule =
  | { kind: "adadelta"; hyper: AdadeltaHyper }
  | { kind: "sgd"; learningRate: number }
  | {
    kind: "adam";
    learningRate: number;
    beta1: number;
    beta2: number;
    epsilon: number;
  };

/** The optimizers the flat update supports, for messages. */
export const FLAT_OPTIMIZERS = "Keras's Adadelta, SGD and Adam";

/** tfjs's slot lists of Adam: field name and weight suffix. */
const ADAM_SLOTS = [
  ["accumulatedFirstMoment", "m"],
  ["accumulatedSecondMoment", "v"],
] as const;

/**
 * The flat rule of `optimizer`, or `undefined` when the flat update does not
 * support it (tfjs's own Adadelta, which divides by the stale accumulator,
 * momentum, RMSProp, Adagrad, Adamax, a subclass of any of them).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { assertEquals } from "@std/assert";
 * import { flatRule } from "./flat_update.ts";
 * assertEquals(flatRule(tf.train.sgd(0.1)), { kind: "sgd", learningRate: 0.1 });
 * assertEquals(flatRule(tf.train.rmsprop(0.01)), undefined);
 * ```
 */
export function flatRule(optimizer: tf.Optimizer): FlatRule | undefined {
  // Not `instanceof`: tfjs's Optimizer answers it for any optimizer; and
  // exact classes, since a subclass (momentum is one of SGD's) has its own rule.
  const proto = Object.getPrototypeOf(optimizer);
  if (Object.prototype.isPrototypeOf.call(KerasAdadelta.prototype, optimizer)) {
    return { kind: "adadelta", hyper: (optimizer as KerasAdadelta).hyper };
  }
  if (proto === tf.SGDOptimizer.prototype) {
    const { learningRate } = optimizer as unknown as { learningRate: number };
    return { kind: "sgd", learningRate };
  }
  if (proto === tf.AdamOptimizer.prototype) {
    const { learningRate, beta1, beta2, epsilon } = optimizer as unknown as {
      learningRate: number;
      beta1: number;
      beta2: number;
      epsilon: number;
    };
    return { kind: "adam", learningRate, beta1, beta2, epsilon };
  }
  return undefined;
}

/** Number of flat state arrays (each as long as the weights) of `rule`. */
export function stateArrays(rule: FlatRule): number {
  return rule.kind === "sgd" ? 0 : 2;
}

/**
 * One update of the elements `from .. to` of flat weights by `rule`, from
 * the weighted sum `Σ_t scales[t]·grads[t][i]` of per-thread gradients.
 * `state` holds {@linkcode stateArrays} arrays; `step` is the optimizer's
 * iteration count including this step (Adam's bias correction). With
 * `shared` (the arrays are the views of `shared.flat` that `flatViews`
 * gives), Adadelta runs as its SIMD kernel in float32 (`flatAdadelta`, with
 * `shared.thread`'s tables); otherwise a loop in float64, rounded as
 * stored.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { flatUpdate } from "./flat_update.ts";
 * const w = new Float32Array([1, 1]);
 * const grads = [new Float32Array([1, 2]), new Float32Array([3, 4])];
 * flatUpdate({ kind: "sgd", learningRate: 0.5 }, w, grads, [0.5, 0.5], [], 1, 0, 2);
 * assertEquals(w, new Float32Array([0, -0.5]));
 * ```
 */
export function flatUpdate(
  rule: FlatRule,
  weights: Float32Array,
  grads: readonly Float32Array[],
  scales: readonly number[],
  state: readonly Float32Array[],
  step: number,
  from: number,
  to: number,
  shared?: { flat: FlatMemory; thread: number },
): void {
  if (rule.kind === "adadelta" && shared !== undefined) {
    // The arrays are views of `shared.flat`: its SIMD kernel, in place.
    flatAdadelta(shared.flat, shared.thread, scales, rule.hyper, from, to);
    return;
  }
  if (rule.kind === "adadelta") {
    const [accumGrad, accumVar] = state;
    adadeltaUpdate(
      weights,
      grads,
      scales,
      { accumGrad, accumVar },
      rule.hyper,
      from,
      to,
    );
    return;
  }
  const threads = grads.length;
  const gradient = (i: number) => {
    let g = 0;
    for (let t = 0; t < threads; t++) g += grads[t][i] * scales[t];
    return g;
  };
  if (rule.kind === "sgd") {
    const lr = rule.learningRate;
    for (let i = from; i < to; i++) weights[i] -= lr * gradient(i);
    return;
  }
  const { learningRate, beta1, beta2, epsilon } = rule;
  const [m, v] = state;
  const correct1 = 1 - beta1 ** step, correct2 = 1 - beta2 ** step;
  for (let i = from; i < to; i++) {
    const g = gradient(i);
    const mi = beta1 * m[i] + (1 - beta1) * g;
    const vi = beta2 * v[i] + (1 - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    weights[i] -= learningRate * (mi / correct1) /
      (Math.sqrt(vi / correct2) + epsilon);
  }
}

/**
 * Copies the state of `optimizer` for `variables` into flat arrays (zeros
 * where none exists yet), as {@linkcode flatUpdate} takes it.
 */
export function exportFlatState(
  optimizer: tf.Optimizer,
  rule: FlatRule,
  variables: readonly tf.Variable[],
): Float32Array[] {
  if (rule.kind === "adadelta") {
    const { accumGrad, accumVar } = (optimizer as KerasAdadelta).exportState(
      variables,
    );
    return [accumGrad, accumVar];
  }
  return rule.kind === "adam"
    ? readSlots(optimizer, ADAM_SLOTS, variables)
    : [];
}

/**
 * Sets the state of `optimizer` for `variables` from flat arrays as
 * {@linkcode flatUpdate} left them after `steps` more steps, so that saving,
 * resuming and further steps with tfjs continue the run.
 */
export function importFlatState(
  optimizer: tf.Optimizer,
  rule: FlatRule,
  variables: readonly tf.Variable[],
  state: readonly Float32Array[],
  steps: number,
): void {
  if (rule.kind === "adadelta") {
    const [accumGrad, accumVar] = state;
    (optimizer as KerasAdadelta).importState(
      variables,
      { accumGrad, accumVar },
      steps,
    );
    return;
  }
  if (rule.kind === "adam") writeSlots(optimizer, ADAM_SLOTS, variables, state);
  const counted = optimizer as unknown as { incrementIterations(): void };
  for (let s = 0; s < steps; s++) counted.incrementIterations();
  if (rule.kind === "adam") {
    // tfjs keeps β^(t+1) for the next step's bias correction.
    const adam = optimizer as unknown as {
      accBeta1: tf.Variable;
      accBeta2: tf.Variable;
    };
    const next = optimizer.iterations + 1;
    tf.tidy(() => {
      adam.accBeta1.assign(tf.scalar(rule.beta1 ** next));
      adam.accBeta2.assign(tf.scalar(rule.beta2 ** next));
    });
  }
}

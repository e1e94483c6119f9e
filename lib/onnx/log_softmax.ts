/**
 * ONNX's `LogSoftmax`, a layer TensorFlow.js lacks: `x - logsumexp(x)` along
 * one axis. Registered with tfjs's serialization so a converted model saves
 * and loads in the TF.js Layers format.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/**
 * The log of the softmax along `axis` (default the last).
 *
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import * as tf from "@tensorflow/tfjs";
 * import { LogSoftmax } from "./log_softmax.ts";
 * const y = new LogSoftmax({ axis: -1 }).apply(tf.tensor2d([[1, 2]])) as tf.Tensor;
 * assertAlmostEquals(y.dataSync()[1], Math.log(Math.E ** 2 / (Math.E + Math.E ** 2)), 1e-6);
 * ```
 */
export class LogSoftmax extends tf.layers.Layer {
  /** The class name the TF.js config uses. */
  static className = "LogSoftmax";
  /** The axis the softmax is taken along. */
  readonly axis: number;

  /** Creates the layer (`axis` defaults to -1). */
  constructor(args: { axis?: number; name?: string; trainable?: boolean }) {
    super(args);
    this.axis = args.axis ?? -1;
  }

  /** `x - logsumexp(x, axis)`. */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.tidy(() => tf.sub(x, tf.logSumExp(x, this.axis, true)));
  }

  /** The base config and `axis`. */
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), axis: this.axis };
  }
}

tf.serialization.registerClass(LogSoftmax);

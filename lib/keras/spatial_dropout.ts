/**
 * Keras's `SpatialDropout2D`, which TensorFlow.js lacks: at inference the
 * identity; in training it drops whole channels (`noise_shape` `[batch, 1,
 * 1, channels]`). Registered with tfjs's serialization so Keras models that
 * use it load, predict and export.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** Keras's `SpatialDropout2D` (channels last). */
export class SpatialDropout2D extends tf.layers.Layer {
  /** The class name tfjs and Keras configs use. */
  static className = "SpatialDropout2D";
  /** The fraction of channels dropped in training. */
  readonly rate: number;

  /** Creates the layer from its Keras config (`rate`). */
  constructor(args: { rate: number; name?: string; trainable?: boolean }) {
    super(args);
    this.rate = args.rate;
  }

  /** The identity at inference; whole channels dropped in training. */
  override call(
    inputs: tf.Tensor | tf.Tensor[],
    kwargs: { training?: boolean },
  ): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (!kwargs?.training || this.rate <= 0) return x.clone();
    const [n, , , c] = x.shape;
    return tf.dropout(x, this.rate, [n, 1, 1, c]);
  }

  /** The config Keras writes: the base layer's and `rate`. */
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate };
  }
}

tf.serialization.registerClass(SpatialDropout2D);

import {
  assertAlmostEquals,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import * as tf from "@tensorflow/tfjs";
import {
  buildModel,
  type BuildModelOptions,
  formatSummary,
  initBackend,
  UsageError,
} from "../lib/mod.ts";
import { summaryRows } from "../lib/model.ts";

await initBackend();

Deno.test("buildModel: exactly Keras's mnist_cnn.py architecture, 1,199,882 parameters", () => {
  const model = buildModel({ seed: 1 });
  assertEquals(model.countParams(), 1_199_882);
  assertEquals(summaryRows(model), [
    {
      layer: "conv2d",
      type: "Conv2D",
      outputShape: "(None, 26, 26, 32)",
      params: 320,
    },
    {
      layer: "conv2d_1",
      type: "Conv2D",
      outputShape: "(None, 24, 24, 64)",
      params: 18_496,
    },
    {
      layer: "max_pooling2d",
      type: "MaxPooling2D",
      outputShape: "(None, 12, 12, 64)",
      params: 0,
    },
    {
      layer: "dropout",
      type: "Dropout",
      outputShape: "(None, 12, 12, 64)",
      params: 0,
    },
    {
      layer: "flatten",
      type: "Flatten",
      outputShape: "(None, 9216)",
      params: 0,
    },
    {
      layer: "dense",
      type: "Dense",
      outputShape: "(None, 128)",
      params: 1_179_776,
    },
    {
      layer: "dropout_1",
      type: "Dropout",
      outputShape: "(None, 128)",
      params: 0,
    },
    {
      layer: "dense_1",
      type: "Dense",
      outputShape: "(None, 10)",
      params: 1_290,
    },
  ]);
  const configs = model.layers.map((l) => l.getConfig());
  assertEquals(configs[0].activation, "relu");
  assertEquals(configs[1].kernelSize, [3, 3]);
  assertEquals(configs[2].poolSize, [2, 2]);
  assertEquals([configs[3].rate, configs[6].rate], [0.25, 0.5]);
  assertEquals(configs[7].activation, "softmax");
  const optimizer = model.optimizer.getConfig();
  assertEquals(model.optimizer.getClassName(), "Adadelta");
  assertEquals(optimizer, { learningRate: 1, rho: 0.95, epsilon: 1e-7 });
  assertEquals(model.loss, "categoricalCrossentropy");
});

Deno.test("buildModel: Glorot-uniform kernels within ±sqrt(6/(fan_in+fan_out)), zero biases", () => {
  const model = buildModel({ seed: 7 });
  for (const layer of model.layers) {
    const [kernel, bias] = layer.getWeights();
    if (!kernel) continue;
    const shape = kernel.shape;
    const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
    const limit = Math.sqrt(6 / (receptive * (shape.at(-2)! + shape.at(-1)!)));
    const values = Array.from(kernel.dataSync() as Float32Array);
    const max = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) /
      values.length;
    assertEquals(max <= limit, true, `${layer.name}: ${max} > ${limit}`);
    // Uniform on [-l, l] has variance l²/3; Glorot-normal would be truncated.
    assertAlmostEquals(
      variance,
      (limit * limit) / 3,
      (limit * limit) / 3 * 0.15,
    );
    assertEquals(Array.from(bias.dataSync()).every((b) => b === 0), true);
  }
});

Deno.test("buildModel: the same seed gives the same initial weights, another seed others", () => {
  const weights = (seed: number) =>
    buildModel({ seed }).getWeights().map((w) => Array.from(w.dataSync()));
  assertEquals(weights(3), weights(3));
  assertEquals(weights(3)[0].join() === weights(4)[0].join(), false);
});

Deno.test("formatSummary: Keras-style summary with layer rows and totals", () => {
  const text = formatSummary(buildModel());
  assertStringIncludes(text, "Layer (type)");
  assertStringIncludes(
    text,
    "conv2d_1 (Conv2D)            (None, 24, 24, 64)        18,496",
  );
  assertStringIncludes(text, "Total params: 1,199,882");
  assertStringIncludes(text, "Trainable params: 1,199,882");
  assertStringIncludes(text, "Non-trainable params: 0");
});

Deno.test("the model runs on the wasm backend", () => {
  assertEquals(tf.getBackend(), "wasm");
  const model = buildModel({ seed: 1 });
  const out = tf.tidy(() =>
    model.predict(tf.zeros([2, 28, 28, 1])) as tf.Tensor
  );
  assertEquals(out.shape, [2, 10]);
  assertAlmostEquals(out.sum().dataSync()[0], 2, 1e-5);
  out.dispose();
});

Deno.test("buildModel({ optimizer }): names with Keras's defaults, any tfjs optimizer, a usage error for an unknown name", () => {
  const config = (optimizer?: BuildModelOptions["optimizer"]) =>
    buildModel({ seed: 1, optimizer }).optimizer.getConfig();
  assertEquals(config(), { learningRate: 1, rho: 0.95, epsilon: 1e-7 });
  assertEquals(config("adam"), {
    learningRate: 0.001,
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 1e-7,
  });
  assertEquals(config("sgd"), { learningRate: 0.01 });
  assertEquals(config(tf.train.sgd(0.5)), { learningRate: 0.5 });
  assertThrows(
    () => buildModel({ optimizer: "adamw" as "adam" }),
    UsageError,
    'unknown optimizer "adamw"',
  );
});

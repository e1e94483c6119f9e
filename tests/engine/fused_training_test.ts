/**
 * `applyTraining`: the training forward pass with each Conv2D, bias and ReLU
 * as one op gives `model.apply`'s gradients (and the stock `cpu` backend's),
 * and its tape holds less memory at its peak: two conv outputs per layer;
 * the first two layers' forward and gradient kernels (`FIRST_CONVS_CODES`,
 * `FIRST_CONVS_BACKPROP`, conv1's output never stored) give the separate
 * kernels' results bit for bit.
 *
 * Run: `deno test --allow-read --allow-env tests/engine/fused_training_test.ts`
 */
import { assert, assertEquals } from "@std/assert";
import * as tf from "@tensorflow/tfjs";
import { buildModel } from "../../lib/model.ts";
import { gatherBatch } from "../../lib/data.ts";
import { setDropoutKeys } from "../../lib/engine/dropout.ts";
import {
  applyTraining,
  CONV_BIAS_RELU,
  CONV_POOL_BACKPROP,
  CONV_POOL_CODES,
  FIRST_CONVS_BACKPROP,
  FIRST_CONVS_CODES,
} from "../../lib/engine/fused_training.ts";
import { initBackend } from "../../lib/backend.ts";
import { RELU_FILTER_GRAD } from "../../lib/kernels/mod.ts";
import { onCpu, realMnist } from "../helpers.ts";

type Forward = (model: tf.LayersModel, xs: tf.Tensor) => tf.Tensor;
const stock: Forward = (model, xs) =>
  model.apply(xs, { training: true }) as tf.Tensor;

/** The gradients of the batch's mean cross-entropy, and the tape's peak bytes. */
async function gradients(
  model: tf.LayersModel,
  xs: tf.Tensor,
  ys: tf.Tensor,
  forward: Forward,
): Promise<{ grads: Float32Array[]; peakBytes: number }> {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  let grads: Float32Array[] = [];
  const info = await tf.profile(() => {
    const { value, grads: g } = tf.variableGrads(
      () =>
        tf.mean(
          tf.metrics.categoricalCrossentropy(ys, forward(model, xs)),
        ) as tf.Scalar,
      vars,
    );
    grads = vars.map((v) => g[v.name].dataSync() as Float32Array);
    tf.dispose([value, ...Object.values(g)]);
  });
  return { grads, peakBytes: info.peakBytes };
}

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let worst = 0;
  a.forEach((g, i) =>
    g.forEach((v, j) => worst = Math.max(worst, Math.abs(v - b[i][j])))
  );
  return worst;
}

function maxAbs(a: Float32Array[]): number {
  return Math.max(
    ...a.map((g) => g.reduce((m, v) => Math.max(m, Math.abs(v)), 0)),
  );
}

Deno.test("applyTraining: the tutorial CNN's gradients on real MNIST, as model.apply's on wasm and the cpu backend's, with two conv outputs less at the tape's peak", async () => {
  const mnist = await realMnist();
  const model = buildModel({ seed: 4 });
  const ids = Array.from({ length: 8 }, (_, i) => 11 * i);
  const { xs, ys } = gatherBatch(mnist.train, ids);
  setDropoutKeys(model, { seed: 4, epoch: 0, ids });
  // Training mode (the dropout masks keyed as in a real step): the same
  // kernels in the same order, so the same gradients to rounding.
  const fused = await gradients(model, xs, ys, applyTraining);
  const wasm = await gradients(model, xs, ys, stock);
  const scale = maxAbs(wasm.grads);
  assert(scale > 0);
  assert(maxDiff(fused.grads, wasm.grads) <= 1e-6 * scale);
  // Per sample, float32: conv2d's output 26·26·32 and conv2d_1's 24·24·64,
  // each no longer kept twice more (as the convolution's and the sum's
  // output) on the tape.
  const saved = 2 * 8 * 4 * (26 * 26 * 32 + 24 * 24 * 64);
  assert(
    wasm.peakBytes - fused.peakBytes >= 0.9 * saved,
    `peak bytes: stock ${wasm.peakBytes}, fused ${fused.peakBytes}`,
  );
  // Dropout off (its masks are the wasm engine's own), against the stock
  // cpu backend's plain convolutions: to 1e-4 of the largest gradient. With
  // the initial zero biases a blank patch's pre-activation is exactly 0 on
  // cpu but a rounding residue (±1e-7) of the Winograd transforms on wasm,
  // and the ReLU's gradient there (0 or 1) would decide the bias's
  // gradient: so the biases are moved off zero first.
  for (const layer of model.layers) {
    const w = layer.getWeights();
    if (w.length === 2) {
      const bias = tf.fill(w[1].shape, 0.05);
      layer.setWeights([w[0], bias]);
      bias.dispose();
    }
  }
  const inference: Forward = (m, x) => applyTraining(m, x, { training: false });
  const ours = await gradients(model, xs, ys, inference);
  const cpu = await onCpu(() =>
    gradients(
      model,
      xs,
      ys,
      (m, x) => m.apply(x, { training: false }) as tf.Tensor,
    )
  );
  assertEquals(ours.grads.map((g) => g.length), cpu.grads.map((g) => g.length));
  assert(maxDiff(ours.grads, cpu.grads) <= 1e-4 * maxAbs(cpu.grads));
  tf.dispose([xs, ys]);
  model.dispose();
});

Deno.test("applyTraining: a branching model and convolutions it cannot fuse get model.apply's gradients", async () => {
  await realMnist();
  const xs = tf.randomUniform([4, 10, 10, 2], 0, 1, "float32", 3);
  const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 1], "int32"), 3);
  const input = tf.input({ shape: [10, 10, 2] });
  const same = tf.layers.conv2d({
    filters: 4,
    kernelSize: 3,
    padding: "same",
    activation: "relu",
  });
  const strided = tf.layers.conv2d({
    filters: 4,
    kernelSize: 3,
    strides: 2,
    activation: "relu",
  });
  const sigmoid = tf.layers.conv2d({
    filters: 4,
    kernelSize: 3,
    activation: "sigmoid",
  });
  const head = tf.layers.dense({ units: 3, activation: "softmax" });
  const chain = tf.sequential({
    layers: [
      tf.layers.inputLayer({ inputShape: [10, 10, 2] }),
      same,
      sigmoid,
      tf.layers.conv2d({ filters: 4, kernelSize: 3, activation: "relu" }),
      tf.layers.flatten(),
      head,
    ],
  });
  const a = same.apply(input) as tf.SymbolicTensor;
  const b = strided.apply(input) as tf.SymbolicTensor;
  const merged = tf.layers.concatenate().apply([
    tf.layers.flatten().apply(a) as tf.SymbolicTensor,
    tf.layers.flatten().apply(b) as tf.SymbolicTensor,
  ]) as tf.SymbolicTensor;
  const branching = tf.model({
    inputs: input,
    outputs: tf.layers.dense({ units: 3, activation: "softmax" })
      .apply(merged) as tf.SymbolicTensor,
  });
  for (const model of [chain, branching]) {
    const fused = await gradients(model, xs, ys, applyTraining);
    const plain = await gradients(model, xs, ys, stock);
    assert(maxAbs(plain.grads) > 0);
    assert(maxDiff(fused.grads, plain.grads) <= 1e-6 * maxAbs(plain.grads));
  }
  tf.dispose([xs, ys]);
  chain.dispose();
  branching.dispose();
});

Deno.test("applyTraining: with a convolution's filter frozen, the gradient pass that computes both of its gradients leaves no tensor behind", async () => {
  const mnist = await realMnist();
  const model = buildModel({ seed: 5 });
  // conv2d_1 (32 → 64 channels): its input's gradient is needed (conv2d
  // below trains), its filter's is not, but the one pass computes both.
  model.layers[1].trainable = false;
  const ids = Array.from({ length: 4 }, (_, i) => 7 * i);
  const { xs, ys } = gatherBatch(mnist.train, ids);
  setDropoutKeys(model, { seed: 5, epoch: 0, ids });
  const counts: number[] = [];
  for (let step = 0; step < 3; step++) {
    const { grads } = await gradients(model, xs, ys, applyTraining);
    assertEquals(grads.length, model.trainableWeights.length);
    counts.push(tf.memory().numTensors);
  }
  assertEquals(counts[2], counts[1], `tensors after each pass: ${counts}`);
  tf.dispose([xs, ys]);
  model.dispose();
});

Deno.test("applyTraining: a gradient pass makes no tensor from JS values beyond its batch (no zeros for the pool op's unused ReLU output: 4.7 M floats a step at batch 128)", async () => {
  const mnist = await realMnist();
  const model = buildModel({ seed: 6 });
  const ids = Array.from({ length: 8 }, (_, i) => 11 * i);
  const { xs, ys } = gatherBatch(mnist.train, ids);
  setDropoutKeys(model, { seed: 6, epoch: 0, ids });
  const engine = tf.engine();
  const made: number[] = [];
  const original = engine.makeTensor;
  engine.makeTensor = function (values, shape, dtype, backend) {
    made.push(shape.reduce((a, b) => a * b, 1));
    return original.call(this, values, shape, dtype, backend);
  };
  try {
    const { grads } = await gradients(model, xs, ys, applyTraining);
    assertEquals(grads.length, model.trainableWeights.length);
  } finally {
    engine.makeTensor = original;
  }
  // The pass made tensors from values (scalars, for one), none as large as
  // the batch's 8 × 28 × 28 pixels, let alone conv2's 8 × 24 × 24 × 64.
  assert(made.length > 0);
  assert(Math.max(...made) < xs.size, `largest made: ${Math.max(...made)}`);
  tf.dispose([xs, ys]);
  model.dispose();
});

Deno.test("applyTraining: the first two layers' forward pass and gradients, each in one kernel, the separate kernels' results bit for bit", async () => {
  await initBackend();
  // Registers the ops' kernels.
  tf.dispose(applyTraining(buildModel({ seed: 1 }), tf.zeros([1, 28, 28, 1])));
  const engine = tf.engine();
  const run = (name: string, inputs: tf.NamedTensorMap, attrs: object) =>
    engine.runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor[];
  // The tutorial's two layers (7 images: conv1's output 6 images at a time
  // forward, 3 backward, dx in one chunk's buffer), and padded ones with
  // dropout's mask (chunks end inside an image: dx whole, conv1's images at
  // chunk edges computed twice).
  const cases = [
    { x: [7, 28, 28, 1], f1: [3, 3, 1, 32], f2: [3, 3, 32, 64], pad: "valid" },
    { x: [7, 14, 14, 1], f1: [3, 3, 1, 8], f2: [3, 3, 8, 16], pad: "same" },
  ] as const;
  for (const [i, c] of cases.entries()) {
    const pad = c.pad, what = `x ${c.x}, ${pad}`;
    const before = tf.engine().backend.numDataIds();
    const t = (shape: readonly number[], seed: number, scale = 1) =>
      tf.tidy(() =>
        tf.mul(
          tf.randomUniform([...shape], -1, 1, "float32", 10 * i + seed),
          scale,
        )
      );
    const x = tf.tidy(() => tf.relu(t(c.x, 1))), filter1 = t(c.f1, 2, 0.5);
    const bias1 = t([c.f1[3]], 3, 0.1), filter2 = t(c.f2, 4, 0.2);
    const bias2 = t([c.f2[3]], 5, 0.1);
    const [n, h, w] = c.x, p = pad === "same" ? 2 : 0;
    const pooled = [
      n,
      (h + p - 2 + p - 2) >> 1,
      (w + p - 2 + p - 2) >> 1,
      c.f2[3],
    ];
    const masked: tf.NamedTensorMap = i === 1
      ? {
        mask: tf.tidy(() =>
          tf.mul(tf.cast(tf.greater(t(pooled, 7), 0), "float32"), 2)
        ),
      }
      : {};
    const attrs = { pad1: pad, pad2: pad };
    const fused = run(FIRST_CONVS_CODES, {
      x,
      filter1,
      bias1,
      filter2,
      bias2,
      ...masked,
    }, attrs);
    const y = engine.runKernel(CONV_BIAS_RELU, {
      x,
      filter: filter1,
      bias: bias1,
    }, { pad }) as tf.Tensor;
    const two = run(CONV_POOL_CODES, {
      x: y,
      filter: filter2,
      bias: bias2,
      ...masked,
    }, { pad });
    fused.forEach((f, k) =>
      assertEquals(f.dataSync(), two[k].dataSync(), `${what}: output ${k}`)
    );
    const dy = t(two[0].shape, 6), codes = two[1];
    const grads = run(FIRST_CONVS_BACKPROP, {
      x,
      filter1,
      bias1,
      dy,
      codes,
      filter2,
      ...masked,
    }, attrs);
    const second = run(CONV_POOL_BACKPROP, {
      x: y,
      dy,
      codes,
      filter: filter2,
      ...masked,
    }, { pad });
    const first = run(RELU_FILTER_GRAD, { x, dy: second[0], y }, {
      pad,
      filterShape: c.f1,
    });
    [...first, second[1], second[2]].forEach((g, k) =>
      assertEquals(grads[k].dataSync(), g.dataSync(), `${what}: gradient ${k}`)
    );
    tf.dispose([
      x,
      filter1,
      bias1,
      filter2,
      bias2,
      ...Object.values(masked),
      y,
      ...fused,
      ...two,
      dy,
      ...grads,
      ...second,
      ...first,
    ]);
    assertEquals(
      tf.engine().backend.numDataIds(),
      before,
      `${what}: intermediates freed`,
    );
  }
});

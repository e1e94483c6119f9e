/**
 * The pooled output transform (`winogradConv3x3(..., { pool: true })`),
 * the `MnistCnnConv2DReluPool` kernel, `MnistCnnFirstConvsPool` (a layer
 * before it, conv1's output never stored) and the inference pass that runs
 * them (`predictBatch` of `lib/engine/forward.ts`): bit for bit what the
 * convolutions, then `MaxPool`, give on wasm, and within the usual 1e-4 of
 * the `cpu` backend.
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { assert, assertEquals } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { buildModel } from "../../lib/model.ts";
import { predictBatch } from "../../lib/engine/forward.ts";
import { CONV_RELU_POOL, FIRST_CONVS_POOL } from "../../lib/kernels/conv2d.ts";
import {
  type Pads,
  winogradConv3x3,
  type WinogradOptions,
} from "../../lib/kernels/winograd.ts";
import { relaxedSimdSupported } from "../../lib/kernels/simd/simd.ts";
import { assertClose, onCpu, values } from "../helpers.ts";

await initBackend();

const VARIANTS: WinogradOptions[] = [
  { tile: 2, fma: false },
  { tile: 4, fma: false },
  ...(relaxedSimdSupported()
    ? [{ tile: 2, fma: true }, { tile: 4, fma: true }] as const
    : []),
];

const info = (t: tf.Tensor): tf.TensorInfo => ({
  dataId: t.dataId,
  shape: t.shape,
  dtype: t.dtype,
});

/** Reads and frees a kernel's output. */
function take(out: tf.TensorInfo): { shape: number[]; data: Float32Array } {
  const backend = tf.backend() as BackendWasm;
  const data = new Float32Array(backend.typedArrayFromHeap(out));
  backend.disposeData(out.dataId);
  return { shape: out.shape, data };
}

/** Winograd with bias (and ReLU), then the wasm `MaxPool`, and pooled. */
function bothWays(
  x: tf.Tensor,
  f: tf.Tensor,
  b: tf.Tensor,
  pads: Pads,
  options: WinogradOptions,
) {
  const backend = tf.backend() as BackendWasm;
  const y = winogradConv3x3(backend, info(x), info(f), pads, {
    ...options,
    bias: info(b),
  });
  const yt = tf.engine().makeTensorFromDataId(y.dataId, y.shape, "float32");
  const pooled = tf.maxPool(yt as tf.Tensor4D, 2, 2, "valid");
  const expected = { shape: pooled.shape, data: pooled.dataSync() };
  tf.dispose([yt, pooled]);
  const before = backend.numDataIds();
  const actual = take(
    winogradConv3x3(backend, info(x), info(f), pads, {
      ...options,
      bias: info(b),
      pool: true,
    }),
  );
  assertEquals(backend.numDataIds(), before, "intermediates freed");
  return { actual, expected };
}

const P0: Pads = { top: 0, bottom: 0, left: 0, right: 0 };
const P1: Pads = { top: 1, bottom: 1, left: 1, right: 1 };

Deno.test("winograd pool: the same bits as the convolution then MaxPool", () => {
  const shapes: [number[], number, Pads][] = [
    [[2, 26, 26, 32], 64, P0], // conv2's: 6×6 whole F(4×4) tiles
    [[1, 7, 9, 5], 6, P0], // odd 5×7 output, channels not in fours
    [[2, 8, 7, 16], 3, P1],
    [[1, 4, 4, 3], 1, P0], // 2×2 output, one window
    [[1, 6, 5, 4], 8, { top: 0, bottom: 1, left: 1, right: 0 }],
  ];
  for (const [xShape, cout, pads] of shapes) {
    const x = tf.tensor(
      values(tf.util.sizeFromShape(xShape), xShape[1] * 7 + cout),
      xShape,
    );
    const f = tf.tensor(
      values(9 * xShape[3] * cout, cout * 3 + 1),
      [3, 3, xShape[3], cout],
    );
    const b = tf.tensor1d(values(cout, 5));
    for (const variant of VARIANTS) {
      for (const relu of [true, false]) {
        const { actual, expected } = bothWays(x, f, b, pads, {
          ...variant,
          relu,
        });
        const what = `x ${xShape} cout ${cout} ${JSON.stringify(variant)} ` +
          `relu ${relu}`;
        assertEquals(actual.shape, expected.shape, what);
        assertEquals(actual.data, expected.data, what);
      }
    }
    tf.dispose([x, f, b]);
  }
});

function pooledOnCpu(
  x: tf.Tensor,
  f: tf.Tensor,
  b: tf.Tensor,
  pad: "valid" | "same",
) {
  const [xv, fv, bv] = [x.dataSync(), f.dataSync(), b.dataSync()];
  return onCpu(() =>
    tf.tidy(() => {
      const y = tf.fused.conv2d({
        x: tf.tensor4d(xv, x.shape as [number, number, number, number]),
        filter: tf.tensor4d(fv, f.shape as [number, number, number, number]),
        bias: tf.tensor1d(bv),
        strides: 1,
        pad,
        activation: "relu",
      });
      const z = tf.maxPool(y, 2, 2, "valid");
      return { shape: z.shape, data: z.dataSync() as Float32Array };
    })
  );
}

Deno.test(`${CONV_RELU_POOL}: Winograd and stock cases match the cpu backend`, async () => {
  const cases: [number[], number[], "valid" | "same"][] = [
    [[3, 26, 26, 32], [3, 3, 32, 64], "valid"], // Winograd, pooled inside
    [[2, 9, 7, 16], [3, 3, 16, 20], "same"],
    [[2, 28, 28, 1], [3, 3, 1, 32], "valid"], // conv1: FusedConv2D, MaxPool
    [[1, 8, 8, 4], [5, 5, 4, 8], "same"],
  ];
  const backend = tf.backend() as BackendWasm;
  for (const [xShape, fShape, pad] of cases) {
    const x = tf.tensor(values(tf.util.sizeFromShape(xShape), 11), xShape);
    const f = tf.tensor(values(tf.util.sizeFromShape(fShape), 12), fShape);
    const b = tf.tensor1d(values(fShape[3], 13));
    const expected = await pooledOnCpu(x, f, b, pad);
    const before = backend.numDataIds();
    const z = tf.engine().runKernel(CONV_RELU_POOL, { x, filter: f, bias: b }, {
      pad,
    }) as tf.Tensor;
    const actual = { shape: z.shape, data: z.dataSync() as Float32Array };
    const unfused = tf.tidy(() =>
      tf.maxPool(
        tf.fused.conv2d({
          x: x as tf.Tensor4D,
          filter: f as tf.Tensor4D,
          bias: b,
          strides: 1,
          pad,
          activation: "relu",
        }),
        2,
        2,
        "valid",
      )
    );
    const what = `x ${xShape} filter ${fShape} ${pad}`;
    assertEquals(actual.data, unfused.dataSync(), what);
    assertClose(actual, expected, what);
    tf.dispose([z, unfused]);
    assertEquals(backend.numDataIds(), before, "intermediates freed");
    tf.dispose([x, f, b]);
  }
});

Deno.test(`${FIRST_CONVS_POOL}: the two layers' kernels bit for bit, conv1 direct or not`, () => {
  // [x, filter1, filter2, pad1, pad2]: conv1's output a few images at a time
  // (the tutorial's, 13 images: chunks of 6; padded ones), and cases that
  // fall back to the two kernels (conv1 of 3 channels; conv2 direct).
  const cases: [number[], number[], number[], string, string][] = [
    [[13, 28, 28, 1], [3, 3, 1, 32], [3, 3, 32, 64], "valid", "valid"],
    [[3, 11, 9, 1], [3, 3, 1, 16], [3, 3, 16, 24], "same", "valid"],
    [[2, 10, 10, 3], [3, 3, 3, 16], [3, 3, 16, 16], "valid", "same"],
    [[2, 10, 10, 1], [3, 3, 1, 8], [3, 3, 8, 1], "valid", "valid"],
  ];
  const backend = tf.backend() as BackendWasm;
  for (const [i, [xShape, f1Shape, f2Shape, pad1, pad2]] of cases.entries()) {
    const t = (shape: number[], seed: number) =>
      tf.tensor(values(tf.util.sizeFromShape(shape), 10 * i + seed), shape);
    const x = t(xShape, 1), filter1 = t(f1Shape, 2), filter2 = t(f2Shape, 3);
    const bias1 = t([f1Shape[3]], 4), bias2 = t([f2Shape[3]], 5);
    const before = backend.numDataIds();
    const z = tf.engine().runKernel(FIRST_CONVS_POOL, {
      x,
      filter1,
      bias1,
      filter2,
      bias2,
    }, { pad1, pad2 }) as tf.Tensor;
    const two = tf.tidy(() => {
      const y = tf.fused.conv2d({
        x: x as tf.Tensor4D,
        filter: filter1 as tf.Tensor4D,
        bias: bias1,
        strides: 1,
        pad: pad1 as "valid" | "same",
        activation: "relu",
      });
      return tf.engine().runKernel(CONV_RELU_POOL, {
        x: y,
        filter: filter2,
        bias: bias2,
      }, { pad: pad2 }) as tf.Tensor;
    });
    const what = `x ${xShape}, ${f1Shape} ${pad1}, ${f2Shape} ${pad2}`;
    assertEquals(z.shape, two.shape, what);
    assertEquals(z.dataSync(), two.dataSync(), what);
    tf.dispose([z, two]);
    assertEquals(backend.numDataIds(), before, `${what}: intermediates freed`);
    tf.dispose([x, filter1, filter2, bias1, bias2]);
  }
});

Deno.test("predictBatch: the tutorial model's output bit for bit", () => {
  const model = buildModel({ seed: 3 });
  const xs = tf.randomUniform([5, 28, 28, 1], 0, 1, "float32", 4);
  const ours = predictBatch(model, xs);
  const theirs = model.predict(xs) as tf.Tensor;
  assertEquals(ours.shape, [5, 10]);
  assertEquals(ours.dataSync(), theirs.dataSync());
  const sum = tf.sum(ours).dataSync()[0];
  assert(Math.abs(sum - 5) < 1e-4);
  tf.dispose([xs, ours, theirs]);
  model.dispose();
});

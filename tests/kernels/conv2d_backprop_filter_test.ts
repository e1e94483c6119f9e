/**
 * The first layer's fused backward kernel (`RELU_FILTER_GRAD`): ReLU's
 * gradient, the filter's and the bias's in one pass. Checked bit for bit
 * against the three kernels it replaces on wasm (ReLU's gradient, the
 * direct `Conv2DBackpropFilter`, `Sum`), against the cpu backend's
 * gradients, and for the error it gives where it does not apply.
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertThrows } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import {
  canReluFilterGrad,
  RELU_FILTER_GRAD,
  RELU_GRAD,
} from "../../lib/kernels/mod.ts";
import { assertClose, onCpu, values } from "../helpers.ts";

await initBackend();

type Case = [number[], number[], "valid" | "same"];

const CASES: Case[] = [
  [[3, 28, 28, 1], [3, 3, 1, 32], "valid"], // conv1
  [[2, 9, 7, 3], [3, 3, 3, 8], "same"],
  [[1, 6, 5, 1], [2, 3, 1, 12], "valid"],
  [[2, 30, 31, 2], [3, 3, 2, 16], "valid"], // strips of 8 rows and one of 4
  [[1, 5, 6, 1], [3, 3, 1, 8], "valid"], // one strip, the whole image
];

/** x, dy and y (a ReLU's output: zeros, and NaN at two points) of a case. */
function inputs([xShape, fShape, pad]: Case, seed: number) {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    fShape as [number, number, number, number],
    1,
    1,
    pad,
  );
  const size = tf.util.sizeFromShape(info.outShape);
  const y = values(size, seed + 2).map((v) => Math.max(v, 0));
  y[5] = NaN;
  y[size - 3] = NaN;
  return {
    x: values(tf.util.sizeFromShape(xShape), seed),
    dy: values(size, seed + 1),
    y,
    outShape: info.outShape as number[],
  };
}

Deno.test("ReLU, filter and bias gradients in one pass: the three kernels' results (bit for bit but the bias's rounding)", () => {
  for (const [i, c] of CASES.entries()) {
    const [xShape, fShape, pad] = c;
    assert(canReluFilterGrad(xShape, fShape, pad), `${c}`);
    const v = inputs(c, 10 * i);
    const [ours, theirs] = tf.tidy(() => {
      const x = tf.tensor(v.x, xShape), dy = tf.tensor(v.dy, v.outShape);
      const y = tf.tensor(v.y, v.outShape);
      const engine = tf.engine();
      const fused = engine.runKernel(RELU_FILTER_GRAD, { x, dy, y }, {
        pad,
        filterShape: fShape,
      }) as tf.Tensor[];
      const dz = engine.runKernel(RELU_GRAD, { dy, x: y }) as tf.Tensor;
      const df = engine.runKernel("Conv2DBackpropFilter", { x, dy: dz }, {
        strides: [1, 1],
        pad,
        dataFormat: "NHWC",
        dilations: [1, 1],
        filterShape: fShape,
      }) as tf.Tensor;
      return [fused, [df, tf.sum(dz, [0, 1, 2])]].map((ts) =>
        ts.map((t) => Array.from(t.dataSync()))
      );
    });
    assertEquals(ours[0], theirs[0], `filter gradient, ${c}`);
    const [, oh, ow] = v.outShape;
    if ((oh * ow) % 4 === 0) {
      // Sum's float64 sums take rows in fours; so do an image's here.
      assertEquals(ours[1], theirs[1], `bias gradient, ${c}`);
    } else {
      ours[1].forEach((b, k) =>
        assert(
          Object.is(b, theirs[1][k]) ||
            Math.abs(b - theirs[1][k]) <= 1e-6 * Math.abs(theirs[1][k]),
          `bias gradient ${k}, ${c}: ${b} vs ${theirs[1][k]}`,
        )
      );
    }
  }
});

Deno.test("ReLU, filter and bias gradients in one pass: the cpu backend's gradients", async () => {
  const c = CASES[1];
  const [xShape, fShape, pad] = c;
  const v = inputs(c, 7);
  v.y[5] = v.y[v.y.length - 3] = 0; // the cpu's Step differs only on NaN
  const ours = tf.tidy(() =>
    (tf.engine().runKernel(RELU_FILTER_GRAD, {
      x: tf.tensor(v.x, xShape),
      dy: tf.tensor(v.dy, v.outShape),
      y: tf.tensor(v.y, v.outShape),
    }, { pad, filterShape: fShape }) as tf.Tensor[]).map((t) => ({
      shape: t.shape,
      data: t.dataSync() as Float32Array,
    }))
  );
  const expected = await onCpu(() =>
    tf.tidy(() => {
      const x = tf.tensor4d(v.x, xShape as [number, number, number, number]);
      const dz = tf.mul(
        tf.tensor(v.dy, v.outShape),
        tf.step(tf.tensor(v.y, v.outShape)),
      );
      const f0 = tf.tensor(values(tf.util.sizeFromShape(fShape), 3), fShape);
      const df = tf.grad((f) =>
        tf.sum(tf.mul(tf.conv2d(x, f as tf.Tensor4D, 1, pad), dz))
      )(f0);
      return [df, tf.sum(dz, [0, 1, 2])].map((t) => ({
        shape: t.shape,
        data: t.dataSync() as Float32Array,
      }));
    })
  );
  assertClose(ours[0], expected[0], "filter gradient");
  assertClose(ours[1], expected[1], "bias gradient");
});

Deno.test("ReLU, filter and bias gradients in one pass: a clear error where it does not apply", () => {
  assert(!canReluFilterGrad([2, 26, 26, 32], [3, 3, 32, 64], "valid"));
  tf.tidy(() => {
    const x = tf.zeros([2, 10, 10, 32]), dy = tf.zeros([2, 8, 8, 64]);
    assertThrows(
      () =>
        tf.engine().runKernel(RELU_FILTER_GRAD, { x, dy, y: dy }, {
          pad: "valid",
          filterShape: [3, 3, 32, 64],
        }),
      RangeError,
      "MnistCnnReluFilterGrad: unsupported x 2,10,10,32",
    );
  });
});

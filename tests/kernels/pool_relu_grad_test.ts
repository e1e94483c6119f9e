/**
 * `MnistCnnPoolReluGrad` (`lib/kernels/pool_relu_grad.ts`): the gradient of
 * ReLU then a tiling 2×2 max pool, with the bias's sums, in one pass. Its
 * `dz` must equal the stock route (`MaxPoolGrad`, then ReLU's gradient) bit
 * for bit, ties, zeros, negative values and NaN included, and its bias
 * gradient `Sum(dz)` over N, H, W to float rounding; anything else is
 * refused.
 *
 * Run: `deno test --allow-read --allow-env tests/kernels/pool_relu_grad_test.ts`
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals, assertThrows } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import {
  canPoolReluGrad,
  POOL_RELU_GRAD,
  RELU_GRAD,
} from "../../lib/kernels/mod.ts";
import { values } from "../helpers.ts";

await initBackend();

/** y: ReLU outputs with exact ties, zeros and (optionally) a NaN. */
function activation(shape: number[], seed: number, nan: boolean): tf.Tensor {
  const data = values(tf.util.sizeFromShape(shape), seed).map((v) =>
    // Coarse values make ties common; negatives become the ReLU's zeros.
    Math.max(0, Math.round(v * 4) / 4)
  );
  if (nan) data[5] = NaN;
  return tf.tensor(data, shape);
}

for (
  const [shape, nan] of [
    [[2, 24, 24, 64], false],
    [[3, 6, 4, 8], true],
    [[1, 2, 2, 4], false],
  ] as [number[], boolean][]
) {
  Deno.test(`${POOL_RELU_GRAD}: ${shape}${nan ? " with a NaN" : ""} equals MaxPoolGrad then ReLU's gradient`, () => {
    const engine = tf.engine();
    const y = activation(shape, shape[3], nan);
    const pooled = tf.maxPool(y as tf.Tensor4D, 2, 2, "valid");
    const dy = tf.tensor(
      values(pooled.size, 7).map((v, i) => i % 11 === 0 ? -0 : v),
      pooled.shape,
    );
    const stock = engine.runKernel("MaxPoolGrad", {
      dy,
      input: y,
      output: pooled,
    }, { filterSize: 2, strides: 2, pad: "valid" }) as tf.Tensor;
    const expected = engine.runKernel(RELU_GRAD, {
      dy: stock,
      x: y,
    }) as tf.Tensor;
    const [dz, db] = engine.runKernel(POOL_RELU_GRAD, { dy, y }) as tf.Tensor[];
    assertEquals(dz.shape, y.shape);
    assertEquals(
      new Uint32Array((dz.dataSync() as Float32Array).buffer),
      new Uint32Array((expected.dataSync() as Float32Array).buffer),
      "dz differs in some bit",
    );
    const sums = tf.sum(expected, [0, 1, 2]).dataSync();
    const got = db.dataSync();
    assertEquals(db.shape, [shape[3]]);
    for (let c = 0; c < shape[3]; c++) {
      if (Number.isNaN(sums[c])) {
        assert(Number.isNaN(got[c]), `bias ${c}: NaN expected`);
      } else {
        assert(
          Math.abs(got[c] - sums[c]) <= 1e-5 * Math.max(1, Math.abs(sums[c])),
          `bias ${c}: ${got[c]} against ${sums[c]}`,
        );
      }
    }
    tf.dispose([y, pooled, dy, stock, expected, dz, db]);
  });
}

Deno.test(`${POOL_RELU_GRAD}: shapes it cannot tile are refused`, () => {
  assert(canPoolReluGrad([128, 24, 24, 64]));
  assert(!canPoolReluGrad([1, 3, 4, 4])); // odd height
  assert(!canPoolReluGrad([1, 4, 4, 6])); // channels not in fours
  assert(!canPoolReluGrad([4, 4, 4])); // not NHWC
  const y = tf.zeros([1, 4, 4, 4]);
  const wrong = tf.zeros([1, 3, 2, 4]);
  assertThrows(
    () => tf.engine().runKernel(POOL_RELU_GRAD, { dy: wrong, y }),
    RangeError,
    "unsupported",
  );
  tf.dispose([y, wrong]);
});

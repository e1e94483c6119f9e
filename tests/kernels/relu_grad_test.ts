/**
 * Checks the one-kernel ReLU gradient against tfjs's own formula,
 * `dy · cast(step(x))`, on both backends, bit for bit, special values
 * included; and that gradients through `tf.relu` use it.
 */
import * as tf from "@tensorflow/tfjs";
import { assertEquals } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { RELU_GRAD } from "../../lib/kernels/mod.ts";
import { values } from "../helpers.ts";

await initBackend();

const SPECIAL = [NaN, Infinity, -Infinity, 0, -0, 1e-30, -1e-30, 3, -3];

function inputs(
  n: number,
  seed: number,
): { dy: Float32Array; x: Float32Array } {
  const dy = values(n, seed), x = values(n, seed + 1);
  // Special values in both, at positions that meet every combination.
  for (let i = 0; i < Math.min(n, 81); i++) {
    dy[i] = SPECIAL[i % 9];
    x[i] = SPECIAL[Math.floor(i / 9) % 9];
  }
  return { dy, x };
}

Deno.test("ReLU gradient kernel: tfjs's dy·step(x) bit for bit, on wasm and cpu", async () => {
  for (const backend of ["wasm", "cpu"]) {
    await tf.setBackend(backend);
    for (
      const [i, shape] of [[81], [7], [4, 5, 6], [2, 26, 26, 32], [1]].entries()
    ) {
      const n = tf.util.sizeFromShape(shape);
      const { dy, x } = inputs(n, 10 * i);
      const [ours, theirs] = tf.tidy(() => {
        const dyT = tf.tensor(dy, shape), xT = tf.tensor(x, shape);
        return [
          (tf.engine().runKernel(RELU_GRAD, { dy: dyT, x: xT }) as tf.Tensor)
            .dataSync(),
          tf.mul(dyT, tf.cast(tf.step(xT), "float32")).dataSync(),
        ];
      });
      assertEquals(
        new Uint32Array(new Float32Array(ours).buffer),
        new Uint32Array(new Float32Array(theirs).buffer),
        `${backend} ${shape}`,
      );
    }
  }
  await tf.setBackend("wasm");
});

Deno.test("ReLU gradient kernel: tf.grad through tf.relu runs it, once, with int32 inputs too", async () => {
  await tf.setBackend("wasm");
  const x = tf.tensor([-2, -0.5, 0, 0.5, 2]);
  const info = await tf.profile(() =>
    tf.grad((v: tf.Tensor) => tf.relu(v).sum())(x)
  );
  const names = info.kernels.map((k) => k.name);
  assertEquals(names.filter((k) => k === RELU_GRAD).length, 1);
  assertEquals(names.includes("Step"), false);
  const g = tf.grad((v: tf.Tensor) => tf.relu(v).sum())(x);
  assertEquals(Array.from(g.dataSync()), [0, 0, 0, 1, 1]);
  // An int32 input takes the JS path of the wasm kernel.
  const xi = tf.tensor([-1, 0, 2], [3], "int32");
  const dy = tf.tensor([5, 6, 7]);
  const out = tf.engine().runKernel(RELU_GRAD, { dy, x: xi }) as tf.Tensor;
  assertEquals(Array.from(out.dataSync()), [0, 0, 7]);
  tf.dispose([x, g, xi, dy, out]);
});

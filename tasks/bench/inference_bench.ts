/**
 * Times what the prediction pass does differently from running tfjs's
 * kernels one layer at a time, each against what it replaced, on one batch
 * of 128 (the forward batch): conv1 on the direct kernel (as it runs, inside
 * `MnistCnnFirstConvsPool`), as
 * Winograd with its products in the output transform, and on XNNPACK; conv2
 * with ReLU and the 2×2 max pool in its output transform against
 * `FusedConv2D` then `MaxPool`; the spacing of
 * Winograd's planes; Winograd's filter transform kept against computed
 * every call; and the whole batch, `predictBatch` against `model.predict`.
 * Runs are interleaved (one of each variant per round, so that load from
 * other processes hits them alike); prints the median and the best ms.
 *
 * Run: `deno run --allow-read --allow-env tasks/bench/inference_bench.ts
 * [--reps 15]`
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { timeInterleaved } from "./inference_bench.ts";
 * let n = 0;
 * const times = timeInterleaved({ a: () => n++, b: () => n++ }, 3);
 * assert(n === 8 && times.a.best <= times.a.median); // warm-up + 3 rounds
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { initBackend } from "../../lib/backend.ts";
import { buildModel } from "../../lib/model.ts";
import { predictBatch } from "../../lib/engine/forward.ts";
import { CONV_RELU_POOL, stockKernel } from "../../lib/kernels/mod.ts";
import { directConv3x3 } from "../../lib/kernels/direct_conv.ts";
import { winogradConv3x3 } from "../../lib/kernels/winograd.ts";
import { disposeAll } from "../../lib/kernels/wasm_util.ts";

/** Median and best milliseconds of one variant. */
export interface Timing {
  median: number;
  best: number;
}

/**
 * Runs each function once (warm-up), then `reps` rounds of one run of each
 * in turn; returns each one's median and best ms.
 */
export function timeInterleaved(
  runs: Record<string, () => unknown>,
  reps: number,
): Record<string, Timing> {
  for (const run of Object.values(runs)) run();
  const times: Record<string, number[]> = {};
  for (let r = 0; r < reps; r++) {
    for (const [name, run] of Object.entries(runs)) {
      const t = performance.now();
      run();
      (times[name] ??= []).push(performance.now() - t);
    }
  }
  return Object.fromEntries(
    Object.entries(times).map(([name, ts]) => {
      ts.sort((a, b) => a - b);
      return [name, { median: ts[ts.length >> 1], best: ts[0] }];
    }),
  );
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--reps");
  const reps = i >= 0 ? Number(Deno.args[i + 1]) : 15;
  await initBackend();
  const backend = tf.backend() as BackendWasm;
  const info = (t: tf.Tensor): tf.TensorInfo => ({
    dataId: t.dataId,
    shape: t.shape,
    dtype: t.dtype,
  });
  const P0 = { top: 0, bottom: 0, left: 0, right: 0 };
  const x1 = tf.randomUniform([128, 28, 28, 1], 0, 1, "float32", 1);
  const f1 = tf.randomNormal([3, 3, 1, 32], 0, 0.3, "float32", 2);
  const b1 = tf.randomNormal([32], 0, 0.1, "float32", 3);
  const x2 = tf.relu(tf.randomNormal([128, 26, 26, 32], 0, 1, "float32", 4));
  const f2 = tf.randomNormal([3, 3, 32, 64], 0, 0.06, "float32", 5);
  const b2 = tf.randomNormal([64], 0, 0.1, "float32", 6);
  const x8 = x2.slice(0, 8);
  // New data ids (a clone shares its source's), made before the timing.
  const copies = Array.from(
    { length: reps + 1 },
    () => tf.tensor(f2.dataSync(), f2.shape),
  );
  const model = buildModel({ seed: 1 });
  const conv = (x: tf.Tensor, filter: tf.Tensor, bias: tf.Tensor) =>
    tf.fused.conv2d({
      x: x as tf.Tensor4D,
      filter: filter as tf.Tensor4D,
      bias,
      strides: 1,
      pad: "valid",
      activation: "relu",
    });
  const cases: [string, Record<string, () => unknown>][] = [
    ["conv1 x[128,28,28,1]·w[3,3,1,32], bias, ReLU", {
      XNNPACK: () =>
        disposeAll(
          backend,
          stockKernel("FusedConv2D")({
            inputs: { x: info(x1), filter: info(f1), bias: info(b1) },
            backend,
            attrs: {
              strides: 1,
              dilations: 1,
              pad: [[0, 0], [0, 0], [0, 0], [0, 0]],
              dataFormat: "NHWC",
              activation: "relu",
            } as unknown as tf.NamedAttrMap,
          }),
        ),
      "Winograd, products in the output transform": () =>
        disposeAll(
          backend,
          winogradConv3x3(backend, info(x1), info(f1), P0, {
            bias: info(b1),
            relu: true,
          }),
        ),
      direct: () =>
        disposeAll(
          backend,
          directConv3x3(backend, info(x1), info(f1), P0, {
            bias: info(b1),
            relu: true,
          }),
        ),
    }],
    ["conv2 x[128,26,26,32]·w[3,3,32,64], bias, ReLU, 2×2 max pool", {
      "FusedConv2D, MaxPool": () =>
        tf.tidy(() => tf.maxPool(conv(x2, f2, b2), 2, 2, "valid")).dispose(),
      [CONV_RELU_POOL]: () =>
        tf.dispose(
          tf.engine().runKernel(CONV_RELU_POOL, {
            x: x2,
            filter: f2,
            bias: b2,
          }, { pad: "valid" }) as tf.Tensor,
        ),
    }],
    [
      "conv2 forward, bias, ReLU: planes (V, M) this many bytes apart beyond their size",
      {
        ...Object.fromEntries(
          [1088, 48, 0].map((planeSkew) => [
            `${planeSkew}`,
            () =>
              disposeAll(
                backend,
                winogradConv3x3(backend, info(x2), info(f2), P0, {
                  bias: info(b2),
                  relu: true,
                  planeSkew,
                }),
              ),
          ]),
        ),
      },
    ],
    ["conv2 forward, bias, ReLU of 8 images: Winograd's filter transform", {
      kept: () =>
        disposeAll(
          backend,
          winogradConv3x3(backend, info(x8), info(f2), P0, {
            bias: info(b2),
            relu: true,
          }),
        ),
      "afresh (each call a new copy of the filter)": () => {
        const copy = copies.pop()!;
        disposeAll(
          backend,
          winogradConv3x3(backend, info(x8), info(copy), P0, {
            bias: info(b2),
            relu: true,
          }),
        );
        copy.dispose();
      },
    }],
    ["prediction of 128 images", {
      "model.predict": () =>
        tf.dispose(tf.tidy(() => model.predict(x1, { batchSize: 128 }))),
      predictBatch: () => predictBatch(model, x1).dispose(),
    }],
  ];
  console.log(`median (best) ms of ${reps} interleaved runs, one thread`);
  for (const [name, runs] of cases) {
    const times = timeInterleaved(runs, reps);
    console.log(
      `${name}: ${
        Object.entries(times).map(([v, t]) =>
          `${v} ${t.median.toFixed(2)} (${t.best.toFixed(2)})`
        ).join("; ")
      }`,
    );
  }
}

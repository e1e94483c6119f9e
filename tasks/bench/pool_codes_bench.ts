/**
 * Times conv2's pooled training pass (batch 64, one thread's share on two
 * threads, or `--batch N`) both ways the engine can run it
 * (`lib/engine/fused_training.ts`): on codes (`winogradConv3x3` with
 * `codes` and dropout's mask, then `winogradBackpropPooled3x3`) against the
 * ReLU's output kept (the Winograd convolution with bias and ReLU, the
 * backend's `MaxPool`, dropout's `Multiply`; then `Multiply`,
 * `MnistCnnPoolReluGrad` and `winogradBackprop3x3`). Runs are interleaved,
 * one of each per round; prints the median and the best ms of each.
 *
 * Run: `deno run --allow-read --allow-env tasks/bench/pool_codes_bench.ts
 * [--reps 21] [--batch 64]`
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { initBackend } from "../../lib/backend.ts";
import { POOL_RELU_GRAD } from "../../lib/kernels/mod.ts";
import { disposeAll } from "../../lib/kernels/wasm_util.ts";
import {
  type Pads,
  winogradBackprop3x3,
  winogradBackpropPooled3x3,
  winogradConv3x3,
} from "../../lib/kernels/winograd.ts";

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

await initBackend();
const backend = tf.backend() as BackendWasm;
const engine = tf.engine();
const reps = arg("reps", 21), batch = arg("batch", 64);
const P0: Pads = { top: 0, bottom: 0, left: 0, right: 0 };
const x = tf.randomNormal([batch, 26, 26, 32], 0, 1, "float32", 1);
const f = tf.randomNormal([3, 3, 32, 64], 0, 0.1, "float32", 2);
const b = tf.randomNormal([64], 0, 0.1, "float32", 3);
const dy = tf.randomNormal([batch, 12, 12, 64], 0, 1, "float32", 4);
const mask = tf.tidy(() =>
  tf.mul(
    tf.cast(
      tf.greater(tf.randomUniform(dy.shape, 0, 1, "float32", 5), 0.25),
      "float32",
    ),
    4 / 3,
  )
);
const maxPool = tf.getKernel("MaxPool", "wasm")!;

/** The ReLU's output kept: forward, then backward; ms of each. */
function kept(): [number, number] {
  let t = performance.now();
  const y = engine.makeTensorFromTensorInfo(
    winogradConv3x3(backend, x, f, P0, { bias: b, relu: true }),
  );
  const pooled = engine.makeTensorFromTensorInfo(
    maxPool.kernelFunc({
      inputs: { x: y },
      backend,
      attrs: { filterSize: [2, 2], strides: [2, 2], pad: "valid" },
    }) as tf.TensorInfo,
  );
  const out = tf.mul(pooled, mask);
  const forward = performance.now() - t;
  t = performance.now();
  const dPooled = tf.mul(dy, mask);
  const [dz, db] = engine.runKernel(POOL_RELU_GRAD, {
    dy: dPooled,
    y,
  }) as tf.Tensor[];
  const g = winogradBackprop3x3(backend, x, dz, f, P0);
  const backward = performance.now() - t;
  disposeAll(backend, g.dx, g.filter);
  tf.dispose([y, pooled, out, dPooled, dz, db]);
  return [forward, backward];
}

/** On codes: forward, then backward; ms of each. */
function onCodes(): [number, number] {
  let t = performance.now();
  const codes = backend.makeOutput(dy.shape, "int32");
  const out = winogradConv3x3(backend, x, f, P0, {
    bias: b,
    relu: true,
    pool: true,
    codes,
    mask,
  });
  const forward = performance.now() - t;
  t = performance.now();
  const g = winogradBackpropPooled3x3(backend, x, dy, codes, f, P0, { mask });
  const backward = performance.now() - t;
  disposeAll(backend, out, codes, g.dx, g.filter, g.bias);
  return [forward, backward];
}

const times = { kept: [[], []], codes: [[], []] } as Record<
  "kept" | "codes",
  number[][]
>;
kept(), onCodes(); // warm-up
for (let r = 0; r < reps; r++) {
  kept().forEach((ms, i) => times.kept[i].push(ms));
  onCodes().forEach((ms, i) => times.codes[i].push(ms));
}
const cell = (ts: number[]) => {
  ts.sort((p, q) => p - q);
  return `${ts[ts.length >> 1].toFixed(2)} (${ts[0].toFixed(2)})`;
};
console.log(
  `conv2's pooled training pass, batch ${batch}: median (best) ms of ${reps} interleaved runs, one thread`,
);
console.log("| pass | ReLU's output kept | on codes |\n|---|---|---|");
["forward", "backward"].forEach((pass, i) =>
  console.log(`| ${pass} | ${cell(times.kept[i])} | ${cell(times.codes[i])} |`)
);
tf.dispose([x, f, b, dy, mask]);

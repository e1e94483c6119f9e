/**
 * Times the tutorial's first layer (conv1, 1 → 32 channels) as training and
 * prediction run it, one thread, batch 64 (one thread's share on two) or
 * `--batch N`: its forward pass on the direct kernel
 * (`lib/kernels/direct_conv.ts`) against Winograd F(4×4) forming its
 * products in the output transform; conv1 and conv2's pooled pass forward
 * in one kernel (`FIRST_CONVS_CODES`, conv1's output a few images at a time,
 * never stored) against the two kernels (`MnistCnnConv2DBiasRelu` then
 * `MnistCnnConv2DBiasReluPoolCodes`); and their gradients in one kernel
 * (`FIRST_CONVS_BACKPROP`, conv1's output computed again) against the
 * separate kernels on the stored output (`MnistCnnConv2DPoolBackprop` then
 * `MnistCnnReluFilterGrad`). Each pair gives the same bits. Before each run
 * a 64 MB pass (`--dirty MB`) writes memory, leaving the caches full of
 * dirty lines as the rest of a training step does. Runs
 * are interleaved, one of each per round; prints the median and the best ms.
 * With `--sweep`, then conv1's direct forward into one output buffer, after
 * writing 0 to 256 MB elsewhere: what a cache full of dirty lines costs its
 * stores.
 *
 * Run: `deno run --allow-read --allow-env tasks/bench/first_layer_bench.ts
 * [--reps 21] [--batch 64] [--dirty 64] [--sweep]`
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { initBackend } from "../../lib/backend.ts";
import { buildModel } from "../../lib/model.ts";
import {
  applyTraining,
  CONV_BIAS_RELU,
  CONV_POOL_BACKPROP,
  CONV_POOL_CODES,
  FIRST_CONVS_BACKPROP,
  FIRST_CONVS_CODES,
} from "../../lib/engine/fused_training.ts";
import { RELU_FILTER_GRAD } from "../../lib/kernels/mod.ts";
import { directConv3x3 } from "../../lib/kernels/direct_conv.ts";
import { simdKernels } from "../../lib/kernels/simd/simd.ts";
import { type Pads, winogradConv3x3 } from "../../lib/kernels/winograd.ts";
import { disposeAll, heapF32, heapIndex } from "../../lib/kernels/wasm_util.ts";

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

await initBackend();
// The training ops' kernels register on the first training pass.
tf.dispose(applyTraining(buildModel({ seed: 1 }), tf.zeros([1, 28, 28, 1])));
const backend = tf.backend() as BackendWasm;
const engine = tf.engine();
const reps = arg("reps", 21), batch = arg("batch", 64);
const dirtyMb = arg("dirty", 64);
const P0: Pads = { top: 0, bottom: 0, left: 0, right: 0 };
const x = tf.randomUniform([batch, 28, 28, 1], 0, 1, "float32", 1);
const filter1 = tf.randomNormal([3, 3, 1, 32], 0, 0.3, "float32", 2);
const bias1 = tf.randomNormal([32], 0, 0.1, "float32", 3);
const filter2 = tf.randomNormal([3, 3, 32, 64], 0, 0.1, "float32", 4);
const bias2 = tf.randomNormal([64], 0, 0.1, "float32", 5);
const dy = tf.randomNormal([batch, 12, 12, 64], 0, 1, "float32", 6);
const sweep = Deno.args.includes("--sweep");
const junkMb = Math.max(1, dirtyMb, sweep ? 256 : 0);
const junk = backend.makeOutput([junkMb << 18], "float32");
let fill = 0;
/** Writes `mb` MB of the junk buffer. */
const write = (mb: number) => {
  const at = heapIndex(backend, junk);
  if (mb > 0) heapF32(backend).fill(++fill, at, at + (mb << 18));
};
const evict = () => write(dirtyMb);
const run = (name: string, inputs: tf.NamedTensorMap, attrs: object) =>
  engine.runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor[];
const timed = (f: () => unknown): number => {
  evict();
  const t = performance.now();
  f();
  return performance.now() - t;
};

/** conv1's forward pass, direct and as Winograd F(4×4): ms of each. */
function conv1(): number[] {
  return [
    () => directConv3x3(backend, x, filter1, P0, { bias: bias1, relu: true }),
    () =>
      winogradConv3x3(backend, x, filter1, P0, {
        bias: bias1,
        relu: true,
        tile: 4,
      }),
  ].map((conv) => {
    let y: tf.TensorInfo | undefined;
    const ms = timed(() => y = conv());
    disposeAll(backend, y);
    return ms;
  });
}

/**
 * The two layers forward, then their gradients: each in one kernel, then in
 * the separate kernels.
 */
function twoLayers(): number[] {
  const pad = { pad: "valid" };
  const attrs = { pad1: "valid", pad2: "valid" };
  let fused: tf.Tensor[] = [], y: tf.Tensor | undefined;
  let two: tf.Tensor[] = [];
  const forward = [
    timed(() =>
      fused = run(FIRST_CONVS_CODES, {
        x,
        filter1,
        bias1,
        filter2,
        bias2,
      }, attrs)
    ),
    timed(() => {
      y = engine.runKernel(CONV_BIAS_RELU, {
        x,
        filter: filter1,
        bias: bias1,
      }, pad) as tf.Tensor;
      two = run(CONV_POOL_CODES, { x: y, filter: filter2, bias: bias2 }, pad);
    }),
  ];
  const codes = fused[1];
  let grads: tf.Tensor[] = [], second: tf.Tensor[] = [];
  let first: tf.Tensor[] = [];
  const backward = [
    timed(() =>
      grads = run(FIRST_CONVS_BACKPROP, {
        x,
        filter1,
        bias1,
        dy,
        codes,
        filter2,
      }, attrs)
    ),
    timed(() => {
      second = run(CONV_POOL_BACKPROP, {
        x: y!,
        dy,
        codes,
        filter: filter2,
      }, pad);
      first = run(RELU_FILTER_GRAD, { x, dy: second[0], y: y! }, {
        ...pad,
        filterShape: [3, 3, 1, 32],
      });
    }),
  ];
  tf.dispose([y!, ...fused, ...two, ...grads, ...second, ...first]);
  return [...forward, ...backward];
}

const times: number[][] = [[], [], [], [], [], []];
conv1(), twoLayers(); // warm-up
for (let r = 0; r < reps; r++) {
  [...conv1(), ...twoLayers()].forEach((ms, i) => times[i].push(ms));
}
const cell = (ts: number[]) => {
  ts.sort((p, q) => p - q);
  return `${ts[ts.length >> 1].toFixed(2)} (${ts[0].toFixed(2)})`;
};
console.log(
  `The first layer, batch ${batch}: median (best) ms of ${reps} interleaved runs, one thread, ${dirtyMb} MB written before each`,
);
console.log("| pass | one way | the other |\n|---|---|---|");
console.log(
  `| conv1's forward: direct, Winograd F(4×4) | ${cell(times[0])} | ${
    cell(times[1])
  } |`,
);
console.log(
  `| conv1 and conv2 forward: one kernel, two | ${cell(times[2])} | ${
    cell(times[3])
  } |`,
);
console.log(
  `| conv1's and conv2's gradients: one kernel, two | ${cell(times[4])} | ${
    cell(times[5])
  } |`,
);
if (sweep) {
  // The same output buffer each run: its lines are wherever the writes
  // before left them.
  const out = backend.makeOutput([batch, 26, 26, 32], "float32");
  const conv = simdKernels(backend);
  const packed = backend.makeOutput([9 * 32], "float32");
  const cells = [0, 8, 16, 32, 64, 128, 256].map((mb) => {
    const ts: number[] = [];
    for (let r = 0; r < reps; r++) {
      write(mb);
      const t = performance.now();
      conv.directConv3x3C1(
        heapIndex(backend, x) * 4,
        heapIndex(backend, filter1) * 4,
        heapIndex(backend, bias1) * 4,
        heapIndex(backend, out) * 4,
        heapIndex(backend, packed) * 4,
        batch,
        28,
        28,
        26,
        26,
        32,
        1,
      );
      ts.push(performance.now() - t);
    }
    return `${mb} MB: ${cell(ts)}`;
  });
  console.log(
    `conv1's direct forward into one buffer, after writing: ${
      cells.join(", ")
    }`,
  );
  disposeAll(backend, out, packed);
}
tf.dispose([x, filter1, bias1, filter2, bias2, dy]);
disposeAll(backend, junk);

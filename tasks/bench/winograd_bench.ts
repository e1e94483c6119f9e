/**
 * Times the Winograd kernels on the MNIST CNN's conv2 shapes (batch 128):
 * the forward pass and the input gradient against the stock XNNPACK
 * `Conv2D`, both gradients in one pass (as training runs them) and the
 * filter gradient, each as F(4x4,3x3) and F(6x6,3x3), in the SIMD128 build
 * and (where the runtime has relaxed SIMD) the fused multiply-add build. Runs are interleaved (one of each variant per round,
 * so that load from other processes hits them alike); prints the median
 * and the best ms of each.
 *
 * Run: `deno run --allow-read --allow-env tasks/bench/winograd_bench.ts
 * [--reps 15] [--chunk N]`
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { initBackend } from "../../lib/backend.ts";
import { stockKernel } from "../../lib/kernels/mod.ts";
import { disposeAll } from "../../lib/kernels/wasm_util.ts";
import { relaxedSimdSupported } from "../../lib/kernels/simd/simd.ts";
import {
  type Pads,
  winogradBackprop3x3,
  winogradBackpropFilter3x3,
  winogradConv3x3,
  type WinogradOptions,
} from "../../lib/kernels/winograd.ts";

function arg(name: string): number | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : undefined;
}

await initBackend();
const backend = tf.backend() as BackendWasm;
const reps = arg("reps") ?? 15;
const chunkTiles = arg("chunk");
const info = (t: tf.Tensor): tf.TensorInfo => ({
  dataId: t.dataId,
  shape: t.shape,
  dtype: t.dtype,
});
const P0: Pads = { top: 0, bottom: 0, left: 0, right: 0 };
const P2: Pads = { top: 2, bottom: 2, left: 2, right: 2 };

const variants: WinogradOptions[] = [
  { tile: 4, fma: false },
  { tile: 6, fma: false },
  ...(relaxedSimdSupported()
    ? [{ tile: 4, fma: true }, { tile: 6, fma: true }] as const
    : []),
];
const name = (o: WinogradOptions) => `F${o.tile} ${o.fma ? "fma" : "simd"}`;

/** The stock XNNPACK Conv2D (the registered one routes to Winograd). */
function stockConv(x: tf.TensorInfo, f: tf.TensorInfo, p: Pads) {
  return stockKernel("Conv2D")({
    inputs: { x, filter: f },
    backend,
    attrs: {
      strides: 1,
      dilations: 1,
      pad: [[0, 0], [p.top, p.bottom], [p.left, p.right], [0, 0]],
      dataFormat: "NHWC",
    } as unknown as tf.NamedAttrMap,
  });
}

const x = tf.randomNormal([128, 26, 26, 32]);
const f = tf.randomNormal([3, 3, 32, 64]);
const dy = tf.randomNormal([128, 24, 24, 64]);
const fT = tf.randomNormal([3, 3, 64, 32]);
const cases: { name: string; runs: [string, () => tf.TensorInfo][] }[] = [
  {
    name: "forward x[128,26,26,32]·w[3,3,32,64]",
    runs: [
      ["XNNPACK", () => stockConv(info(x), info(f), P0)],
      ...variants.map((o): [string, () => tf.TensorInfo] => [
        name(o),
        () =>
          winogradConv3x3(backend, info(x), info(f), P0, { ...o, chunkTiles }),
      ]),
    ],
  },
  {
    name: "input grad dy[128,24,24,64] pad 2·w[3,3,64,32]",
    runs: [
      ["XNNPACK", () => stockConv(info(dy), info(fT), P2)],
      ...variants.map((o): [string, () => tf.TensorInfo] => [
        name(o),
        () =>
          winogradConv3x3(backend, info(dy), info(fT), P2, {
            ...o,
            chunkTiles,
          }),
      ]),
    ],
  },
  {
    name: "both gradients (training) x[128,26,26,32], dy[128,24,24,64]",
    runs: variants.map((o): [string, () => tf.TensorInfo] => [
      name(o),
      () => {
        const g = winogradBackprop3x3(backend, info(x), info(dy), info(f), P0, {
          ...o,
          chunkTiles,
        });
        disposeAll(backend, g.filter);
        return g.dx;
      },
    ]),
  },
  {
    name: "filter grad x[128,26,26,32], dy[128,24,24,64]",
    runs: variants.map((o): [string, () => tf.TensorInfo] => [
      name(o),
      () =>
        winogradBackpropFilter3x3(backend, info(x), info(dy), P0, {
          ...o,
          chunkTiles,
        }),
    ]),
  },
];

const columns = ["XNNPACK", ...variants.map(name)];
console.log(`median (best) ms of ${reps} interleaved runs, one thread`);
console.log(`| kernel | ${columns.join(" | ")} |`);
console.log(`|---|${columns.map(() => "---|").join("")}`);
for (const c of cases) {
  const times = new Map<string, number[]>(c.runs.map(([n]) => [n, []]));
  for (const [, run] of c.runs) disposeAll(backend, run()); // warm-up
  for (let r = 0; r < reps; r++) {
    for (const [n, run] of c.runs) {
      const t = performance.now();
      disposeAll(backend, run());
      times.get(n)!.push(performance.now() - t);
    }
  }
  const cells = columns.map((col) => {
    const ts = times.get(col);
    if (ts === undefined) return "–";
    ts.sort((a, b) => a - b);
    return `${ts[ts.length >> 1].toFixed(1)} (${ts[0].toFixed(1)})`;
  });
  console.log(`| ${c.name} | ${cells.join(" | ")} |`);
}
tf.dispose([x, f, dy, fT]);

/**
 * Times {@link winogradConv3x3} against the stock XNNPACK `Conv2D` (best of
 * N) on the MNIST CNN's conv2 shapes.
 *
 * Run: `deno run --allow-read --allow-env lib/kernels/winograd/bench.ts
 * [--reps 10] [--chunk 512]`
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { initBackend } from "../../backend.ts";
import { stockKernel } from "../mod.ts";
import { disposeAll } from "../wasm_util.ts";
import { type Pads, winogradConv3x3 } from "../winograd.ts";

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

function best(reps: number, f: () => void): number {
  let min = Infinity;
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    f();
    min = Math.min(min, performance.now() - t);
  }
  return min;
}

await initBackend();
const backend = tf.backend() as BackendWasm;
const reps = arg("reps", 10);
const chunkTiles = arg("chunk", 512);
const cases: { name: string; x: number[]; f: number[]; pads: Pads }[] = [
  {
    name: "forward x[128,26,26,32]·w[3,3,32,64] valid",
    x: [128, 26, 26, 32],
    f: [3, 3, 32, 64],
    pads: { top: 0, bottom: 0, left: 0, right: 0 },
  },
  {
    name: "input grad dy[128,24,24,64] pad 2·w[3,3,64,32]",
    x: [128, 24, 24, 64],
    f: [3, 3, 64, 32],
    pads: { top: 2, bottom: 2, left: 2, right: 2 },
  },
];
console.log("| shape | XNNPACK Conv2D ms | Winograd ms | speed-up |");
console.log("|---|---|---|---|");
for (const c of cases) {
  const x = tf.randomNormal(c.x);
  const f = tf.randomNormal(c.f);
  const xi = { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  const fi = { dataId: f.dataId, shape: f.shape, dtype: f.dtype };
  // The stock kernel: the registered Conv2D would route to Winograd too.
  const pad = [
    [0, 0],
    [c.pads.top, c.pads.bottom],
    [c.pads.left, c.pads.right],
    [0, 0],
  ];
  const attrs = {
    strides: 1,
    dilations: 1,
    pad,
    dataFormat: "NHWC",
  } as unknown as tf.NamedAttrMap;
  const direct = best(
    reps,
    () =>
      disposeAll(
        backend,
        stockKernel("Conv2D")({
          inputs: { x: xi, filter: fi },
          backend,
          attrs,
        }),
      ),
  );
  const wino = best(
    reps,
    () =>
      disposeAll(
        backend,
        winogradConv3x3(backend, xi, fi, c.pads, { chunkTiles }),
      ),
  );
  console.log(
    `| ${c.name} | ${direct.toFixed(1)} | ${wino.toFixed(1)} | ${
      (direct / wino).toFixed(2)
    }x |`,
  );
  x.dispose();
  f.dispose();
}

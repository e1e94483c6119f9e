/**
 * Checks the wasm training kernels of `lib/kernels/` against tfjs's `cpu`
 * backend on many shapes, strides and paddings, that they free their
 * intermediates, and that a small conv net trains end to end on wasm.
 *
 * Run: `deno test --allow-read --allow-env tests/kernels/kernels_test.ts`
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import {
  registerTrainingKernels,
  TRAINING_KERNELS,
} from "../../lib/kernels/mod.ts";
import {
  type FilterGradPath,
  filterGradPath,
} from "../../lib/kernels/conv2d_backprop_filter.ts";
import { assertClose, onCpu, values } from "../helpers.ts";

await initBackend();

type Shape4 = [number, number, number, number];
type Pad = "valid" | "same" | number | tf.backend_util.ExplicitPadding;

/** Runs a kernel on `backend` from plain arrays; returns shape and data. */
async function run(
  backend: "cpu" | "wasm",
  kernel: string,
  inputs: Record<string, { shape: number[]; data: Float32Array }>,
  attrs: tf.NamedAttrMap,
  prepare: (tensors: tf.NamedTensorMap) => tf.NamedTensorMap = (t) => t,
): Promise<{ shape: number[]; data: Float32Array }> {
  await tf.setBackend(backend);
  try {
    return tf.tidy(() => {
      const tensors: tf.NamedTensorMap = {};
      for (const [name, { shape, data }] of Object.entries(inputs)) {
        tensors[name] = tf.tensor(data, shape, "float32");
      }
      const out = tf.engine().runKernel(
        kernel,
        prepare(tensors),
        attrs,
      ) as tf.Tensor;
      return { shape: out.shape, data: out.dataSync() as Float32Array };
    });
  } finally {
    await tf.setBackend("wasm");
  }
}

/**
 * Compares one kernel call on wasm with the cpu backend; `prepare` may
 * rewrite the cpu backend's inputs into an equivalent form.
 */
async function compareKernel(
  kernel: string,
  inputs: Record<string, { shape: number[]; data: Float32Array }>,
  attrs: tf.NamedAttrMap,
  what: string,
  prepare?: (tensors: tf.NamedTensorMap) => tf.NamedTensorMap,
): Promise<void> {
  const expected = await run("cpu", kernel, inputs, attrs, prepare);
  const actual = await run("wasm", kernel, inputs, attrs);
  assertClose(actual, expected, what);
}

interface ConvCase {
  x: Shape4;
  filter: Shape4;
  strides: number | [number, number];
  pad: Pad;
  dimRoundingMode?: "floor" | "round" | "ceil";
  dataFormat?: "NHWC" | "NCHW";
}

const CONV_CASES: ConvCase[] = [
  // The tutorial's layers, scaled down in batch.
  { x: [2, 28, 28, 1], filter: [3, 3, 1, 32], strides: 1, pad: "valid" },
  { x: [2, 26, 26, 32], filter: [3, 3, 32, 64], strides: 1, pad: "valid" },
  // 3x3, stride 1, ≥ 16 channels: routed to Winograd (odd sizes, all pads).
  { x: [3, 9, 7, 16], filter: [3, 3, 16, 20], strides: 1, pad: "same" },
  { x: [1, 6, 5, 24], filter: [3, 3, 24, 16], strides: 1, pad: 1 },
  { x: [2, 5, 8, 17], filter: [3, 3, 17, 33], strides: 1, pad: "valid" },
  { x: [2, 7, 9, 16], filter: [3, 3, 16, 19], strides: 1, pad: 2 },
  {
    x: [3, 8, 7, 18],
    filter: [3, 3, 18, 16],
    strides: 1,
    pad: [[0, 0], [0, 1], [2, 0], [0, 0]],
  },
  {
    x: [1, 9, 10, 16],
    filter: [3, 3, 16, 17],
    strides: 1,
    pad: [[0, 0], [2, 1], [1, 2], [0, 0]],
  },
  // Long enough to split the filter gradient's reduction into chunks, with a
  // chunk boundary inside an output row.
  { x: [4, 30, 30, 2], filter: [3, 3, 2, 3], strides: 1, pad: "same" },
  { x: [16, 33, 31, 1], filter: [3, 3, 1, 2], strides: 2, pad: "valid" },
  // Batch 1, single channels, odd sizes, kernel sizes 1, 2, 3, 5.
  { x: [1, 7, 9, 1], filter: [1, 1, 1, 1], strides: 1, pad: "valid" },
  { x: [1, 7, 9, 1], filter: [2, 2, 1, 3], strides: 1, pad: "same" },
  { x: [3, 9, 7, 5], filter: [5, 5, 5, 4], strides: 1, pad: "same" },
  { x: [3, 11, 10, 4], filter: [5, 3, 4, 6], strides: 1, pad: "valid" },
  { x: [2, 8, 8, 3], filter: [2, 3, 3, 2], strides: 1, pad: "same" },
  // Strides 2, mixed and larger than the kernel.
  { x: [2, 9, 9, 3], filter: [3, 3, 3, 4], strides: 2, pad: "valid" },
  { x: [2, 10, 10, 3], filter: [3, 3, 3, 4], strides: 2, pad: "same" },
  { x: [2, 9, 8, 2], filter: [2, 2, 2, 3], strides: 2, pad: "same" },
  { x: [1, 11, 7, 3], filter: [5, 5, 3, 2], strides: 2, pad: "same" },
  { x: [2, 9, 7, 3], filter: [3, 3, 3, 5], strides: [2, 1], pad: "valid" },
  { x: [2, 7, 10, 2], filter: [3, 2, 2, 3], strides: [1, 3], pad: "same" },
  { x: [2, 8, 8, 2], filter: [1, 1, 2, 3], strides: 3, pad: "valid" },
  { x: [1, 12, 12, 3], filter: [2, 2, 3, 4], strides: 3, pad: "same" },
  // Numeric padding, with rounding where the output size is fractional.
  { x: [2, 7, 7, 3], filter: [3, 3, 3, 2], strides: 1, pad: 1 },
  { x: [2, 6, 5, 2], filter: [3, 3, 2, 3], strides: 1, pad: 2 },
  { x: [2, 8, 8, 2], filter: [3, 3, 2, 3], strides: 2, pad: 1 },
  {
    x: [2, 6, 6, 2],
    filter: [3, 3, 2, 3],
    strides: 2,
    pad: 1,
    dimRoundingMode: "ceil",
  },
  {
    x: [2, 6, 7, 2],
    filter: [3, 3, 2, 3],
    strides: 2,
    pad: 1,
    dimRoundingMode: "floor",
  },
  {
    x: [1, 7, 6, 2],
    filter: [2, 2, 2, 3],
    strides: 2,
    pad: 0,
    dimRoundingMode: "round",
  },
  // Explicit padding: asymmetric, zero, and wider than the kernel.
  {
    x: [2, 7, 6, 3],
    filter: [3, 3, 3, 2],
    strides: 1,
    pad: [[0, 0], [1, 2], [0, 1], [0, 0]],
  },
  {
    x: [2, 6, 6, 2],
    filter: [3, 2, 2, 3],
    strides: [2, 1],
    pad: [[0, 0], [2, 0], [1, 3], [0, 0]],
  },
  {
    x: [1, 5, 5, 2],
    filter: [2, 2, 2, 2],
    strides: 1,
    pad: [[0, 0], [3, 4], [4, 3], [0, 0]],
  },
  {
    x: [2, 7, 7, 2],
    filter: [3, 3, 2, 2],
    strides: 2,
    pad: [[0, 0], [4, 3], [0, 5], [0, 0]],
  },
  // Channels first.
  {
    x: [2, 3, 7, 6],
    filter: [3, 3, 3, 4],
    strides: 1,
    pad: "same",
    dataFormat: "NCHW",
  },
  {
    x: [2, 2, 9, 8],
    filter: [3, 2, 2, 3],
    strides: [2, 1],
    pad: "valid",
    dataFormat: "NCHW",
  },
  {
    x: [1, 3, 8, 7],
    filter: [3, 3, 3, 2],
    strides: 2,
    pad: [[0, 0], [0, 0], [2, 1], [0, 3]],
    dataFormat: "NCHW",
  },
];

function describe(c: ConvCase): string {
  return `x=${c.x} f=${c.filter} s=${c.strides} pad=${JSON.stringify(c.pad)}` +
    (c.dimRoundingMode ? ` round=${c.dimRoundingMode}` : "") +
    (c.dataFormat ? ` ${c.dataFormat}` : "");
}

/** `dy`'s shape for a convolution case (in the case's data format). */
function dyShape(c: ConvCase): Shape4 {
  return tf.backend_util.computeConv2DInfo(
    c.x,
    c.filter,
    c.strides,
    1,
    c.pad,
    c.dimRoundingMode,
    false,
    c.dataFormat === "NCHW" ? "channelsFirst" : "channelsLast",
  ).outShape;
}

function convAttrs(c: ConvCase): Record<string, unknown> {
  return {
    strides: c.strides,
    pad: c.pad,
    dataFormat: c.dataFormat ?? "NHWC",
    dimRoundingMode: c.dimRoundingMode,
  };
}

Deno.test("the training kernels are registered for wasm, once", () => {
  const before = TRAINING_KERNELS.map((k) => tf.getKernel(k, "wasm"));
  for (const config of before) assert(config !== undefined);
  registerTrainingKernels();
  const after = TRAINING_KERNELS.map((k) => tf.getKernel(k, "wasm"));
  for (let i = 0; i < before.length; i++) {
    assert(before[i]!.kernelFunc === after[i]!.kernelFunc);
  }
  assertEquals(tf.getBackend(), "wasm");
});

Deno.test("Conv2D and FusedConv2D (bias, relu) match the cpu backend", async () => {
  for (const [i, c] of CONV_CASES.entries()) {
    if (c.dataFormat === "NCHW") continue; // FusedConv2D is NHWC only
    const x = {
      shape: c.x,
      data: values(tf.util.sizeFromShape(c.x), 3 * i + 1),
    };
    const filter = {
      shape: c.filter,
      data: values(tf.util.sizeFromShape(c.filter), 3 * i + 2),
    };
    const bias = { shape: [c.filter[3]], data: values(c.filter[3], 3 * i + 3) };
    const attrs = { ...convAttrs(c), dilations: 1 } as tf.NamedAttrMap;
    await compareKernel(
      "Conv2D",
      { x, filter },
      attrs,
      `Conv2D ${describe(c)}`,
    );
    await compareKernel(
      "FusedConv2D",
      { x, filter, bias },
      { ...attrs, activation: "relu" },
      `FusedConv2D ${describe(c)}`,
    );
  }
  // The Winograd shape's in-place bias and activation: bias only, relu only.
  const c = { x: [2, 12, 10, 16], filter: [3, 3, 16, 20] } as const;
  const x = { shape: [...c.x], data: values(2 * 12 * 10 * 16, 61) };
  const filter = { shape: [...c.filter], data: values(9 * 16 * 20, 62) };
  const bias = { shape: [20], data: values(20, 63) };
  const attrs = { strides: 1, pad: 1, dataFormat: "NHWC", dilations: 1 };
  await compareKernel(
    "FusedConv2D",
    { x, filter, bias },
    { ...attrs, activation: "linear" } as tf.NamedAttrMap,
    "FusedConv2D winograd, bias, linear",
  );
  await compareKernel(
    "FusedConv2D",
    { x, filter },
    { ...attrs, activation: "relu" } as tf.NamedAttrMap,
    "FusedConv2D winograd, no bias, relu",
  );
});

Deno.test("Conv2DBackpropFilter matches the cpu backend", async () => {
  for (const [i, c] of CONV_CASES.entries()) {
    const dy = dyShape(c);
    await compareKernel(
      "Conv2DBackpropFilter",
      {
        x: { shape: c.x, data: values(tf.util.sizeFromShape(c.x), 2 * i + 1) },
        dy: { shape: dy, data: values(tf.util.sizeFromShape(dy), 2 * i + 2) },
      },
      { ...convAttrs(c), filterShape: c.filter } as tf.NamedAttrMap,
      `Conv2DBackpropFilter ${describe(c)}`,
    );
  }
});

/**
 * Filter gradients for the direct SIMD kernel (stride 1, NHWC, FH·FW·Ci ≤
 * DIRECT_MAX_TAPS, Co a multiple of 4): blocks of 32 output channels and
 * tails of 4, every padding; and just outside it (the im2col path).
 */
const DIRECT_CASES: ConvCase[] = [
  { x: [4, 28, 28, 1], filter: [3, 3, 1, 32], strides: 1, pad: "valid" },
  { x: [2, 9, 7, 3], filter: [3, 3, 3, 36], strides: 1, pad: "same" },
  {
    x: [2, 8, 8, 3],
    filter: [3, 3, 3, 40],
    strides: 1,
    pad: [[0, 0], [2, 0], [1, 3], [0, 0]],
  },
  {
    x: [1, 5, 5, 1],
    filter: [2, 2, 1, 64],
    strides: 1,
    pad: [[0, 0], [3, 4], [4, 3], [0, 0]],
  },
  { x: [3, 10, 12, 2], filter: [1, 3, 2, 12], strides: 1, pad: "same" },
  { x: [2, 6, 6, 1], filter: [5, 5, 1, 8], strides: 1, pad: 2 },
  { x: [1, 3, 3, 1], filter: [3, 3, 1, 4], strides: 1, pad: "valid" },
  // Rows of three taps over whole output rows, Co in eights (the row-taps
  // loop): several input channels; padding above and below only.
  { x: [2, 8, 10, 3], filter: [3, 3, 3, 16], strides: 1, pad: "valid" },
  {
    x: [1, 7, 9, 2],
    filter: [2, 3, 2, 8],
    strides: 1,
    pad: [[0, 0], [1, 1], [0, 0], [0, 0]],
  },
  // Outside: 28 taps, Co = 6, stride 2.
  { x: [1, 6, 6, 7], filter: [2, 2, 7, 8], strides: 1, pad: "valid" },
  { x: [2, 7, 7, 1], filter: [3, 3, 1, 6], strides: 1, pad: "same" },
  { x: [2, 9, 9, 1], filter: [3, 3, 1, 32], strides: 2, pad: "same" },
];

Deno.test("Conv2DBackpropFilter with few taps (the direct kernel) matches the cpu backend", async () => {
  for (const [i, c] of DIRECT_CASES.entries()) {
    const dy = dyShape(c);
    await compareKernel(
      "Conv2DBackpropFilter",
      {
        x: { shape: c.x, data: values(tf.util.sizeFromShape(c.x), 70 + i) },
        dy: { shape: dy, data: values(tf.util.sizeFromShape(dy), 90 + i) },
      },
      { ...convAttrs(c), filterShape: c.filter } as tf.NamedAttrMap,
      `direct Conv2DBackpropFilter ${describe(c)}`,
    );
  }
});

/** The filter-gradient strategy of a case, as the kernel chooses it. */
function pathOf(c: ConvCase, simd = true): FilterGradPath {
  const nchw = c.dataFormat === "NCHW";
  const info = tf.backend_util.computeConv2DInfo(
    c.x,
    c.filter,
    c.strides,
    1,
    c.pad,
    c.dimRoundingMode,
    false,
    nchw ? "channelsFirst" : "channelsLast",
  );
  return filterGradPath(info, simd);
}

Deno.test("filterGradPath: the cases above take every strategy, by shape", async () => {
  const taken = new Map<FilterGradPath, number>();
  for (const c of [...CONV_CASES, ...DIRECT_CASES]) {
    const path = pathOf(c);
    taken.set(path, (taken.get(path) ?? 0) + 1);
    // Without the SIMD module everything but the empty case is im2col.
    assertEquals(pathOf(c, false), "im2col", describe(c));
  }
  assert(
    (taken.get("winograd") ?? 0) >= 6,
    `winograd: ${taken.get("winograd")}`,
  );
  assert((taken.get("direct") ?? 0) >= 6, `direct: ${taken.get("direct")}`);
  assert((taken.get("im2col") ?? 0) >= 10, `im2col: ${taken.get("im2col")}`);
  const conv1 = { x: [2, 28, 28, 1], filter: [3, 3, 1, 32], strides: 1 };
  const conv2 = { x: [2, 26, 26, 32], filter: [3, 3, 32, 64], strides: 1 };
  assertEquals(pathOf({ ...conv1, pad: "valid" } as ConvCase), "direct");
  assertEquals(pathOf({ ...conv2, pad: "valid" } as ConvCase), "winograd");
  assertEquals(
    pathOf({ ...conv2, pad: "valid", dataFormat: "NCHW" } as ConvCase),
    "im2col",
  );
  assertEquals(
    pathOf({ ...conv2, strides: 2, pad: "same" } as ConvCase),
    "im2col",
  );
  // The empty path: a batch of none gives a gradient of zeros, like cpu.
  const empty: ConvCase = {
    x: [0, 5, 5, 16],
    filter: [3, 3, 16, 16],
    strides: 1,
    pad: "same",
  };
  assertEquals(pathOf(empty), "empty");
  await compareKernel(
    "Conv2DBackpropFilter",
    {
      x: { shape: empty.x, data: new Float32Array(0) },
      dy: { shape: [0, 5, 5, 16], data: new Float32Array(0) },
    },
    { ...convAttrs(empty), filterShape: empty.filter } as tf.NamedAttrMap,
    "Conv2DBackpropFilter of an empty batch",
  );
});

Deno.test("Conv2DBackpropInput matches the cpu backend", async () => {
  for (const [i, c] of CONV_CASES.entries()) {
    const dy = dyShape(c);
    await compareKernel(
      "Conv2DBackpropInput",
      {
        dy: { shape: dy, data: values(tf.util.sizeFromShape(dy), 3 * i + 1) },
        filter: {
          shape: c.filter,
          data: values(tf.util.sizeFromShape(c.filter), 3 * i + 2),
        },
      },
      { ...convAttrs(c), inputShape: c.x } as tf.NamedAttrMap,
      `Conv2DBackpropInput ${describe(c)}`,
    );
  }
});

const MATMUL_CASES: [number[], number[]][] = [
  // [a, b] shapes before transposition, as a·b. Tiny products without
  // broadcasting stay on the stock kernel; the larger ones below take each of
  // the XNNPACK paths: operand transposes, the swapped (op(B)ᵀ·op(A)ᵀ)ᵀ form,
  // a shared b folded into one product, and one product per batch entry.
  [[5, 7], [7, 3]],
  [[1, 1], [1, 1]],
  [[1, 6], [6, 1]],
  [[3, 4, 6], [3, 6, 5]],
  [[64, 300], [300, 40]],
  [[16, 64], [64, 512]],
  [[300, 1], [1, 70]],
  [[1, 40, 30], [1, 30, 20]],
  [[3, 40, 30], [3, 30, 20]],
  [[3, 40, 30], [1, 30, 20]],
  [[1, 40, 30], [3, 30, 20]],
  [[2, 1, 24, 32], [1, 3, 32, 24]],
  [[2, 3, 24, 32], [2, 3, 32, 24]],
  [[4, 40, 30], [30, 20]],
  [[40, 30], [2, 30, 20]],
  [[2, 4, 6], [1, 6, 5]],
  [[2, 1, 3, 4], [1, 3, 4, 2]],
  // Streamed (no packing; columns in eights): the dense layer at half a
  // batch, and rows that leave a tail of the 4-row blocks.
  [[64, 9216], [9216, 128]],
  [[13, 200], [200, 16]],
];

/**
 * Broadcasts `a` and `b` to their common outer (batch) shape. The cpu
 * backend's BatchMatMul broadcasts by index modulo batch size, which is wrong
 * when both operands broadcast (e.g. [2,1,…]·[1,3,…]); given full batches it
 * is a sound reference.
 */
function broadcastOuterDims(t: tf.NamedTensorMap): tf.NamedTensorMap {
  const { a, b } = t;
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(
    a.shape.slice(0, -2),
    b.shape.slice(0, -2),
  );
  return {
    a: tf.broadcastTo(a, [...outer, ...a.shape.slice(-2)]),
    b: tf.broadcastTo(b, [...outer, ...b.shape.slice(-2)]),
  };
}

/** `shape` with its last two dimensions swapped. */
function swapLast(shape: number[]): number[] {
  const s = [...shape];
  [s[s.length - 2], s[s.length - 1]] = [s[s.length - 1], s[s.length - 2]];
  return s;
}

Deno.test("BatchMatMul matches the cpu backend for all transposes", async () => {
  let seed = 1000;
  for (const [a, b] of MATMUL_CASES) {
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        const aShape = transposeA ? swapLast(a) : a;
        const bShape = transposeB ? swapLast(b) : b;
        await compareKernel(
          "BatchMatMul",
          {
            a: {
              shape: aShape,
              data: values(tf.util.sizeFromShape(aShape), seed++),
            },
            b: {
              shape: bShape,
              data: values(tf.util.sizeFromShape(bShape), seed++),
            },
          },
          { transposeA, transposeB },
          `BatchMatMul a=${aShape} b=${bShape} tA=${transposeA} tB=${transposeB}`,
          broadcastOuterDims,
        );
      }
    }
  }
});

Deno.test("a right operand streamed on its first product and packed from its second gives the same numbers", async () => {
  await tf.setBackend("wasm");
  const a = tf.tensor(values(37 * 300, 5), [37, 300]);
  const b = tf.tensor(values(300 * 24, 6), [300, 24]);
  const first = tf.matMul(a, b); // streamed
  const second = tf.matMul(a, b); // packed by XNNPACK, cached
  const third = tf.matMul(a, b); // from the cache
  const bt = tf.reshape(b, [24, 300]); // same data, another shape: streamed
  const fourth = tf.matMul(tf.slice(a, [0, 0], [37, 24]), bt);
  await tf.setBackend("cpu");
  const ref = tf.matMul(
    tf.tensor(values(37 * 300, 5), [37, 300]),
    tf.tensor(values(300 * 24, 6), [300, 24]),
  );
  const ref4 = tf.matMul(
    tf.slice(tf.tensor(values(37 * 300, 5), [37, 300]), [0, 0], [37, 24]),
    tf.tensor(values(300 * 24, 6), [24, 300]),
  );
  const expected = { shape: ref.shape, data: ref.dataSync() as Float32Array };
  for (const [i, t] of [first, second, third].entries()) {
    assertClose(
      { shape: t.shape, data: t.dataSync() as Float32Array },
      expected,
      `product ${i + 1}`,
    );
  }
  assertClose(
    { shape: fourth.shape, data: fourth.dataSync() as Float32Array },
    { shape: ref4.shape, data: ref4.dataSync() as Float32Array },
    "the same data read as another shape",
  );
  await tf.setBackend("wasm");
  tf.dispose([a, b, first, second, third, bt, fourth]);
});

interface PoolCase {
  x: Shape4;
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: Pad;
  dimRoundingMode?: "floor" | "round" | "ceil";
}

const POOL_CASES: PoolCase[] = [
  // The tutorial's pooling layer, scaled down in batch.
  { x: [4, 24, 24, 64], filterSize: 2, strides: 2, pad: "valid" },
  // 2×2 tiling with channels in fours (the SIMD kernel); even "same" has no pad.
  { x: [2, 6, 8, 4], filterSize: 2, strides: 2, pad: "valid" },
  { x: [1, 4, 10, 12], filterSize: 2, strides: 2, pad: "same" },
  // Batch 1, one channel, odd sizes (a trailing row and column unused).
  { x: [1, 7, 9, 1], filterSize: 2, strides: 2, pad: "valid" },
  { x: [1, 7, 9, 1], filterSize: 2, strides: 2, pad: "same" },
  { x: [3, 9, 7, 5], filterSize: 2, strides: 2, pad: "same" },
  { x: [2, 8, 8, 3], filterSize: 2, strides: 2, pad: "same" },
  { x: [2, 9, 9, 4], filterSize: 3, strides: 3, pad: "valid" },
  { x: [2, 10, 11, 4], filterSize: 3, strides: 3, pad: "same" },
  // Overlapping windows: stride 1 and 2 with pool 2 and 3.
  { x: [1, 6, 5, 1], filterSize: 2, strides: 1, pad: "valid" },
  { x: [2, 7, 6, 3], filterSize: 2, strides: 1, pad: "same" },
  { x: [2, 9, 8, 6], filterSize: 3, strides: 1, pad: "same" },
  { x: [3, 8, 9, 2], filterSize: 3, strides: 1, pad: "valid" },
  { x: [2, 9, 9, 3], filterSize: 3, strides: 2, pad: "valid" },
  { x: [2, 10, 7, 16], filterSize: 3, strides: 2, pad: "same" },
  // Rectangular windows and strides, strides larger than the window.
  { x: [2, 9, 10, 3], filterSize: [3, 2], strides: [2, 1], pad: "same" },
  { x: [2, 11, 8, 2], filterSize: [2, 3], strides: [3, 2], pad: "valid" },
  { x: [1, 10, 10, 3], filterSize: 2, strides: 3, pad: "valid" },
  { x: [2, 11, 9, 2], filterSize: 2, strides: 3, pad: "same" },
  // Numeric and explicit padding, with rounding modes.
  { x: [2, 7, 7, 3], filterSize: 3, strides: 1, pad: 1 },
  {
    x: [2, 6, 6, 2],
    filterSize: 3,
    strides: 2,
    pad: 1,
    dimRoundingMode: "ceil",
  },
  {
    x: [2, 8, 8, 2],
    filterSize: 2,
    strides: 2,
    pad: 1,
    dimRoundingMode: "floor",
  },
  {
    x: [2, 7, 6, 3],
    filterSize: 3,
    strides: 1,
    pad: [[0, 0], [1, 2], [0, 1], [0, 0]],
  },
  {
    x: [1, 6, 7, 2],
    filterSize: 2,
    strides: 2,
    pad: [[0, 0], [1, 0], [0, 1], [0, 0]],
  },
];

function describePool(c: PoolCase): string {
  return `x=${c.x} f=${c.filterSize} s=${c.strides} ` +
    `pad=${JSON.stringify(c.pad)}` +
    (c.dimRoundingMode ? ` round=${c.dimRoundingMode}` : "");
}

/**
 * Inputs for the pooling tests: plain random values, ReLU'd values (many
 * zero ties), small integers (ties everywhere) and non-finite values.
 */
const POOL_INPUTS: [string, (size: number, seed: number) => Float32Array][] = [
  ["random", values],
  ["relu", (size, seed) => values(size, seed).map((v) => Math.max(0, v))],
  ["integer", (size, seed) => values(size, seed).map((v) => Math.floor(v * 3))],
  // Infinities and NaNs (a window of only NaNs and -Infinity passes nothing).
  [
    "special",
    (size, seed) =>
      values(size, seed).map((v, i) =>
        [NaN, -Infinity, Infinity, NaN, -Infinity][i % 7] ?? Math.floor(v * 2)
      ),
  ],
];

/** Asserts bitwise equality (the pooling gradient involves no rounding). */
function assertSame(
  actual: { shape: number[]; data: Float32Array },
  expected: { shape: number[]; data: Float32Array },
  what: string,
): void {
  assertEquals(actual.shape, expected.shape, `${what}: shape`);
  for (let i = 0; i < expected.data.length; i++) {
    if (!Object.is(actual.data[i], expected.data[i])) {
      throw new Error(
        `${what}: element ${i}: wasm ${actual.data[i]}, cpu ${
          expected.data[i]
        }`,
      );
    }
  }
}

Deno.test("MaxPoolGrad matches the cpu backend exactly, ties included", async () => {
  let seed = 100;
  for (const c of POOL_CASES) {
    const info = tf.backend_util.computePool2DInfo(
      c.x,
      c.filterSize,
      c.strides,
      1,
      c.pad,
      c.dimRoundingMode,
    );
    for (const [kind, make] of POOL_INPUTS) {
      const x = make(tf.util.sizeFromShape(c.x), seed++);
      const dy = values(tf.util.sizeFromShape(info.outShape), seed++);
      const attrs = {
        filterSize: c.filterSize,
        strides: c.strides,
        pad: c.pad,
        dimRoundingMode: c.dimRoundingMode,
      } as unknown as tf.NamedAttrMap;
      // `output` is unused by both backends' kernels; any tensor will do.
      const inputs = {
        dy: { shape: info.outShape, data: dy },
        input: { shape: c.x, data: x },
        output: { shape: info.outShape, data: dy },
      };
      const what = `${describePool(c)} ${kind}`;
      const expected = await run("cpu", "MaxPoolGrad", inputs, attrs);
      const actual = await run("wasm", "MaxPoolGrad", inputs, attrs);
      assertSame(actual, expected, what);
    }
  }
});

const SUM_CASES: [number[], number | number[], boolean][] = [
  [[128, 24, 24, 64], [0, 1, 2], false], // conv2's bias gradient
  [[128, 26, 26, 32], [0, 1, 2], false], // conv1's
  [[128, 128], 0, false], // dense's
  [[5, 3], [0], true],
  [[7, 1, 3], 0, false], // rows not a multiple of four
  [[2, 3, 4], [1, 0], true], // unsorted prefix
  [[2, 3, 4], [-3, -2], false], // negative axes
  [[1, 9], [0], false],
  [[4, 6], [1], false], // not a prefix: the stock kernel
  [[9216, 128], [0, 1], false], // all axes: the dense kernel's finiteness check
  [[4, 6], [0, 1], true], // all axes in columns of 4, kept
  [[3, 3, 1, 32], [0, 1, 2, 3], false],
  [[3, 5], [0, 1], false], // all axes, 15 floats: the stock kernel
];

Deno.test("Sum over leading axes, and over all of them, matches the cpu backend", async () => {
  for (const [i, [shape, axis, keepDims]] of SUM_CASES.entries()) {
    await compareKernel(
      "Sum",
      { x: { shape, data: values(tf.util.sizeFromShape(shape), 40 + i) } },
      { axis, keepDims } as unknown as tf.NamedAttrMap,
      `Sum ${JSON.stringify(shape)} axis ${
        JSON.stringify(axis)
      } keepDims ${keepDims}`,
    );
  }
  // A non-finite element makes the whole sum so, as the check relies on.
  for (const bad of [NaN, Infinity, -Infinity]) {
    const data = values(64 * 128, 3);
    data[4321] = bad;
    const sum = tf.sum(tf.tensor(data, [64, 128]));
    assert(!Number.isFinite((await sum.data())[0]), `sum with ${bad}`);
    sum.dispose();
  }
});

Deno.test("Identity shares the data, outlives its input, and frees it once", async () => {
  await tf.setBackend("wasm");
  const before = tf.memory().numBytes;
  for (const dtype of ["float32", "int32", "bool"] as const) {
    const x = tf.tensor([1, 0, 3, 4], [2, 2], dtype);
    const y = tf.engine().runKernel("Identity", { x }) as tf.Tensor;
    assert(y.dataId === x.dataId, `${dtype}: the clone shares the data`);
    assertEquals(y.shape, [2, 2]);
    assertEquals(y.dtype, dtype);
    x.dispose();
    assertEquals(
      Array.from(await y.data()),
      dtype === "bool" ? [1, 0, 1, 1] : [1, 0, 3, 4],
    );
    y.dispose();
  }
  // Strings live outside the heap: the stock kernel copies them.
  const s = tf.tensor(["a", "b"]);
  const t = tf.engine().runKernel("Identity", { x: s }) as tf.Tensor;
  s.dispose();
  assertEquals(await t.data(), ["a", "b"]);
  t.dispose();
  assertEquals(tf.memory().numBytes, before, "every byte freed");
  // A gradient through saved (cloned) tensors is still the cpu backend's.
  const grad = async (backend: "cpu" | "wasm") => {
    await tf.setBackend(backend);
    return tf.tidy(() => {
      const x = tf.tensor(values(2 * 6 * 6 * 3, 7), [2, 6, 6, 3]);
      const g = tf.grad((v: tf.Tensor) =>
        tf.sum(tf.square(tf.relu(tf.maxPool(v as tf.Tensor4D, 2, 2, 0))))
      )(x);
      return { shape: g.shape, data: g.dataSync() as Float32Array };
    });
  };
  assertClose(await grad("wasm"), await grad("cpu"), "relu∘maxPool grad");
  await tf.setBackend("wasm");
});

Deno.test("Cast of float32 or int32 to its own dtype shares the data; to bool it is x ≠ 0; others match the cpu backend", async () => {
  await tf.setBackend("wasm");
  const before = tf.memory().numBytes;
  for (const dtype of ["float32", "int32"] as const) {
    const x = tf.tensor([1.5, 0, -3, 4], [2, 2], dtype);
    const y = tf.cast(x, dtype);
    assert(y.dataId === x.dataId, `${dtype}: shared`);
    x.dispose();
    assertEquals(
      Array.from(await y.data()),
      dtype === "int32" ? [1, 0, -3, 4] : [1.5, 0, -3, 4],
    );
    y.dispose();
  }
  const cases: [number[], tf.DataType, tf.DataType][] = [
    [[1.5, 0, -3.7, 4], "float32", "int32"],
    [[1.5, 0, -3.7, 256], "float32", "bool"], // the stock kernel: 1 0 253 0
    [[7, 0, -1, 512], "int32", "bool"],
    [[2, 0, -3, 4], "int32", "float32"],
    [[1.5, 0, -3, 4], "bool", "bool"], // stored bytes 1, 0, 253, 4: made 0/1
  ];
  for (const [values, from, to] of cases) {
    const x = tf.tensor(values, [4], from);
    const y = tf.cast(x, to);
    x.dispose();
    const expected = await onCpu(() =>
      tf.tidy(() =>
        Array.from(tf.cast(tf.tensor(values, [4], from), to).dataSync())
      )
    );
    assertEquals(Array.from(await y.data()), expected, `${from} → ${to}`);
    y.dispose();
  }
  assertEquals(tf.memory().numBytes, before, "every byte freed");
});

Deno.test("the kernels free all their intermediates", () => {
  const backend = tf.backend();
  const x = tf.tensor(values(2 * 9 * 9 * 3, 1), [2, 9, 9, 3]);
  const f = tf.tensor(values(3 * 3 * 3 * 4, 2), [3, 3, 3, 4]);
  // Big enough for the XNNPACK paths (tiny products use the stock kernel).
  const a = tf.tensor(values(3 * 40 * 30, 3), [3, 40, 30]);
  const b = tf.tensor(values(3 * 20 * 30, 4), [3, 20, 30]);
  const c = tf.tensor(values(3 * 20 * 40, 5), [3, 20, 40]);
  const tall = tf.tensor(values(200 * 30, 6), [200, 30]);
  const step = () =>
    tf.tidy(() => {
      for (const strides of [1, 2] as const) {
        const g = tf.grads((xx: tf.Tensor, ff: tf.Tensor) =>
          tf.conv2d(xx as tf.Tensor4D, ff as tf.Tensor4D, strides, "same")
            .sum()
        );
        g([x, f]).forEach((t) => t.dataSync());
      }
      for (const strides of [1, 2] as const) {
        tf.grad((xx: tf.Tensor) =>
          tf.maxPool(xx as tf.Tensor4D, 2, strides, "same").sum()
        )(x).dataSync();
      }
      const a2 = a.reshape([120, 30]);
      tf.matMul(a, c, true, true).dataSync();
      tf.matMul(a, b, false, true).dataSync();
      tf.matMul(a2, b.reshape([60, 30]), false, true).dataSync();
      tf.matMul(a2, a2, true, false).dataSync();
      tf.matMul(a2.slice(0, 16), tall, false, true).dataSync(); // swapped
      tf.matMul(a, b.reshape([60, 30]).transpose().slice(0, [30, 20]))
        .dataSync();
    });
  step();
  const tensors = tf.memory().numTensors;
  const dataIds = backend.numDataIds();
  for (let i = 0; i < 3; i++) step();
  assertEquals(tf.memory().numTensors, tensors);
  assertEquals(backend.numDataIds(), dataIds);
  tf.dispose([x, f, a, b, c, tall]);
});

Deno.test("a small conv net trains on wasm with matching gradients", async () => {
  const batch = 8;
  const xs = values(batch * 12 * 12, 11);
  const labels = new Int32Array(batch).map((_, i) => i % 3);
  const init = {
    w1: { shape: [3, 3, 1, 4], data: values(36, 12).map((v) => v * 0.5) },
    w2: { shape: [3, 3, 4, 6], data: values(216, 13).map((v) => v * 0.3) },
    w3: { shape: [6 * 5 * 5, 3], data: values(450, 14).map((v) => v * 0.1) },
  };

  function makeModel() {
    const vars = {
      w1: tf.variable(tf.tensor(init.w1.data, init.w1.shape)),
      w2: tf.variable(tf.tensor(init.w2.data, init.w2.shape)),
      w3: tf.variable(tf.tensor(init.w3.data, init.w3.shape)),
    };
    const x = tf.tensor4d(xs, [batch, 12, 12, 1]);
    const y = tf.oneHot(tf.tensor1d(labels, "int32"), 3);
    const loss = () =>
      tf.tidy(() => {
        const h1 = tf.relu(tf.conv2d(x, vars.w1 as tf.Tensor4D, 1, "valid"));
        const h2 = tf.relu(tf.conv2d(h1, vars.w2 as tf.Tensor4D, 2, "same"));
        const logits = tf.matMul(h2.reshape([batch, -1]), vars.w3);
        return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
      });
    return {
      vars,
      loss,
      dispose: () => tf.dispose([x, y, ...Object.values(vars)]),
    };
  }

  async function firstGrads(backend: "cpu" | "wasm") {
    await tf.setBackend(backend);
    const model = makeModel();
    try {
      const { grads } = tf.variableGrads(model.loss);
      const out: Record<string, { shape: number[]; data: Float32Array }> = {};
      for (const [name, v] of Object.entries(model.vars)) {
        const g = grads[v.name];
        out[name] = { shape: g.shape, data: g.dataSync() as Float32Array };
      }
      tf.dispose(grads);
      return out;
    } finally {
      model.dispose();
      await tf.setBackend("wasm");
    }
  }

  const expected = await firstGrads("cpu");
  const actual = await firstGrads("wasm");
  for (const name of Object.keys(expected)) {
    assertClose(actual[name], expected[name], `gradient of ${name}`);
  }

  // Train a few SGD steps on wasm: the loss must go down.
  const model = makeModel();
  const optimizer = tf.train.sgd(0.5);
  const losses: number[] = [];
  for (let step = 0; step < 8; step++) {
    const cost = optimizer.minimize(model.loss, true)!;
    losses.push(cost.dataSync()[0]);
    cost.dispose();
  }
  optimizer.dispose();
  model.dispose();
  assert(losses.every(Number.isFinite), `losses: ${losses}`);
  assert(
    losses[losses.length - 1] < 0.7 * losses[0],
    `loss did not fall: ${losses.map((l) => l.toFixed(4))}`,
  );
});

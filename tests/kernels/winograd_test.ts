/**
 * Checks the Winograd convolutions of `lib/kernels/winograd.ts`, F(2x2,3x3)
 * and F(4x4,3x3), each in its SIMD128 build and (where the runtime has
 * relaxed SIMD) its fused multiply-add build, against the `cpu` backend on
 * many shapes and paddings; measures their rounding error against a float64
 * reference (which justifies the tolerance of those checks); checks that
 * they free their intermediates. The SIMD module's binaries and their
 * rebuild are checked in `simd/simd_test.ts`.
 *
 * Run: `deno test --allow-read --allow-env tests/kernels/winograd_test.ts`
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { assert, assertEquals, assertThrows } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import {
  canUseWinograd,
  type Pads,
  winogradBackprop3x3,
  winogradBackpropFilter3x3,
  winogradBackpropInput3x3,
  winogradConv3x3,
  winogradForwardProfitable,
  type WinogradOptions,
  winogradProfitable,
} from "../../lib/kernels/winograd.ts";
import {
  relaxedSimdSupported,
  simdAvailable,
} from "../../lib/kernels/simd/simd.ts";
import {
  F2,
  F4,
  F6,
  OUTER_TILES,
  type WinogradTile,
} from "../../lib/kernels/simd/tiles.ts";
import { assertClose, onCpu, values } from "../helpers.ts";

await initBackend();

/** conv2d on the cpu backend, stride 1, explicit padding. */
function reference(
  x: Float32Array,
  xShape: number[],
  f: Float32Array,
  fShape: number[],
  pads: Pads,
): Promise<{ shape: number[]; data: Float32Array }> {
  return onCpu(() =>
    tf.tidy(() => {
      const out = tf.conv2d(
        tf.tensor4d(x, xShape as [number, number, number, number]),
        tf.tensor4d(f, fShape as [number, number, number, number]),
        1,
        [[0, 0], [pads.top, pads.bottom], [pads.left, pads.right], [0, 0]],
      );
      return { shape: out.shape, data: out.dataSync() as Float32Array };
    })
  );
}

/**
 * Every variant: each tile size, each in the SIMD128 build and, where the
 * runtime has relaxed SIMD, the fused multiply-add build.
 */
const VARIANTS: WinogradOptions[] = [
  { tile: 2, fma: false },
  { tile: 4, fma: false },
  { tile: 6, fma: false },
  ...(relaxedSimdSupported()
    ? [
      { tile: 2, fma: true },
      { tile: 4, fma: true },
      { tile: 6, fma: true },
    ] as const
    : []),
];

function variantName(o: WinogradOptions): string {
  return `F(${o.tile}x${o.tile}) ${o.fma ? "fma" : "simd"}`;
}

/** winogradConv3x3 on the wasm backend; checks it leaks nothing. */
function winograd(
  x: Float32Array,
  xShape: number[],
  f: Float32Array,
  fShape: number[],
  pads: Pads,
  options: WinogradOptions,
): { shape: number[]; data: Float32Array } {
  const backend = tf.backend() as BackendWasm;
  const xt = tf.tensor(x, xShape, "float32");
  const ft = tf.tensor(f, fShape, "float32");
  // A tensor allocated before must come out untouched (no stray writes).
  const sentinel = tf.fill([4096], 7.5);
  const before = backend.numDataIds();
  const out = winogradConv3x3(
    backend,
    { dataId: xt.dataId, shape: xt.shape, dtype: "float32" },
    { dataId: ft.dataId, shape: ft.shape, dtype: "float32" },
    pads,
    options,
  );
  assertEquals(backend.numDataIds(), before + 1, "intermediates freed");
  assert(
    (sentinel.dataSync() as Float32Array).every((v) => v === 7.5),
    "other tensors untouched",
  );
  sentinel.dispose();
  const data = new Float32Array(backend.typedArrayFromHeap(out));
  backend.disposeData(out.dataId);
  xt.dispose();
  ft.dispose();
  return { shape: out.shape, data };
}

async function check(
  xShape: number[],
  cout: number,
  pads: Pads,
  chunkTiles?: number,
): Promise<void> {
  const what = `x ${xShape} cout ${cout} pads ${pads.top},${pads.bottom},` +
    `${pads.left},${pads.right} chunk ${chunkTiles ?? "default"}`;
  const fShape = [3, 3, xShape[3], cout];
  const x = values(
    tf.util.sizeFromShape(xShape),
    xShape.reduce((a, b) => a * 31 + b),
  );
  const f = values(tf.util.sizeFromShape(fShape), cout * 7 + 3);
  const expected = await reference(x, xShape, f, fShape, pads);
  for (const variant of VARIANTS) {
    const options = { ...variant, chunkTiles };
    if (xShape[3] === 1 && !OUTER_TILES.includes(variant.tile!)) {
      // A first layer's transform exists for F(2x2) and F(4x4) only: a
      // clear error, before anything is allocated.
      const [xt, ft] = [tf.tensor(x, xShape), tf.tensor(f, fShape)];
      const backend = tf.backend() as BackendWasm;
      const before = backend.numDataIds();
      assertThrows(
        () => winogradConv3x3(backend, xt, ft, pads, options),
        RangeError,
        "no one-input-channel transform",
      );
      assertEquals(backend.numDataIds(), before);
      tf.dispose([xt, ft]);
      continue;
    }
    const actual = winograd(x, xShape, f, fShape, pads, options);
    assertClose(actual, expected, `${variantName(variant)} ${what}`);
  }
}

const P0: Pads = { top: 0, bottom: 0, left: 0, right: 0 };
const P1: Pads = { top: 1, bottom: 1, left: 1, right: 1 };
const P2: Pads = { top: 2, bottom: 2, left: 2, right: 2 };

Deno.test("winograd: small shapes, every channel count and padding", async () => {
  const pads: Pads[] = [
    P0,
    P1,
    P2,
    { top: 0, bottom: 1, left: 1, right: 0 },
    { top: 2, bottom: 0, left: 0, right: 1 },
    { top: 1, bottom: 2, left: 2, right: 0 },
  ];
  for (const [h, w] of [[5, 5], [7, 9], [3, 3], [4, 6], [1, 2]]) {
    for (const batch of [1, 2]) {
      for (const cin of [1, 3, 32]) {
        for (const cout of [1, 5, 64]) {
          for (const pad of pads) {
            if (h + pad.top + pad.bottom < 3 || w + pad.left + pad.right < 3) {
              continue;
            }
            await check([batch, h, w, cin], cout, pad);
          }
        }
      }
    }
  }
});

Deno.test("winograd: odd channel counts and chunk boundaries", async () => {
  await check([3, 7, 9, 6], 7, { top: 1, bottom: 0, left: 2, right: 1 }, 5);
  await check([2, 9, 8, 13], 17, P1, 1);
  await check([2, 11, 11, 32], 64, P0, 7);
  await check([1, 5, 5, 4], 8, P2, 2);
});

Deno.test("winograd: the MNIST CNN's conv2 shapes", async () => {
  await check([2, 26, 26, 32], 64, P0); // forward
  await check([2, 24, 24, 64], 32, P2); // input gradient
  await check([3, 28, 28, 32], 64, P1); // "same"
  await check([2, 26, 26, 32], 64, P0, 100);
});

/** The filter gradient on the cpu backend, stride 1, explicit padding. */
function referenceGrad(
  x: Float32Array,
  xShape: number[],
  dy: Float32Array,
  dyShape: number[],
  pads: Pads,
): Promise<{ shape: number[]; data: Float32Array }> {
  return onCpu(() =>
    tf.tidy(() => {
      const out = tf.engine().runKernel("Conv2DBackpropFilter", {
        x: tf.tensor(x, xShape),
        dy: tf.tensor(dy, dyShape),
      }, {
        strides: 1,
        pad: [[0, 0], [pads.top, pads.bottom], [pads.left, pads.right], [
          0,
          0,
        ]],
        dataFormat: "NHWC",
        filterShape: [3, 3, xShape[3], dyShape[3]],
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
      return { shape: out.shape, data: out.dataSync() as Float32Array };
    })
  );
}

/**
 * Runs `run` (one kernel call on fresh float32 tensors of `inputs`) in every
 * variant and checks that it frees its intermediates, leaves other tensors
 * alone and matches `expected`.
 */
function checkVariants(
  what: string,
  inputs: [Float32Array, number[]][],
  expected: { shape: number[]; data: Float32Array },
  run: (tensors: tf.Tensor[], variant: WinogradOptions) => tf.TensorInfo,
): void {
  const backend = tf.backend() as BackendWasm;
  for (const variant of VARIANTS) {
    const name = `${variantName(variant)} ${what}`;
    const tensors = inputs.map(([data, shape]) =>
      tf.tensor(data, shape, "float32")
    );
    const sentinel = tf.fill([4096], 7.5);
    const before = backend.numDataIds();
    const out = run(tensors, variant);
    assertEquals(backend.numDataIds(), before + 1, `${name}: freed`);
    assert(
      (sentinel.dataSync() as Float32Array).every((v) => v === 7.5),
      `${name}: other tensors untouched`,
    );
    const actual = {
      shape: out.shape,
      data: new Float32Array(backend.typedArrayFromHeap(out)),
    };
    backend.disposeData(out.dataId);
    tf.dispose([...tensors, sentinel]);
    assertClose(actual, expected, name);
  }
}

async function checkGrad(
  xShape: number[],
  cout: number,
  pads: Pads,
  chunkTiles?: number,
): Promise<void> {
  const what = `grad x ${xShape} cout ${cout} pads ${pads.top},` +
    `${pads.bottom},${pads.left},${pads.right} chunk ${
      chunkTiles ?? "default"
    }`;
  const dyShape = [
    xShape[0],
    xShape[1] + pads.top + pads.bottom - 2,
    xShape[2] + pads.left + pads.right - 2,
    cout,
  ];
  const x = values(tf.util.sizeFromShape(xShape), xShape[1] * 13 + cout);
  const dy = values(tf.util.sizeFromShape(dyShape), cout * 5 + 1);
  const expected = await referenceGrad(x, xShape, dy, dyShape, pads);
  const backend = tf.backend() as BackendWasm;
  checkVariants(
    what,
    [[x, xShape], [dy, dyShape]],
    expected,
    ([xt, dyt], v) =>
      winogradBackpropFilter3x3(backend, xt, dyt, pads, { ...v, chunkTiles }),
  );
}

/**
 * The gradient checks' small cases: [x shape, output channels, pads] over
 * sides, channel counts and paddings, every output at least 1×1.
 */
function gradientSweep(): [number[], number, Pads][] {
  const pads: Pads[] = [
    P0,
    P1,
    P2,
    { top: 0, bottom: 1, left: 1, right: 0 },
    { top: 2, bottom: 0, left: 0, right: 1 },
  ];
  const cases: [number[], number, Pads][] = [];
  for (const [h, w] of [[5, 5], [7, 9], [3, 3], [4, 6], [1, 2]]) {
    for (const [cin, cout] of [[1, 1], [3, 5], [16, 16], [17, 33]]) {
      for (const pad of pads) {
        if (h + pad.top + pad.bottom >= 3 && w + pad.left + pad.right >= 3) {
          cases.push([[2, h, w, cin], cout, pad]);
        }
      }
    }
  }
  return cases;
}

Deno.test("winograd filter gradient: shapes, channel counts, pads, chunks", async () => {
  for (const [xShape, cout, pad] of gradientSweep()) {
    await checkGrad(xShape, cout, pad);
  }
  await checkGrad([3, 7, 9, 6], 7, { top: 1, bottom: 0, left: 2, right: 1 }, 5);
  await checkGrad([2, 9, 8, 19], 18, P1, 1);
  await checkGrad([2, 11, 11, 32], 64, P0, 7);
  await checkGrad([2, 26, 26, 32], 64, P0); // the MNIST CNN's conv2
  await checkGrad([1, 9, 9, 20], 24, P2, 6);
  const backend = tf.backend() as BackendWasm;
  tf.tidy(() => {
    const x = tf.zeros([1, 8, 8, 3]);
    assertThrows(() =>
      winogradBackpropFilter3x3(backend, x, tf.zeros([1, 5, 6, 4]), P0)
    );
    assertThrows(() =>
      winogradBackpropFilter3x3(backend, x, tf.zeros([1, 6, 6, 4], "int32"), P0)
    );
  });
});

/** Conv2DBackpropInput on the cpu backend, stride 1, explicit padding. */
function referenceInputGrad(
  dy: Float32Array,
  dyShape: number[],
  f: Float32Array,
  fShape: number[],
  xShape: number[],
  pads: Pads,
): Promise<{ shape: number[]; data: Float32Array }> {
  return onCpu(() =>
    tf.tidy(() => {
      const out = tf.conv2dTranspose(
        tf.tensor4d(dy, dyShape as [number, number, number, number]),
        tf.tensor4d(f, fShape as [number, number, number, number]),
        xShape as [number, number, number, number],
        1,
        [[0, 0], [pads.top, pads.bottom], [pads.left, pads.right], [0, 0]],
      );
      return { shape: out.shape, data: out.dataSync() as Float32Array };
    })
  );
}

async function checkInputGrad(
  xShape: number[],
  cout: number,
  pads: Pads,
  chunkTiles?: number,
): Promise<void> {
  const what = `input grad x ${xShape} cout ${cout} pads ${pads.top},` +
    `${pads.bottom},${pads.left},${pads.right} chunk ${
      chunkTiles ?? "default"
    }`;
  const dyShape = [
    xShape[0],
    xShape[1] + pads.top + pads.bottom - 2,
    xShape[2] + pads.left + pads.right - 2,
    cout,
  ];
  const fShape = [3, 3, xShape[3], cout];
  const dy = values(tf.util.sizeFromShape(dyShape), cout * 7 + 3);
  const f = values(tf.util.sizeFromShape(fShape), xShape[3] * 11 + 2);
  const expected = await referenceInputGrad(
    dy,
    dyShape,
    f,
    fShape,
    xShape,
    pads,
  );
  const backend = tf.backend() as BackendWasm;
  checkVariants(
    what,
    [[dy, dyShape], [f, fShape]],
    expected,
    ([dyt, ft], v) =>
      winogradBackpropInput3x3(backend, dyt, ft, xShape, pads, {
        ...v,
        chunkTiles,
      }),
  );
}

Deno.test("winograd input gradient (the forward pass's adjoint): shapes, channel counts, pads, chunks", async () => {
  for (const [xShape, cout, pad] of gradientSweep()) {
    await checkInputGrad(xShape, cout, pad);
  }
  await checkInputGrad([3, 7, 9, 6], 7, {
    top: 1,
    bottom: 0,
    left: 2,
    right: 1,
  }, 5);
  await checkInputGrad([2, 9, 8, 19], 18, P1, 1);
  await checkInputGrad([2, 26, 26, 32], 64, P0, 7); // the MNIST CNN's conv2
  await checkInputGrad([2, 26, 26, 32], 64, P0);
  const backend = tf.backend() as BackendWasm;
  tf.tidy(() => {
    const f = tf.zeros([3, 3, 3, 4]);
    // dy does not fit the forward shapes; the wrong dtype.
    assertThrows(() =>
      winogradBackpropInput3x3(
        backend,
        tf.zeros([1, 5, 6, 4]),
        f,
        [1, 8, 8, 3],
        P0,
      )
    );
    assertThrows(() =>
      winogradBackpropInput3x3(backend, tf.zeros([1, 6, 6, 4], "int32"), f, [
        1,
        8,
        8,
        3,
      ], P0)
    );
  });
});

Deno.test("winograd: both gradients in one pass match the cpu backend's", async () => {
  const backend = tf.backend() as BackendWasm;
  const cases: [number[], number, Pads, number?][] = [
    [[2, 26, 26, 32], 64, P0], // the MNIST CNN's conv2
    [[2, 26, 26, 32], 64, P0, 7],
    [[3, 7, 9, 17], 33, { top: 1, bottom: 0, left: 2, right: 1 }, 5],
    [[2, 5, 5, 16], 16, P1],
    [[1, 3, 3, 3], 5, P2, 1],
  ];
  for (const [xShape, cout, pads, chunkTiles] of cases) {
    const [oh, ow] = outSize(xShape, pads);
    const dyShape = [xShape[0], oh, ow, cout], fShape = [3, 3, xShape[3], cout];
    const x = values(tf.util.sizeFromShape(xShape), 21);
    const dy = values(tf.util.sizeFromShape(dyShape), 22);
    const f = values(tf.util.sizeFromShape(fShape), 23);
    const wantDx = await referenceInputGrad(
      dy,
      dyShape,
      f,
      fShape,
      xShape,
      pads,
    );
    const wantDw = await referenceGrad(x, xShape, dy, dyShape, pads);
    for (const variant of VARIANTS) {
      const name = `${variantName(variant)} both x ${xShape} cout ${cout} ` +
        `pads ${JSON.stringify(pads)} chunk ${chunkTiles ?? "default"}`;
      const [xt, dyt, ft] = [[x, xShape], [dy, dyShape], [f, fShape]].map((
        [v, s],
      ) => tf.tensor(v as Float32Array, s as number[], "float32"));
      const before = backend.numDataIds();
      const got = winogradBackprop3x3(backend, xt, dyt, ft, pads, {
        ...variant,
        chunkTiles,
      });
      assertEquals(backend.numDataIds(), before + 2, `${name}: freed`);
      const read = (info: tf.TensorInfo) => {
        const data = new Float32Array(backend.typedArrayFromHeap(info));
        backend.disposeData(info.dataId);
        return { shape: info.shape, data };
      };
      assertClose(read(got.dx), wantDx, `${name}: dx`);
      assertClose(read(got.filter), wantDw, `${name}: filter`);
      tf.dispose([xt, dyt, ft]);
    }
  }
  tf.tidy(() => {
    const x = tf.zeros([1, 8, 8, 3]);
    assertThrows(() =>
      winogradBackprop3x3(
        backend,
        x,
        tf.zeros([1, 6, 6, 4]),
        tf.zeros([3, 3, 2, 4]),
        P0,
      )
    );
  });
});

/** Output side of a stride-1 3x3 convolution. */
function outSize(xShape: number[], pads: Pads): [number, number] {
  return [
    xShape[1] + pads.top + pads.bottom - 2,
    xShape[2] + pads.left + pads.right - 2,
  ];
}

/**
 * Visits every (output pixel, tap) pair of a stride-1 3x3 convolution whose
 * input pixel is inside x: `visit(o, xi, fi)` with o the output pixel's
 * offset (× cout), xi the input pixel's offset (× cin) and fi the tap's
 * filter offset (× cin·cout).
 */
function forEachTap(
  xShape: number[],
  pads: Pads,
  cout: number,
  visit: (o: number, xi: number, fi: number) => void,
): void {
  const [n, h, w, cin] = xShape;
  const [oh, ow] = outSize(xShape, pads);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const o = ((b * oh + i) * ow + j) * cout;
        for (let ky = 0; ky < 3; ky++) {
          const r = i + ky - pads.top;
          if (r < 0 || r >= h) continue;
          for (let kx = 0; kx < 3; kx++) {
            const c = j + kx - pads.left;
            if (c < 0 || c >= w) continue;
            visit(o, ((b * h + r) * w + c) * cin, (ky * 3 + kx) * cin * cout);
          }
        }
      }
    }
  }
}

/** The stride-1 3x3 convolution in float64, directly. */
function conv64(
  x: Float32Array,
  xShape: number[],
  f: Float32Array,
  cout: number,
  pads: Pads,
): Float64Array {
  const [n, , , cin] = xShape;
  const [oh, ow] = outSize(xShape, pads);
  const y = new Float64Array(n * oh * ow * cout);
  forEachTap(xShape, pads, cout, (o, xi, fi) => {
    for (let ci = 0; ci < cin; ci++) {
      const xv = x[xi + ci];
      const fo = fi + ci * cout;
      for (let co = 0; co < cout; co++) y[o + co] += xv * f[fo + co];
    }
  });
  return y;
}

/** The filter gradient of that convolution in float64, directly. */
function grad64(
  x: Float32Array,
  xShape: number[],
  dy: Float32Array,
  cout: number,
  pads: Pads,
): Float64Array {
  const cin = xShape[3];
  const g = new Float64Array(9 * cin * cout);
  forEachTap(xShape, pads, cout, (d, xi, gi) => {
    for (let ci = 0; ci < cin; ci++) {
      const xv = x[xi + ci];
      const go = gi + ci * cout;
      for (let co = 0; co < cout; co++) g[go + co] += xv * dy[d + co];
    }
  });
  return g;
}

/** The input gradient of that convolution in float64, directly. */
function inputGrad64(
  dy: Float32Array,
  xShape: number[],
  f: Float32Array,
  cout: number,
  pads: Pads,
): Float64Array {
  const cin = xShape[3];
  const dx = new Float64Array(tf.util.sizeFromShape(xShape));
  forEachTap(xShape, pads, cout, (d, xi, fi) => {
    for (let ci = 0; ci < cin; ci++) {
      const fo = fi + ci * cout;
      let sum = 0;
      for (let co = 0; co < cout; co++) sum += dy[d + co] * f[fo + co];
      dx[xi + ci] += sum;
    }
  });
  return dx;
}

/**
 * max |actual - exact| over the scale the shape checks use (the larger of
 * 1 and max |exact|): directly comparable with their tolerance, 1e-4.
 */
function relError(actual: Float32Array, exact: Float64Array): number {
  let scale = 1, worst = 0;
  for (const v of exact) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < exact.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i] - exact[i]));
  }
  return worst / scale;
}

/** The tolerance of {@link assertClose}, relative to the output's scale. */
const TOLERANCE = 1e-4;

Deno.test("winograd: rounding error vs float64 justifies the 1e-4 tolerance", async () => {
  // The shape checks above compare every variant with the cpu backend to
  // 1e-4 of the output's scale. Here each is measured against the exact
  // (float64) result on the MNIST CNN's conv2 shapes, with the cpu
  // backend's own float32 error alongside. F(4x4,3x3) rounds worse than
  // F(2x2,3x3) (its transforms hold coefficients up to 8, so partial sums
  // grow larger than the result): about 10x the direct convolution's error.
  // The tolerance must stay at least 10x above the worst measured error,
  // so that rounding never fails a check, and is far below what a wrong
  // index or coefficient gives (order 1e-2 or more).
  const backend = tf.backend() as BackendWasm;
  const rows: string[] = [];
  let worst = 0;
  /** One row: the cpu backend's error and each variant's, on fresh tensors. */
  const measure = (
    name: string,
    exact: Float64Array,
    cpu: Float32Array,
    inputs: [Float32Array, number[]][],
    run: (tensors: tf.Tensor[], variant: WinogradOptions) => tf.TensorInfo,
  ) => {
    const errors = [`cpu ${relError(cpu, exact).toExponential(1)}`];
    for (const variant of VARIANTS) {
      const tensors = inputs.map(([v, shape]) =>
        tf.tensor(v, shape, "float32")
      );
      const out = run(tensors, variant);
      const e = relError(
        new Float32Array(backend.typedArrayFromHeap(out)),
        exact,
      );
      backend.disposeData(out.dataId);
      tf.dispose(tensors);
      worst = Math.max(worst, e);
      errors.push(`${variantName(variant)} ${e.toExponential(1)}`);
    }
    rows.push(`${name}: ${errors.join(", ")}`);
  };
  const cases = [
    { name: "forward", xShape: [2, 26, 26, 32], cout: 64, pads: P0 },
  ];
  for (const c of cases) {
    const fShape = [3, 3, c.xShape[3], c.cout];
    const x = values(tf.util.sizeFromShape(c.xShape), 11);
    const f = values(tf.util.sizeFromShape(fShape), 12);
    const exact = conv64(x, c.xShape, f, c.cout, c.pads);
    const cpu = await reference(x, c.xShape, f, fShape, c.pads);
    const errors = [`cpu ${relError(cpu.data, exact).toExponential(1)}`];
    for (const variant of VARIANTS) {
      const y = winograd(x, c.xShape, f, fShape, c.pads, variant);
      const e = relError(y.data, exact);
      worst = Math.max(worst, e);
      errors.push(`${variantName(variant)} ${e.toExponential(1)}`);
    }
    rows.push(`${c.name}: ${errors.join(", ")}`);
  }
  {
    const xShape = [2, 26, 26, 32], cout = 64;
    const [oh, ow] = outSize(xShape, P0);
    const dyShape = [2, oh, ow, cout];
    const x = values(tf.util.sizeFromShape(xShape), 13);
    const dy = values(tf.util.sizeFromShape(dyShape), 14);
    const exact = grad64(x, xShape, dy, cout, P0);
    const cpu = await referenceGrad(x, xShape, dy, dyShape, P0);
    measure("filter grad", exact, cpu.data, [[x, xShape], [dy, dyShape]], (
      [xt, dyt],
      variant,
    ) => winogradBackpropFilter3x3(backend, xt, dyt, P0, variant));
  }
  {
    const xShape = [2, 26, 26, 32], cout = 64;
    const [oh, ow] = outSize(xShape, P0);
    const dyShape = [2, oh, ow, cout], fShape = [3, 3, 32, cout];
    const dy = values(tf.util.sizeFromShape(dyShape), 15);
    const f = values(tf.util.sizeFromShape(fShape), 16);
    const exact = inputGrad64(dy, xShape, f, cout, P0);
    const cpu = await referenceInputGrad(dy, dyShape, f, fShape, xShape, P0);
    measure("input grad", exact, cpu.data, [[dy, dyShape], [f, fShape]], (
      [dyt, ft],
      variant,
    ) => winogradBackpropInput3x3(backend, dyt, ft, xShape, P0, variant));
  }
  console.log(`max |error| / scale vs float64:\n  ${rows.join("\n  ")}`);
  assert(
    worst <= TOLERANCE / 10,
    `worst Winograd error ${worst} is within 10x of the tolerance ` +
      `${TOLERANCE}:\n${rows.join("\n")}`,
  );
});

/** y = Aᵀ·[(G·g) ⊙ (Bᵀ·d)] for one 1-D tile, in float64. */
function tile1d(t: WinogradTile, d: number[], g: number[]): number[] {
  const dot = (r: readonly number[], v: number[]) =>
    r.reduce((s, c, k) => s + c * v[k], 0);
  const u = t.g.map((r) => dot(r, g));
  const v = t.bt.map((r) => dot(r, d));
  return t.at.map((r) => dot(r, u.map((uk, k) => uk * v[k])));
}

Deno.test("winograd: the tile matrices compute 1-D correlation exactly", () => {
  for (const t of [F2, F4, F6]) {
    for (let trial = 0; trial < 20; trial++) {
      const d = Array.from(values(t.m + 2, 100 + trial));
      const g = Array.from(values(3, 200 + trial));
      const y = tile1d(t, d, g);
      for (let i = 0; i < t.m; i++) {
        const exact = d[i] * g[0] + d[i + 1] * g[1] + d[i + 2] * g[2];
        assert(Math.abs(y[i] - exact) < 1e-12, `F${t.m}: y[${i}]`);
      }
    }
  }
});

Deno.test("winograd: relaxed SIMD detection picks the fused build", () => {
  // Deno 2.x ships V8 with relaxed SIMD on, so the probe module must
  // validate here (a malformed probe would quietly disable the fma build).
  assert(relaxedSimdSupported(), "WebAssembly.validate of the probe");
  const backend = tf.backend() as BackendWasm;
  tf.tidy(() => {
    const x = tf.tensor(values(2 * 6 * 6 * 8, 5), [2, 6, 6, 8]);
    const f = tf.tensor(values(3 * 3 * 8 * 16, 6), [3, 3, 8, 16]);
    const info = (t: tf.Tensor) => ({
      dataId: t.dataId,
      shape: t.shape,
      dtype: t.dtype,
    });
    const read = (o: WinogradOptions) => {
      const y = winogradConv3x3(backend, info(x), info(f), P1, o);
      const data = new Float32Array(backend.typedArrayFromHeap(y));
      backend.disposeData(y.dataId);
      return data;
    };
    // The default is the fused build, bit for bit.
    assertEquals(read({ tile: 4 }), read({ tile: 4, fma: true }));
  });
});

Deno.test("winograd: canUseWinograd, simdAvailable", () => {
  assert(simdAvailable(tf.backend() as BackendWasm));
  assert(
    winogradProfitable([3, 3, 32, 64]) && winogradProfitable([3, 3, 64, 32]),
  );
  assert(
    !winogradProfitable([3, 3, 1, 32]) && !winogradProfitable([3, 3, 32, 8]),
  );
  // Forward: one input channel too, its products in the output transform.
  assert(
    winogradForwardProfitable([3, 3, 1, 32]) &&
      winogradForwardProfitable([3, 3, 32, 64]),
  );
  assert(
    !winogradForwardProfitable([3, 3, 1, 4]) &&
      !winogradForwardProfitable([3, 3, 3, 32]),
  );
  assert(canUseWinograd([128, 26, 26, 32], [3, 3, 32, 64], 1, 1, P0));
  assert(canUseWinograd([1, 1, 1, 3], [3, 3, 3, 5], [1, 1], [1, 1], P1));
  assert(!canUseWinograd([1, 8, 8, 3], [3, 3, 3, 5], 2, 1, P0));
  assert(!canUseWinograd([1, 8, 8, 3], [3, 3, 3, 5], 1, [2, 2], P0));
  assert(!canUseWinograd([1, 8, 8, 3], [5, 5, 3, 5], 1, 1, P0));
  assert(!canUseWinograd([1, 8, 8, 3], [3, 3, 4, 5], 1, 1, P0));
  assert(!canUseWinograd([1, 2, 8, 3], [3, 3, 3, 5], 1, 1, P0));
  assert(
    !canUseWinograd([1, 8, 8, 3], [3, 3, 3, 5], 1, 1, { ...P0, top: -1 }),
  );
  assert(!canUseWinograd([1, 8, 8, 3], [3, 3, 3, 5], 1, 1, P0, "NCHW"));
  const backend = tf.backend() as BackendWasm;
  tf.tidy(() => {
    const x = tf.zeros([1, 8, 8, 3]);
    const f = tf.zeros([3, 3, 3, 5], "int32");
    assertThrows(() => winogradConv3x3(backend, x, f, P0));
    assertThrows(() => winogradConv3x3(backend, x, tf.zeros([5, 5, 3, 5]), P0));
  });
});

/**
 * Checks the direct convolution of one input channel
 * (`lib/kernels/direct_conv.ts`), called directly and through the wasm
 * backend's `Conv2D` and `FusedConv2D` (tf.conv2d, tf.fused.conv2d), against
 * the `cpu` backend: widths below, at and past a block of four (the last
 * block overlapping), paddings, 8 to 32 output channels, with and without
 * bias and ReLU; its output a few images at a time (`directConvImages`),
 * the same bits as whole; and its refusals.
 *
 * Run: `deno test --allow-read --allow-env tests/kernels/direct_conv_test.ts`
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { assert, assertEquals, assertThrows } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import {
  canDirectConv,
  directConv3x3,
  directConvImages,
} from "../../lib/kernels/direct_conv.ts";
import { heapF32, heapIndex } from "../../lib/kernels/wasm_util.ts";
import { useDirect } from "../../lib/kernels/conv2d.ts";
import { assertClose, onCpu, values } from "../helpers.ts";

await initBackend();

type Shape4 = [number, number, number, number];

/** [x shape, output channels, padding]. */
const CASES: [Shape4, number, "valid" | "same"][] = [
  [[2, 28, 28, 1], 32, "valid"], // conv1: 26 = 6 blocks and an overlap
  [[3, 6, 6, 1], 8, "valid"], // width 4: one block
  [[1, 7, 9, 1], 16, "valid"], // width 7: the overlap is most of a block
  [[2, 5, 5, 1], 8, "valid"], // width 3: one pixel at a time
  [[1, 3, 3, 1], 24, "valid"], // one output pixel
  [[2, 9, 11, 1], 16, "same"], // padded
  [[1, 2, 1, 1], 8, "same"], // padded, narrower than the filter
];

/** The layer's computation on the current backend. */
function run(
  x: Float32Array,
  shape: Shape4,
  f: Float32Array,
  cout: number,
  pad: "valid" | "same",
  bias: Float32Array | undefined,
  relu: boolean,
): { shape: number[]; data: Float32Array } {
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, shape);
    const ft = tf.tensor4d(f, [3, 3, 1, cout]);
    const out = bias === undefined && !relu
      ? tf.conv2d(xt, ft, 1, pad)
      : tf.fused.conv2d({
        x: xt,
        filter: ft,
        strides: 1,
        pad,
        bias: bias && tf.tensor1d(bias),
        activation: relu ? "relu" : "linear",
      });
    return { shape: out.shape, data: out.dataSync() as Float32Array };
  });
}

Deno.test("direct convolution of one channel: the cpu backend's Conv2D and FusedConv2D", async () => {
  const backend = tf.backend() as BackendWasm;
  for (const [i, [shape, cout, pad]] of CASES.entries()) {
    assert(useDirect(backend, info(shape), info([3, 3, 1, cout])));
    const x = values(tf.util.sizeFromShape(shape), 3 * i);
    const f = values(9 * cout, 3 * i + 1);
    const b = values(cout, 3 * i + 2);
    for (
      const [bias, relu] of [[undefined, false], [b, true], [b, false], [
        undefined,
        true,
      ]] as const
    ) {
      const what =
        `x ${shape}, ${cout} out, ${pad}, bias ${!!bias}, relu ${relu}`;
      const ours = run(x, shape, f, cout, pad, bias, relu);
      const cpu = await onCpu(() => run(x, shape, f, cout, pad, bias, relu));
      assertClose(ours, cpu, what);
    }
  }
});

Deno.test("direct convolution of one channel: NaN passes the ReLU, asymmetric pads", async () => {
  const backend = tf.backend() as BackendWasm;
  const shape: Shape4 = [1, 6, 7, 1];
  const x = values(42, 5);
  x[10] = NaN;
  const f = values(72, 6);
  const pads = { top: 2, bottom: 0, left: 1, right: 3 };
  const got = tf.tidy(() => {
    const xt = tf.tensor4d(x, shape), ft = tf.tensor4d(f, [3, 3, 1, 8]);
    const y = directConv3x3(backend, xt, ft, pads, { relu: true });
    const t = tf.engine().makeTensorFromTensorInfo(y);
    return { shape: t.shape, data: t.dataSync() as Float32Array };
  });
  const cpu = await onCpu(() =>
    tf.tidy(() => {
      const out = tf.relu(
        tf.conv2d(tf.tensor4d(x, shape), tf.tensor4d(f, [3, 3, 1, 8]), 1, [
          [0, 0],
          [2, 0],
          [1, 3],
          [0, 0],
        ]),
      );
      return { shape: out.shape, data: out.dataSync() as Float32Array };
    })
  );
  const nans = (d: Float32Array) => d.map((v) => Number.isNaN(v) ? 1 : 0);
  assert(nans(got.data).some((v) => v === 1));
  assert(nans(got.data).every((v, i) => v === nans(cpu.data)[i]));
  const finite = (d: Float32Array) => d.map((v) => Number.isNaN(v) ? 0 : v);
  assertClose(
    { shape: got.shape, data: finite(got.data) },
    { shape: cpu.shape, data: finite(cpu.data) },
    "NaN case",
  );
});

Deno.test("direct convolution of one channel: what it refuses", () => {
  const backend = tf.backend() as BackendWasm;
  assert(canDirectConv([128, 28, 28, 1], [3, 3, 1, 32]));
  assert(!canDirectConv([1, 28, 28, 3], [3, 3, 3, 32])); // three channels
  assert(!canDirectConv([1, 28, 28, 1], [3, 3, 1, 12])); // not a multiple of 8
  assert(!canDirectConv([1, 28, 28, 1], [5, 5, 1, 32])); // 5x5
  assert(
    !useDirect(backend, info([1, 8, 8, 1]), info([3, 3, 1, 8]), {
      strides: 2,
    }),
  );
  const x = tf.zeros([1, 4, 4, 1]), f = tf.zeros([3, 3, 1, 8]);
  const none = { top: 0, bottom: 0, left: 0, right: 0 };
  assertThrows(
    () => directConv3x3(backend, x, f, { ...none, left: -1 }),
    RangeError,
    "directConv3x3: unsupported",
  );
  assertThrows(
    () => directConv3x3(backend, x, f, none, { bias: tf.zeros([4]) }),
    RangeError,
    "does not fit 8 output channels",
  );
  assertThrows(
    () => directConv3x3(backend, tf.zeros([1, 4, 4, 1], "int32"), f, none),
    TypeError,
  );
  tf.dispose([x, f]);
});

Deno.test("direct convolution of one channel, a few images at a time: the whole output's bits, held images not computed again", () => {
  const backend = tf.backend() as BackendWasm;
  const pads = { top: 1, bottom: 0, left: 2, right: 1 };
  const x = tf.tensor4d(values(7 * 9 * 10, 11), [7, 9, 10, 1]);
  const f = tf.tensor4d(values(9 * 16, 12), [3, 3, 1, 16]);
  const b = tf.tensor1d(values(16, 13));
  const options = { bias: b, relu: true };
  const whole = directConv3x3(backend, x, f, pads, options);
  const y = directConvImages(backend, x, f, pads, { ...options, capacity: 3 });
  const image = 8 * 11 * 16;
  try {
    assertEquals(y.shape, [7, 8, 11, 16]);
    assertEquals([y.dtype, y.capacity], ["float32", 3]);
    const stored = () =>
      heapF32(backend).slice(heapIndex(backend, whole)).subarray(0, 7 * image);
    const want = stored();
    const at = (address: number, images: number) =>
      heapF32(backend).slice(address / 4, address / 4 + images * image);
    for (const [from, to] of [[0, 3], [3, 6], [6, 7], [2, 5]]) {
      assertEquals(
        at(y.images(from, to), to - from),
        want.subarray(from * image, to * image),
        `images [${from}, ${to})`,
      );
    }
    // Images 3 and 4 are held from [2, 5): the buffer is read, not written.
    const held = y.images(3, 5);
    heapF32(backend).fill(0.5, held / 4, held / 4 + image);
    assertEquals(y.images(3, 4), held);
    assertEquals(at(held, 1), new Float32Array(image).fill(0.5));
    for (const [from, to] of [[0, 4], [5, 5], [6, 8], [-1, 1], [0.5, 2]]) {
      assertThrows(
        () => y.images(from, to),
        RangeError,
        "directConvImages: images",
      );
    }
  } finally {
    y.dispose();
    backend.disposeData(whole.dataId);
  }
  assertThrows(
    () => directConvImages(backend, x, f, pads, { capacity: 0 }),
    RangeError,
    "capacity 0 is not a positive integer",
  );
  tf.dispose([x, f, b]);
});

function info(shape: number[]): tf.TensorInfo {
  return { dataId: {}, shape, dtype: "float32" };
}

/**
 * Checks the Winograd F(2x2,3x3) convolution of `lib/kernels/winograd.ts`
 * against the `cpu` backend's `conv2d` on many shapes and paddings, that it
 * frees its intermediates, and that the committed transforms binary is what
 * `lib/kernels/winograd/build.ts` builds from source.
 *
 * Run: `deno test --allow-read --allow-write --allow-run --allow-env tests/kernels/winograd_test.ts`
 * (add `--allow-run --allow-write` for the rebuild check).
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { assert, assertEquals, assertThrows } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import {
  canUseWinograd,
  type Pads,
  winogradAvailable,
  winogradBackpropFilter3x3,
  winogradConv3x3,
  winogradProfitable,
} from "../../lib/kernels/winograd.ts";
import { assertClose, values } from "../helpers.ts";

await initBackend();

/** conv2d on the cpu backend, stride 1, explicit padding. */
async function reference(
  x: Float32Array,
  xShape: number[],
  f: Float32Array,
  fShape: number[],
  pads: Pads,
): Promise<{ shape: number[]; data: Float32Array }> {
  await tf.setBackend("cpu");
  try {
    return tf.tidy(() => {
      const out = tf.conv2d(
        tf.tensor4d(x, xShape as [number, number, number, number]),
        tf.tensor4d(f, fShape as [number, number, number, number]),
        1,
        [[0, 0], [pads.top, pads.bottom], [pads.left, pads.right], [0, 0]],
      );
      return { shape: out.shape, data: out.dataSync() as Float32Array };
    });
  } finally {
    await tf.setBackend("wasm");
  }
}

/** winogradConv3x3 on the wasm backend; checks it leaks nothing. */
function winograd(
  x: Float32Array,
  xShape: number[],
  f: Float32Array,
  fShape: number[],
  pads: Pads,
  chunkTiles?: number,
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
    { chunkTiles },
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
  const actual = winograd(x, xShape, f, fShape, pads, chunkTiles);
  assertClose(actual, expected, what);
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
async function referenceGrad(
  x: Float32Array,
  xShape: number[],
  dy: Float32Array,
  dyShape: number[],
  pads: Pads,
): Promise<{ shape: number[]; data: Float32Array }> {
  await tf.setBackend("cpu");
  try {
    return tf.tidy(() => {
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
    });
  } finally {
    await tf.setBackend("wasm");
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
  const xt = tf.tensor(x, xShape, "float32");
  const dyt = tf.tensor(dy, dyShape, "float32");
  const sentinel = tf.fill([4096], 7.5);
  const before = backend.numDataIds();
  const out = winogradBackpropFilter3x3(backend, xt, dyt, pads, {
    chunkTiles,
  });
  assertEquals(backend.numDataIds(), before + 1, `${what}: freed`);
  assert(
    (sentinel.dataSync() as Float32Array).every((v) => v === 7.5),
    `${what}: other tensors untouched`,
  );
  const actual = {
    shape: out.shape,
    data: new Float32Array(backend.typedArrayFromHeap(out)),
  };
  backend.disposeData(out.dataId);
  tf.dispose([xt, dyt, sentinel]);
  assertClose(actual, expected, what);
}

Deno.test("winograd filter gradient: shapes, channel counts, pads, chunks", async () => {
  const pads: Pads[] = [
    P0,
    P1,
    P2,
    { top: 0, bottom: 1, left: 1, right: 0 },
    { top: 2, bottom: 0, left: 0, right: 1 },
  ];
  for (const [h, w] of [[5, 5], [7, 9], [3, 3], [4, 6], [1, 2]]) {
    for (const [cin, cout] of [[1, 1], [3, 5], [16, 16], [17, 33]]) {
      for (const pad of pads) {
        if (h + pad.top + pad.bottom < 3 || w + pad.left + pad.right < 3) {
          continue;
        }
        await checkGrad([2, h, w, cin], cout, pad);
      }
    }
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

Deno.test("winograd: canUseWinograd, winogradAvailable", () => {
  assert(winogradAvailable(tf.backend() as BackendWasm));
  assert(
    winogradProfitable([3, 3, 32, 64]) && winogradProfitable([3, 3, 64, 32]),
  );
  assert(
    !winogradProfitable([3, 3, 1, 32]) && !winogradProfitable([3, 3, 32, 8]),
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

Deno.test("winograd: transforms binary has no data, start or own memory", async () => {
  const bytes = await Deno.readFile(
    new URL("../../lib/kernels/winograd/winograd.wasm", import.meta.url),
  );
  const module = new WebAssembly.Module(bytes);
  assertEquals(
    WebAssembly.Module.imports(module).map((i) =>
      `${i.module}.${i.name}:${i.kind}`
    ),
    ["env.memory:memory"],
  );
  assertEquals(
    WebAssembly.Module.exports(module).map((e) => e.name).sort(),
    ["dyTransform", "gradProducts", "inputTransform", "outputTransform"],
  );
  // Section ids: 5 memory, 8 start, 11 data, 12 data count.
  const ids: number[] = [];
  let p = 8;
  while (p < bytes.length) {
    ids.push(bytes[p++]);
    let size = 0, shift = 0, b;
    do {
      b = bytes[p++];
      size |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    p += size;
  }
  for (const id of [5, 8, 11, 12]) {
    assert(!ids.includes(id), `section ${id} present: ${ids}`);
  }
});

Deno.test("winograd: committed winograd.as.ts equals a fresh generation", async () => {
  const { generate, GENERATED } = await import(
    "../../lib/kernels/winograd/generate.ts"
  );
  assertEquals(
    await Deno.readTextFile(GENERATED),
    generate(),
    "run `deno run --allow-write lib/kernels/winograd/generate.ts`",
  );
});

Deno.test("winograd: the generated source starts with its do-not-edit line", async () => {
  const { GENERATED } = await import("../../lib/kernels/winograd/generate.ts");
  const first = (await Deno.readTextFile(GENERATED)).split("\n")[0];
  assertEquals(
    first,
    "// GENERATED by generate.ts from the transform matrices: do not edit.",
  );
});

Deno.test({
  name: "winograd: committed winograd.wasm equals a fresh build",
  async fn(t) {
    const missing = (["run", "write"] as const).filter((name) =>
      Deno.permissions.querySync({ name }).state !== "granted"
    );
    if (missing.length > 0) {
      console.warn(
        `SKIPPED: rebuilding winograd.wasm needs --allow-${
          missing.join(" --allow-")
        }; binary not checked against its source`,
      );
      await t.step({ name: "rebuild (skipped)", ignore: true, fn() {} });
      return;
    }
    const { build, ASC_VERSION } = await import(
      "../../lib/kernels/winograd/build.ts"
    );
    const out = await Deno.makeTempFile({ suffix: ".wasm" });
    try {
      try {
        await build(out);
      } catch (error) {
        console.warn(
          `SKIPPED: cannot run assemblyscript@${ASC_VERSION} (${
            String(error).split("\n")[0]
          }); binary not checked against its source`,
        );
        await t.step({ name: "rebuild (skipped)", ignore: true, fn() {} });
        return;
      }
      const fresh = await Deno.readFile(out);
      const committed = await Deno.readFile(
        new URL("../../lib/kernels/winograd/winograd.wasm", import.meta.url),
      );
      assertEquals(
        fresh,
        committed,
        "run `deno run -A lib/kernels/winograd/build.ts`",
      );
    } finally {
      await Deno.remove(out);
    }
  },
});

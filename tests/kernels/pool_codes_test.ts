/**
 * The pooled training pass on codes (`lib/kernels/winograd.ts`):
 * `winogradConv3x3` with `codes` must store the pooled activation of the
 * plain pooled kernel bit for bit and, per window, the code of its first
 * maximum of the ReLU's outputs; `winogradBackpropPooled3x3` must give the
 * input and filter gradients of `MnistCnnPoolReluGrad` then
 * `winogradBackprop3x3` bit for bit (the same tiles, transformed alike) and
 * the bias's to float rounding; where those kernels do not tile (odd sides,
 * channels not a multiple of 4), tfjs's `cpu` backend's gradients of conv,
 * bias, ReLU and pool to the Winograd tolerance. An input produced a few
 * images at a time (a `ChunkedInput`) gives the stored input's bits where
 * its chunks fit, whole images a chunk where they do not. Shapes they cannot
 * take are refused.
 *
 * Run: `deno test --allow-read --allow-env tests/kernels/pool_codes_test.ts`
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { assert, assertEquals, assertThrows } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { POOL_RELU_GRAD } from "../../lib/kernels/mod.ts";
import {
  canPoolCodes,
  type Pads,
  winogradBackprop3x3,
  winogradBackpropPooled3x3,
  winogradConv3x3,
} from "../../lib/kernels/winograd.ts";
import {
  type ChunkedInput,
  heapF32,
  heapIndex,
} from "../../lib/kernels/wasm_util.ts";
import { assertClose, onCpu, values } from "../helpers.ts";

await initBackend();
const backend = tf.backend() as BackendWasm;
const P0: Pads = { top: 0, bottom: 0, left: 0, right: 0 };
const P1: Pads = { top: 1, bottom: 1, left: 1, right: 1 };

/** A case's inputs: coarse values, so that windows tie and many are ≤ 0. */
function inputs(xShape: number[], cout: number, seed: number) {
  const coarse = (v: number) => Math.round(v * 4) / 4;
  const x = tf.tensor(
    values(tf.util.sizeFromShape(xShape), seed).map(coarse),
    xShape,
  );
  const f = tf.tensor(
    values(9 * xShape[3] * cout, seed + 1).map(coarse),
    [3, 3, xShape[3], cout],
  );
  // Every third channel's bias far below: its windows pass nothing.
  const b = tf.tensor(
    values(cout, seed + 2).map((v, c) => c % 3 === 2 ? -1e3 : v),
    [cout],
  );
  return { x, f, b };
}

/** The heap's copy of a kernel's output tensor, which is then freed. */
function read(info: tf.TensorInfo): { shape: number[]; data: Float32Array } {
  const data = new Float32Array(
    backend.typedArrayFromHeap(info) as Float32Array,
  );
  backend.disposeData(info.dataId);
  return { shape: info.shape, data };
}

/** Bits of a float32 array, for equality bit for bit (NaN, -0 included). */
function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/** Each window's code from the unpooled ReLU output y [N, OH, OW, C]. */
function expectedCodes(y: Float32Array, shape: number[]): Int32Array {
  const [n, oh, ow, c] = shape;
  const [ph, pw] = [oh >> 1, ow >> 1];
  const codes = new Int32Array(n * ph * pw * c);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < ph; i++) {
      for (let j = 0; j < pw; j++) {
        for (let ch = 0; ch < c; ch++) {
          let best = -Infinity, code = 4;
          for (let k = 0; k < 4; k++) {
            const r = 2 * i + (k >> 1), col = 2 * j + (k & 1);
            const v = y[((b * oh + r) * ow + col) * c + ch];
            if (v > best) [best, code] = [v, k];
          }
          codes[((b * ph + i) * pw + j) * c + ch] = best > 0 ? code : 4;
        }
      }
    }
  }
  return codes;
}

/** The pooled forward with codes: its outputs and the codes' tensor. */
function forward(
  x: tf.Tensor,
  f: tf.Tensor,
  b: tf.Tensor,
  pads: Pads,
  mask?: tf.Tensor,
): { pooled: tf.TensorInfo; codes: tf.TensorInfo } {
  const [n, h, w] = x.shape;
  const shape: number[] = [
    n,
    (h + pads.top + pads.bottom - 2) >> 1,
    (w + pads.left + pads.right - 2) >> 1,
    f.shape[3] as number,
  ];
  const codes = backend.makeOutput(shape, "int32");
  const pooled = winogradConv3x3(backend, x, f, pads, {
    bias: b,
    relu: true,
    pool: true,
    codes,
    mask,
  });
  return { pooled, codes };
}

/** A dropout mask of `shape`: 0 for a quarter of the values, else 4/3. */
function dropoutLike(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(
    values(tf.util.sizeFromShape(shape), seed).map((v) => v < -0.5 ? 0 : 4 / 3),
    shape,
  );
}

Deno.test("winogradConv3x3 with codes: the plain pooled output bit for bit, and each window's first maximum or none", () => {
  for (
    const [xShape, cout, pads] of [
      [[2, 26, 26, 32], 64, P0], // the MNIST CNN's conv2
      [[1, 9, 11, 8], 8, P0], // odd sides: a row and a column unpooled
      [[2, 7, 8, 5], 6, P1], // channels past the last group of four
    ] as [number[], number, Pads][]
  ) {
    const name = `x ${xShape} cout ${cout} pads ${JSON.stringify(pads)}`;
    const { x, f, b } = inputs(xShape, cout, xShape[3]);
    const before = backend.numDataIds();
    const got = forward(x, f, b, pads);
    assertEquals(backend.numDataIds(), before + 2, `${name}: freed`);
    const plain = winogradConv3x3(backend, x, f, pads, {
      bias: b,
      relu: true,
      pool: true,
    });
    const y = winogradConv3x3(backend, x, f, pads, { bias: b, relu: true });
    const pooled = read(got.pooled);
    assertEquals(bits(pooled.data), bits(read(plain).data), `${name}: pooled`);
    const codes = new Int32Array(backend.typedArrayFromHeap(got.codes));
    const want = expectedCodes(read(y).data, y.shape);
    assertEquals(codes, want, `${name}: codes`);
    // The coarse inputs give both kinds of window.
    assert(codes.includes(4) && codes.some((c) => c < 4), `${name}: mix`);
    // With dropout's mask: the pooled values times it, the same codes.
    const mask = dropoutLike(got.codes.shape, 9);
    const masked = forward(x, f, b, pads, mask);
    const want2 = tf.mul(
      tf.tensor(pooled.data, pooled.shape),
      mask,
    ).dataSync() as Float32Array;
    assertEquals(bits(read(masked.pooled).data), bits(want2), `${name}: mask`);
    assertEquals(
      new Int32Array(backend.typedArrayFromHeap(masked.codes)),
      codes,
      `${name}: codes with a mask`,
    );
    backend.disposeData(masked.codes.dataId);
    backend.disposeData(got.codes.dataId);
    tf.dispose([x, f, b, mask]);
  }
});

Deno.test("winogradBackpropPooled3x3: MnistCnnPoolReluGrad then winogradBackprop3x3 (dx, dW bit for bit, the bias to rounding)", () => {
  const engine = tf.engine();
  for (
    const [xShape, cout, pads] of [
      [[2, 26, 26, 32], 64, P0],
      [[3, 12, 10, 8], 16, P1],
    ] as [number[], number, Pads][]
  ) {
    const name = `x ${xShape} cout ${cout}`;
    const { x, f, b } = inputs(xShape, cout, 7);
    const { pooled, codes } = forward(x, f, b, pads);
    const dy = tf.tensor(
      values(tf.util.sizeFromShape(pooled.shape), 8),
      pooled.shape,
    );
    backend.disposeData(pooled.dataId);
    const before = backend.numDataIds();
    const got = winogradBackpropPooled3x3(backend, x, dy, codes, f, pads);
    assertEquals(backend.numDataIds(), before + 3, `${name}: freed`);
    // The two kernels it replaces, from the unpooled ReLU output.
    const y = engine.makeTensorFromTensorInfo(
      winogradConv3x3(backend, x, f, pads, { bias: b, relu: true }),
    );
    const [dz, db] = engine.runKernel(POOL_RELU_GRAD, { dy, y }) as tf.Tensor[];
    const want = winogradBackprop3x3(backend, x, dz, f, pads);
    assertEquals(
      bits(read(got.dx).data),
      bits(read(want.dx).data),
      `${name}: dx`,
    );
    assertEquals(
      bits(read(got.filter).data),
      bits(read(want.filter).data),
      `${name}: filter`,
    );
    const wantBias = { shape: db.shape, data: db.dataSync() as Float32Array };
    assertClose(read(got.bias), wantBias, `${name}: bias`);
    // With dropout's mask: as without it on dy times the mask.
    const mask = dropoutLike(dy.shape, 10);
    const dyMasked = tf.mul(dy, mask);
    const gotM = winogradBackpropPooled3x3(backend, x, dy, codes, f, pads, {
      mask,
    });
    const wantM = winogradBackpropPooled3x3(
      backend,
      x,
      dyMasked,
      codes,
      f,
      pads,
    );
    for (const key of ["dx", "filter", "bias"] as const) {
      assertEquals(
        bits(read(gotM[key]).data),
        bits(read(wantM[key]).data),
        `${name}: ${key} with a mask`,
      );
    }
    backend.disposeData(codes.dataId);
    tf.dispose([x, f, b, dy, y, dz, db, mask, dyMasked]);
  }
});

Deno.test("winogradBackpropPooled3x3: odd sides and channels past the last four match the cpu backend's gradients of conv, bias, ReLU and pool", async () => {
  for (
    const [xShape, cout, pads] of [
      [[1, 9, 11, 8], 8, P0],
      [[2, 7, 8, 5], 6, P1],
    ] as [number[], number, Pads][]
  ) {
    const name = `x ${xShape} cout ${cout}`;
    // Fine values: no ties, whose order tfjs's cpu kernels may break
    // otherwise after their own rounding.
    const x = tf.tensor(values(tf.util.sizeFromShape(xShape), 3), xShape);
    const f = tf.tensor(values(9 * xShape[3] * cout, 4), [
      3,
      3,
      xShape[3],
      cout,
    ]);
    const b = tf.tensor(values(cout, 5), [cout]);
    const { pooled, codes } = forward(x, f, b, pads);
    const dyShape = pooled.shape;
    backend.disposeData(pooled.dataId);
    const dyData = values(tf.util.sizeFromShape(dyShape), 6);
    const dy = tf.tensor(dyData, dyShape);
    const got = winogradBackpropPooled3x3(backend, x, dy, codes, f, pads);
    backend.disposeData(codes.dataId);
    const [xd, fd, bd] = [x, f, b].map((t) => t.dataSync() as Float32Array);
    const want = await onCpu(() =>
      tf.tidy(() =>
        tf.grads((a: tf.Tensor, w: tf.Tensor, c: tf.Tensor) => {
          const conv = tf.conv2d(
            a as tf.Tensor4D,
            w as tf.Tensor4D,
            1,
            [[0, 0], [pads.top, pads.bottom], [pads.left, pads.right], [0, 0]],
          );
          const z = tf.maxPool(
            tf.relu(tf.add(conv, c)) as tf.Tensor4D,
            2,
            2,
            "valid",
          );
          return tf.sum(tf.mul(z, tf.tensor(dyData, dyShape)));
        })([
          tf.tensor(xd, xShape),
          tf.tensor(fd, f.shape),
          tf.tensor(bd, [cout]),
        ]).map((g) => ({ shape: g.shape, data: g.dataSync() as Float32Array }))
      )
    );
    assertClose(read(got.dx), want[0], `${name}: dx`);
    assertClose(read(got.filter), want[1], `${name}: filter`);
    assertClose(read(got.bias), want[2], `${name}: bias`);
    tf.dispose([x, f, b, dy]);
  }
});

/**
 * `x` as a {@link ChunkedInput} of `capacity` images: each call copies the
 * images asked for into a buffer of its own; `calls` lists them.
 */
function chunked(x: tf.Tensor, capacity: number) {
  const image = x.size / x.shape[0];
  const buffer = backend.makeOutput([capacity * image], "float32");
  const calls: [number, number][] = [];
  const input: ChunkedInput = {
    shape: x.shape,
    dtype: "float32",
    capacity,
    images(at, to) {
      assert(to - at <= capacity && at >= 0 && to <= x.shape[0] && at < to);
      calls.push([at, to]);
      const heap = heapF32(backend), from = heapIndex(backend, x);
      heap.fill(
        NaN,
        heapIndex(backend, buffer),
        heapIndex(backend, buffer) + capacity * image,
      );
      heap.copyWithin(
        heapIndex(backend, buffer),
        from + at * image,
        from + to * image,
      );
      return heapIndex(backend, buffer) * 4;
    },
  };
  return { input, calls, dispose: () => backend.disposeData(buffer.dataId) };
}

Deno.test("a chunked input (ChunkedInput): the stored input's bits where each chunk's images fit, whole images a chunk where they do not", () => {
  // 5 images of 2×2 tiles (F(6×6) on 8×8 outputs): chunks of 6 tiles reach
  // 3 images; with room for 1, chunks are single images.
  const xShape = [5, 10, 10, 8], cout = 8, chunkTiles = 6;
  const { x, f, b } = inputs(xShape, cout, 21);
  const stored = forward(x, f, b, P0);
  const want = read(stored.pooled).data;
  const dyp = tf.tensor(values(5 * 4 * 4 * cout, 24), [5, 4, 4, cout]);
  const grads = (input: tf.Tensor | ChunkedInput) => {
    const got = winogradBackpropPooled3x3(
      backend,
      input,
      dyp,
      stored.codes,
      f,
      P0,
      { chunkTiles },
    );
    return [got.dx, got.filter, got.bias].map((t) => read(t).data);
  };
  const wantGrads = grads(x);
  for (const capacity of [3, 1]) {
    const what = `capacity ${capacity}`;
    const source = chunked(x, capacity);
    const codes = backend.makeOutput(stored.codes.shape, "int32");
    const pooled = winogradConv3x3(backend, source.input, f, P0, {
      bias: b,
      relu: true,
      pool: true,
      codes,
      chunkTiles,
    });
    assertEquals(bits(read(pooled).data), bits(want), `${what}: pooled`);
    assertEquals(
      new Int32Array(backend.typedArrayFromHeap(codes)),
      new Int32Array(backend.typedArrayFromHeap(stored.codes)),
      `${what}: codes`,
    );
    backend.disposeData(codes.dataId);
    const calls = source.calls.splice(0);
    assertEquals(
      calls,
      capacity === 3
        ? [[0, 2], [1, 3], [3, 5], [4, 5]] // tiles 0-5, 6-11, 12-17, 18-19
        : [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]],
      `${what}: forward calls`,
    );
    const got = grads(source.input);
    got.forEach((g, k) => {
      if (capacity === 3) {
        assertEquals(bits(g), bits(wantGrads[k]), `${what}: gradient ${k}`);
      } else {
        assertClose(
          { shape: [g.length], data: g },
          { shape: [g.length], data: wantGrads[k] },
          `${what}: gradient ${k}`,
        );
      }
    });
    source.dispose();
  }
  backend.disposeData(stored.codes.dataId);
  tf.dispose([x, f, b, dyp]);
});

Deno.test("canPoolCodes and the codes kernels refuse what they cannot take", () => {
  assert(canPoolCodes([128, 26, 26, 32], [3, 3, 32, 64], P0));
  assert(!canPoolCodes([128, 28, 28, 1], [3, 3, 1, 32], P0)); // one channel
  assert(!canPoolCodes([1, 3, 3, 8], [3, 3, 8, 8], P0)); // 1×1 output
  assert(!canPoolCodes([1, 8, 8, 8], [5, 5, 8, 8], P0)); // not 3×3
  tf.tidy(() => {
    const x = tf.zeros([1, 8, 8, 8]), f = tf.zeros([3, 3, 8, 8]);
    const b = tf.zeros([8]);
    const wrong = backend.makeOutput([1, 2, 2, 8], "int32");
    const floats = backend.makeOutput([1, 3, 3, 8], "float32");
    for (const codes of [wrong, floats]) {
      assertThrows(
        () =>
          winogradConv3x3(backend, x, f, P0, {
            bias: b,
            relu: true,
            pool: true,
            codes,
          }),
        RangeError,
      );
    }
    const codes = backend.makeOutput([1, 3, 3, 8], "int32");
    // A mask not of the pooled shape, or without codes, is refused.
    for (const mask of [tf.ones([1, 2, 2, 8]), tf.ones([1, 3, 3, 8])]) {
      assertThrows(
        () =>
          winogradConv3x3(backend, x, f, P0, {
            bias: b,
            relu: true,
            pool: true,
            codes: mask.shape[1] === 2 ? codes : undefined,
            mask,
          }),
        RangeError,
      );
    }
    // Without ReLU, or without the pool, codes are refused.
    assertThrows(
      () => winogradConv3x3(backend, x, f, P0, { bias: b, pool: true, codes }),
      RangeError,
    );
    assertThrows(
      () =>
        winogradBackpropPooled3x3(
          backend,
          x,
          tf.zeros([1, 2, 2, 8]),
          codes,
          f,
          P0,
        ),
      RangeError,
    );
    assertThrows(
      () =>
        winogradBackpropPooled3x3(
          backend,
          x,
          tf.zeros([1, 3, 3, 8]),
          floats,
          f,
          P0,
        ),
      TypeError,
    );
    for (const t of [wrong, floats, codes]) backend.disposeData(t.dataId);
  });
});

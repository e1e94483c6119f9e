/**
 * Checks tfjs ops that run on our wasm kernels as other users' models call
 * them, outputs and gradients, against the `cpu` backend: non-square filters,
 * mixed strides, numeric and explicit pads, `dimRoundingMode`, dilation,
 * `conv2dTranspose`, `tf.fused.conv2d` with each activation, broadcast batch
 * `matMul` with transposes, one weight tensor reused under several shapes,
 * max-pool ties and values around 1e3.
 *
 * Each case runs the same function of plain arrays on both backends: the
 * shapes must be equal and the values close; a case that throws on wasm but
 * not on cpu fails (one that throws on both agrees).
 *
 * Run: `deno test --allow-read --allow-env tests/kernels/ops_test.ts`
 */
import * as tf from "@tensorflow/tfjs";
import { assert, assertEquals } from "@std/assert";
import { initBackend } from "../../lib/backend.ts";
import { assertClose, values } from "../helpers.ts";

await initBackend();

/** A case: builds tensors from its inputs and returns the tensors to compare. */
interface OpCase {
  name: string;
  /** Input shapes; each input gets seeded values in [-scale, scale). */
  inputs: number[][];
  /** Multiplies the inputs' values (default 1). */
  scale?: number;
  /** Rounds inputs to this many levels, to make ties (max-pool). */
  levels?: number;
  /** The computation; runs inside `tf.tidy`. */
  fn: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
  /** The cpu backend's equivalent, when cpu itself needs help. */
  reference?: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
}

type Outcome = { shape: number[]; data: Float32Array }[] | { error: string };

/** Runs `fn` of the case's inputs on `backend`. */
async function runOn(
  backend: "cpu" | "wasm",
  c: OpCase,
  seed: number,
  fn: OpCase["fn"],
): Promise<Outcome> {
  await tf.setBackend(backend);
  try {
    return tf.tidy(() => {
      const xs = c.inputs.map((shape, i) => {
        const data = values(tf.util.sizeFromShape(shape), seed + i);
        for (let j = 0; j < data.length; j++) {
          if (c.levels) data[j] = Math.round(data[j] * c.levels) / c.levels;
          data[j] *= c.scale ?? 1;
        }
        return tf.tensor(data, shape, "float32");
      });
      const out = fn(...xs);
      return (Array.isArray(out) ? out : [out]).map((t) => ({
        shape: t.shape,
        data: Float32Array.from(t.dataSync() as Float32Array),
      }));
    });
  } catch (error) {
    return { error: String(error).split("\n")[0] };
  } finally {
    await tf.setBackend("wasm");
  }
}

/** Tensors compared so far (outputs and gradients), for the closing count. */
let compared = 0;
/** Cases run so far. */
let cases = 0;

/** Compares one case on wasm against cpu. */
async function compareCase(c: OpCase, seed: number): Promise<void> {
  cases++;
  const expected = await runOn("cpu", c, seed, c.reference ?? c.fn);
  const actual = await runOn("wasm", c, seed, c.fn);
  if ("error" in expected) {
    assert(
      "error" in actual,
      `${c.name}: cpu threw (${expected.error}), wasm did not`,
    );
    return;
  }
  if ("error" in actual) {
    throw new Error(`${c.name}: wasm threw where cpu did not: ${actual.error}`);
  }
  assertEquals(actual.length, expected.length, `${c.name}: outputs`);
  for (let i = 0; i < expected.length; i++) {
    assertClose(actual[i], expected[i], `${c.name} [${i}]`);
    compared++;
  }
}

/** Compares every case, then fails listing each one that disagreed. */
async function compareAll(cases: [OpCase, number][]): Promise<void> {
  const failures: string[] = [];
  for (const [c, seed] of cases) {
    try {
      await compareCase(c, seed);
    } catch (error) {
      failures.push(String(error).split("\n")[0]);
    }
  }
  assertEquals(failures, [], `${failures.length} of ${cases.length} cases`);
}

/** The output of `f` and its gradients with respect to every input. */
function withGrads(
  f: (...xs: tf.Tensor[]) => tf.Tensor,
): (...xs: tf.Tensor[]) => tf.Tensor[] {
  return (...xs) => {
    const y = f(...xs);
    // A fixed, non-uniform upstream gradient: sum of y times a ramp.
    const ramp = tf.linspace(0.5, 1.5, y.size).reshape(y.shape);
    const grads = tf.grads((...ins: tf.Tensor[]) => f(...ins).mul(ramp).sum())(
      xs,
    );
    return [y, ...grads];
  };
}

type Pad = "valid" | "same" | number | tf.backend_util.ExplicitPadding;
type Rounding = "floor" | "round" | "ceil" | undefined;

interface ConvCase {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
  dilations?: number | [number, number];
  rounding?: Rounding;
}

function describeConv(c: ConvCase): string {
  return `x=${c.x} f=${c.filter} s=${c.strides} pad=${JSON.stringify(c.pad)}` +
    (c.dilations ? ` d=${c.dilations}` : "") +
    (c.rounding ? ` ${c.rounding}` : "");
}

/** Convolution cases: every filter shape with every stride and padding kind. */
function convCases(): ConvCase[] {
  const cases: ConvCase[] = [];
  const filters: [number, number][] = [[3, 5], [5, 3], [2, 2], [4, 4], [3, 3]];
  const strides: (number | [number, number])[] = [1, [1, 2], [2, 1], 2, 3];
  const pads: Pad[] = [
    "valid",
    "same",
    0,
    1,
    2,
    [[0, 0], [1, 2], [2, 0], [0, 0]],
  ];
  for (const [fh, fw] of filters) {
    for (const s of strides) {
      for (const pad of pads) {
        cases.push({
          x: [2, 13, 9, 3],
          filter: [fh, fw, 3, 4],
          strides: s,
          pad,
        });
      }
    }
  }
  // dimRoundingMode with numeric pads whose output size is fractional.
  for (const rounding of ["floor", "round", "ceil"] as const) {
    for (const [fh, fw] of filters) {
      for (const s of [2, 3, [2, 1]] as (number | [number, number])[]) {
        cases.push({
          x: [2, 12, 11, 2],
          filter: [fh, fw, 2, 3],
          strides: s,
          pad: 1,
          rounding,
        });
      }
    }
  }
  // Dilation (tfjs allows it with stride 1 only).
  for (
    const dilations of [2, [1, 2], [2, 1]] as (number | [number, number])[]
  ) {
    for (const pad of ["valid", "same", 1] as Pad[]) {
      cases.push({
        x: [2, 11, 12, 3],
        filter: [3, 2, 3, 4],
        strides: 1,
        pad,
        dilations,
      });
    }
  }
  // 3x3 stride 1 with many channels: the Winograd route, every pad kind.
  for (
    const pad of ["valid", "same", 1, 2, [[0, 0], [2, 0], [1, 1], [
      0,
      0,
    ]]] as Pad[]
  ) {
    cases.push({ x: [2, 9, 10, 16], filter: [3, 3, 16, 17], strides: 1, pad });
  }
  return cases;
}

const CONV_CASES = convCases();

Deno.test(`tf.conv2d and its gradients match cpu (${CONV_CASES.length} cases)`, async () => {
  const cases: [OpCase, number][] = [];
  for (const [i, c] of CONV_CASES.entries()) {
    cases.push([{
      name: `conv2d ${describeConv(c)}`,
      inputs: [c.x, c.filter],
      fn: withGrads((x, f) =>
        tf.conv2d(
          x as tf.Tensor4D,
          f as tf.Tensor4D,
          c.strides,
          c.pad,
          "NHWC",
          c.dilations ?? 1,
          c.rounding,
        )
      ),
    }, 100 * i]);
  }
  await compareAll(cases);
});

Deno.test("the issue's two numeric-pad cases have cpu's shapes on wasm", () => {
  for (
    const [filter, strides, pad, shape] of [
      [[5, 3, 3, 5], 2, 2, [3, 7, 5, 5]],
      [[3, 3, 3, 5], [2, 1], 1, [3, 7, 5, 5]],
    ] as [number[], number | [number, number], number, number[]][]
  ) {
    const y = tf.tidy(() =>
      tf.conv2d(
        tf.ones([3, 13, 9, 3]) as tf.Tensor4D,
        tf.ones(filter as [number, number, number, number]) as tf.Tensor4D,
        strides,
        pad,
      )
    );
    assertEquals(y.shape, shape);
    y.dispose();
  }
});

Deno.test("tf.conv2dTranspose and its gradients match cpu", async () => {
  const cases: [OpCase, number][] = [];
  const geometries: {
    x: [number, number, number, number];
    filter: [number, number, number, number];
    out: [number, number, number, number];
    strides: number | [number, number];
    pad: "valid" | "same" | number;
  }[] = [
    {
      x: [2, 5, 4, 4],
      filter: [3, 3, 3, 4],
      out: [2, 11, 9, 3],
      strides: 2,
      pad: "valid",
    },
    {
      x: [2, 5, 4, 4],
      filter: [3, 3, 3, 4],
      out: [2, 10, 8, 3],
      strides: 2,
      pad: "same",
    },
    {
      x: [1, 6, 6, 2],
      filter: [2, 2, 5, 2],
      out: [1, 12, 12, 5],
      strides: 2,
      pad: "same",
    },
    {
      x: [2, 4, 7, 3],
      filter: [3, 5, 2, 3],
      out: [2, 8, 7, 2],
      strides: [2, 1],
      pad: "same",
    },
    {
      x: [1, 7, 5, 3],
      filter: [5, 3, 2, 3],
      out: [1, 11, 7, 2],
      strides: 1,
      pad: "valid",
    },
    {
      x: [2, 5, 5, 2],
      filter: [3, 3, 4, 2],
      out: [2, 15, 15, 4],
      strides: 3,
      pad: "same",
    },
    {
      x: [2, 5, 5, 2],
      filter: [3, 3, 4, 2],
      out: [2, 9, 9, 4],
      strides: 2,
      pad: 1,
    },
    {
      x: [1, 9, 9, 16],
      filter: [3, 3, 16, 16],
      out: [1, 9, 9, 16],
      strides: 1,
      pad: "same",
    },
  ];
  for (const [i, c] of geometries.entries()) {
    cases.push([{
      name:
        `conv2dTranspose x=${c.x} f=${c.filter} out=${c.out} s=${c.strides} pad=${c.pad}`,
      inputs: [c.x, c.filter],
      fn: withGrads((x, f) =>
        tf.conv2dTranspose(
          x as tf.Tensor4D,
          f as tf.Tensor4D,
          c.out,
          c.strides,
          c.pad,
        )
      ),
    }, 7000 + 10 * i]);
  }
  await compareAll(cases);
});

const ACTIVATIONS = [
  "linear",
  "relu",
  "relu6",
  "elu",
  "leakyrelu",
  "prelu",
  "sigmoid",
] as const;

Deno.test("tf.fused.conv2d with each activation and bias matches cpu", async () => {
  const cases: [OpCase, number][] = [];
  const geometries: ConvCase[] = [
    { x: [2, 9, 8, 3], filter: [3, 3, 3, 4], strides: 1, pad: "same" },
    { x: [2, 10, 9, 16], filter: [3, 3, 16, 16], strides: 1, pad: "valid" },
    { x: [2, 13, 9, 3], filter: [5, 3, 3, 4], strides: 2, pad: 2 },
    { x: [2, 11, 10, 2], filter: [2, 4, 2, 3], strides: [2, 1], pad: "same" },
  ];
  let seed = 9000;
  for (const g of geometries) {
    for (const activation of ACTIVATIONS) {
      const co = g.filter[3];
      // Gradients of fused ops exist in tfjs for some activations only; a
      // case whose gradient cpu cannot take must fail on wasm too.
      cases.push([{
        name: `fused.conv2d ${activation} ${describeConv(g)}`,
        inputs: [g.x, g.filter, [co], [co]],
        fn: withGrads((x, f, bias, alpha) =>
          tf.fused.conv2d({
            x: x as tf.Tensor4D,
            filter: f as tf.Tensor4D,
            strides: g.strides,
            pad: g.pad as "same",
            bias,
            activation,
            preluActivationWeights: activation === "prelu" ? alpha : undefined,
            leakyreluAlpha: 0.2,
          })
        ),
      }, seed += 10]);
      cases.push([{
        name: `fused.conv2d forward ${activation} ${describeConv(g)}`,
        inputs: [g.x, g.filter, [co], [co]],
        fn: (x, f, bias, alpha) =>
          tf.fused.conv2d({
            x: x as tf.Tensor4D,
            filter: f as tf.Tensor4D,
            strides: g.strides,
            pad: g.pad as "same",
            bias,
            activation,
            preluActivationWeights: activation === "prelu" ? alpha : undefined,
            leakyreluAlpha: 0.2,
          }),
      }, seed += 10]);
    }
  }
  await compareAll(cases);
});

/**
 * The cpu backend broadcasts batch matMul by index modulo the batch size,
 * which is wrong when both operands broadcast; given full batches it is a
 * sound reference.
 */
function broadcastMatMul(
  a: tf.Tensor,
  b: tf.Tensor,
  transposeA: boolean,
  transposeB: boolean,
): tf.Tensor {
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(
    a.shape.slice(0, -2),
    b.shape.slice(0, -2),
  );
  return tf.matMul(
    tf.broadcastTo(a, [...outer, ...a.shape.slice(-2)]),
    tf.broadcastTo(b, [...outer, ...b.shape.slice(-2)]),
    transposeA,
    transposeB,
  );
}

Deno.test("broadcast batch tf.matMul with transposes, and its gradients, match cpu", async () => {
  const cases: [OpCase, number][] = [];
  const shapes: [number[], number[]][] = [
    [[2, 1, 24, 32], [1, 3, 32, 20]],
    [[3, 40, 30], [30, 20]],
    [[40, 30], [2, 30, 20]],
    [[2, 3, 5, 6], [3, 6, 4]],
    [[1, 64, 48], [4, 48, 40]],
    [[128, 200], [200, 10]],
  ];
  let seed = 20000;
  for (const [a, b] of shapes) {
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        const swap = (s: number[], t: boolean) =>
          t ? [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]] : s;
        const aShape = swap(a, transposeA), bShape = swap(b, transposeB);
        cases.push([{
          name:
            `matMul a=${aShape} b=${bShape} tA=${transposeA} tB=${transposeB}`,
          inputs: [aShape, bShape],
          // tfjs's matMul gradient does not reduce broadcast batches on
          // any backend: gradients go through explicit broadcasts on both.
          fn: (x, y) => [
            tf.matMul(x, y, transposeA, transposeB),
            ...withGrads((u, v) =>
              broadcastMatMul(u, v, transposeA, transposeB)
            )(x, y),
          ],
          reference: (x, y) => [
            broadcastMatMul(x, y, transposeA, transposeB),
            ...withGrads((u, v) =>
              broadcastMatMul(u, v, transposeA, transposeB)
            )(x, y),
          ],
        }, seed += 10]);
      }
    }
  }
  await compareAll(cases);
});

Deno.test("one weight tensor reused under several shapes gives fresh results each time", async () => {
  const cases: [OpCase, number][] = [];
  // XNNPACK caches packed weights by tensor id; a reshape shares the id.
  cases.push([{
    name: "matMul with W, then W reshaped three ways, then W again",
    inputs: [[24, 40], [2, 24], [3, 40], [5, 12], [4, 80]],
    fn: (w, x, z, u, v) => [
      tf.matMul(x, w),
      tf.matMul(z, w.reshape([40, 24])),
      tf.matMul(u, w.reshape([12, 80])),
      tf.matMul(v, w.reshape([80, 12])),
      tf.matMul(x, w),
      tf.matMul(w.reshape([40, 24]), x, false, true),
    ],
  }, 30000]);
  cases.push([{
    name: "fused matMul (a Dense layer) with W reshaped, bias and relu",
    inputs: [[24, 40], [2, 24], [3, 40], [40], [24]],
    fn: (w, x, z, b40, b24) => [
      tf.fused.matMul({ a: x, b: w, bias: b40, activation: "relu" }),
      tf.fused.matMul({
        a: z,
        b: w.reshape([40, 24]),
        bias: b24,
        activation: "relu",
      }),
      tf.fused.matMul({ a: x, b: w, bias: b40, activation: "relu" }),
    ],
  }, 30100]);
  cases.push([{
    name: "a Dense layer's gradients, then its weights reshaped",
    inputs: [[16, 10], [8, 16], [4, 10]],
    fn: (w, x, z) => [
      ...withGrads((ww, xx) => tf.matMul(xx, ww).relu())(w, x),
      tf.matMul(z, w.reshape([10, 16])),
    ],
  }, 30200]);
  await compareAll(cases);
});

Deno.test("max-pool with ties, and its gradients, match cpu", async () => {
  const cases: [OpCase, number][] = [];
  const pools: [
    number[],
    number | [number, number],
    number | [number, number],
    Pad,
  ][] = [
    [[2, 8, 8, 3], 2, 2, "valid"],
    [[2, 9, 7, 2], 3, 2, "same"],
    [[1, 7, 9, 2], [2, 3], [1, 2], "valid"],
    [[2, 6, 6, 4], 3, 1, "same"],
    [[2, 10, 10, 2], 2, 3, 1],
  ];
  let seed = 40000;
  for (const [x, size, strides, pad] of pools) {
    for (const levels of [1, 3]) {
      cases.push([{
        name:
          `maxPool x=${x} size=${size} s=${strides} pad=${pad} levels=${levels}`,
        inputs: [x],
        levels,
        fn: withGrads((t) =>
          tf.maxPool(t as tf.Tensor4D, size, strides, pad as "same")
        ),
      }, seed += 10]);
    }
  }
  await compareAll(cases);
});

Deno.test("values around 1e3 match cpu to the same relative tolerance", async () => {
  const cases: [OpCase, number][] = [];
  const c: ConvCase = {
    x: [2, 12, 12, 16],
    filter: [3, 3, 16, 16],
    strides: 1,
    pad: "same",
  };
  cases.push([{
    name: "conv2d (Winograd route) at 1e3",
    inputs: [c.x, c.filter],
    scale: 1e3,
    fn: withGrads((x, f) =>
      tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, "same")
    ),
  }, 50000]);
  cases.push([{
    name: "conv2d 5x3 stride [2,1] at 1e3",
    inputs: [[2, 13, 9, 3], [5, 3, 3, 4]],
    scale: 1e3,
    fn: withGrads((x, f) =>
      tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, [2, 1], 1)
    ),
  }, 50100]);
  cases.push([{
    name: "matMul at 1e3",
    inputs: [[64, 300], [300, 40]],
    scale: 1e3,
    fn: withGrads((a, b) => tf.matMul(a, b)),
  }, 50200]);
  cases.push([{
    name: "maxPool at 1e3",
    inputs: [[2, 8, 8, 3]],
    scale: 1e3,
    levels: 3,
    fn: withGrads((t) => tf.maxPool(t as tf.Tensor4D, 2, 2, "valid")),
  }, 50300]);
  await compareAll(cases);
});

Deno.test("closing count: tensors compared with cpu", () => {
  console.log(
    `ops_test: ${cases} cases, ${compared} output and gradient tensors compared with cpu`,
  );
  assert(compared > 500, `only ${compared} tensors compared`);
});

/**
 * Tests of lib/onnx against independent references: a network PyTorch
 * trains and exports (`make_torch.py`, Debian's `python3-torch`) loads and
 * predicts PyTorch's probabilities on 1,000 MNIST test images to 1e-4, and
 * fine-tunes with `train()`; the project's model, exported, passes
 * `onnx.checker` (Debian's `python3-onnx`) and predicts the same in
 * onnxruntime-web to 1e-5; ONNX round trips are exact; `deno task convert`
 * and `deno task predict --model x.onnx` work; bad files get a
 * ModelFileError naming them before anything large exists, and leave no
 * tfjs tensor behind.
 *
 * Run: deno test --allow-read --allow-write --allow-env --allow-run tests/onnx/onnx_test.ts
 */
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import * as tf from "@tensorflow/tfjs";
import * as ort from "onnxruntime-web";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  buildModel,
  classNamesOf,
  loadModel,
  ModelFileError,
  predictProbabilities,
  saveKeras,
  saveModel,
  setClassNames,
  train,
} from "../../lib/mod.ts";
import {
  loadOnnx,
  MAX_NODES,
  onnx,
  onnxBytes,
  type OnnxModelProto,
  onnxToLayers,
  saveOnnx,
  SUPPORTED_OPS,
} from "../../lib/onnx/mod.ts";
import { createHandler } from "../../lib/server/mod.ts";
import { denoTask, realMnist, silent, values, weightsOf } from "../helpers.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PYTHON = "/usr/bin/python3";
const CI = Deno.env.get("CI") === "true";
/**
 * Test images compared with PyTorch; `ONNX_TORCH_COUNT=10000` compares all
 * of them (docs/onnx.md gives that run).
 */
const COUNT = Number(Deno.env.get("ONNX_TORCH_COUNT") ?? 1000);

/** Why `modules` cannot be imported by Debian's Python, if they cannot. */
async function missing(modules: string): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(PYTHON, {
      args: ["-c", `import ${modules}`],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success ? undefined : `python3 cannot import ${modules}`;
  } catch {
    return `${PYTHON} not found`;
  }
}

/** True when the tests needing `modules` must be skipped (never under CI). */
async function skipWithout(modules: string, packages: string) {
  const why = await missing(modules);
  if (why && CI) throw new Error(`${why}: install ${packages}`);
  if (why) console.warn(`SKIPPED: ${why} (install ${packages})`);
  return why !== undefined;
}

const noTorch = await skipWithout("torch", "python3-torch");
const noOnnx = await skipWithout("onnx", "python3-onnx");
const mnist = await realMnist();
const tmp = await Deno.makeTempDir({ prefix: "onnx_test_" });

async function python(args: string[]): Promise<string> {
  const out = await new Deno.Command(PYTHON, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (!out.success) {
    throw new Error(`python3 ${args[0]}: ${decoder.decode(out.stderr)}`);
  }
  return decoder.decode(out.stdout);
}

/** The first `count` test images as `[count, 28, 28, 1]` values in [0, 1]. */
function testImages(count: number): Float32Array {
  return Float32Array.from(
    mnist.test.images.subarray(0, count * 784),
    (v) => v / 255,
  );
}

function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

Deno.test({
  name:
    "a network torch.onnx.export wrote predicts PyTorch's probabilities (1e-4) and fine-tunes",
  ignore: noTorch,
  async fn() {
    await python([
      fileURLToPath(new URL("./make_torch.py", import.meta.url)),
      tmp,
      join(ROOT, "data", "mnist"),
      String(COUNT),
    ]);
    const path = join(tmp, "torch_mnist.onnx");
    const expected = new Float32Array(
      (await Deno.readFile(join(tmp, "probabilities.bin"))).buffer,
    );
    const model = await loadModel(path);
    const kinds = model.layers.map((l) => l.getClassName());
    assertEquals(kinds[1], "Rescaling", "the normalisation is kept");
    const got = await predictProbabilities(model, mnist.test, { count: COUNT });
    let worst = 0;
    let agree = 0;
    for (let i = 0; i < COUNT; i++) {
      const want = expected.subarray(i * 10, i * 10 + 10);
      for (let j = 0; j < 10; j++) {
        worst = Math.max(worst, Math.abs(got.probabilities[i][j] - want[j]));
      }
      if (got.classes[i] === argmax(want)) agree++;
    }
    console.log(
      `${COUNT} test images: max |tfjs - PyTorch| = ${worst}, the same class for ${agree}`,
    );
    assert(worst <= 1e-4, `max |tfjs - PyTorch| = ${worst}`);
    assertEquals(agree, COUNT, "the same class for every image");
    const accuracy = got.classes.filter((c, i) => c === mnist.test.labels[i])
      .length / COUNT;
    assert(accuracy > 0.8, `PyTorch's brief training gives ${accuracy}`);
    // Serves on the drawing page: predictions and explanations of a picture.
    const handler = createHandler({ model });
    const png = await Deno.readFile(
      join(ROOT, "notebooks", "sample_digits", "digit_7.png"),
    );
    for (const path of ["/api/predict", "/api/explain"]) {
      const response = await handler(
        new Request(`http://127.0.0.1${path}`, {
          method: "POST",
          headers: { "content-type": "image/png" },
          body: png,
        }),
      );
      assertEquals(response.status, 200, path);
      assertEquals((await response.json()).probabilities[0].length, 10);
    }
    // Fine-tunes: one epoch on 1,024 images changes the weights and keeps
    // (or improves) the accuracy.
    const before = weightsOf(model);
    const { test } = await train(model, mnist, {
      limit: 1024,
      seed: 1,
      sink: silent,
      verbose: false,
      threads: 1,
    });
    assert(Number.isFinite(test.loss), `test loss ${test.loss}`);
    assert(test.acc > 0.8, `accuracy after fine-tuning ${test.acc}`);
    assert(
      weightsOf(model).some((w, i) => w.some((v, j) => v !== before[i][j])),
      "training changed the weights",
    );
    // Exported back (Rescaling first, then the NHWC input's Transpose), it
    // reads in again as the same model.
    await saveOnnx(model, join(tmp, "torch_tuned.onnx"));
    const back = await loadModel(join(tmp, "torch_tuned.onnx"));
    assertEquals(weightsOf(back), weightsOf(model));
    assertEquals(
      await predictProbabilities(back, mnist.test, { count: 100 }),
      await predictProbabilities(model, mnist.test, { count: 100 }),
    );
    back.dispose();
    // …and as Keras 2 HDF5, its normalisation a Rescaling layer.
    await saveKeras(model, join(tmp, "torch_tuned.h5"));
    const keras = await loadModel(join(tmp, "torch_tuned.h5"));
    assertEquals(
      await predictProbabilities(keras, mnist.test, { count: 100 }),
      await predictProbabilities(model, mnist.test, { count: 100 }),
    );
    keras.dispose();
    model.dispose();
  },
});

Deno.test({
  name:
    "the project's model exports to ONNX that onnx.checker accepts and onnxruntime-web predicts the same (1e-5)",
  ignore: noOnnx,
  async fn() {
    const model = buildModel({ seed: 3 });
    await train(model, mnist, {
      limit: 512,
      seed: 3,
      sink: silent,
      verbose: false,
      threads: 1,
    });
    const names = [
      "zero",
      "one",
      "two",
      "three",
      "four",
      "five",
      "six",
      "seven",
      "eight",
      "nine",
    ];
    setClassNames(model, names);
    const path = join(tmp, "mnist_cnn.onnx");
    await saveOnnx(model, path);
    const report = JSON.parse(
      await python([
        "-c",
        `import json, sys, onnx
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
print(json.dumps({"opset": [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")][0],
  "batch": m.graph.input[0].type.tensor_type.shape.dim[0].dim_param,
  "props": {p.key: p.value for p in m.metadata_props}}))`,
        path,
      ]),
    );
    assert(report.opset >= 13, `opset ${report.opset}`);
    assertEquals(report.batch, "batch", "a dynamic batch");
    assertEquals(JSON.parse(report.props.class_names), names);
    assertEquals(report.props.preprocessing, "mnist");
    const count = 256;
    const x = testImages(count);
    const ours = await predictProbabilities(model, mnist.test, { count });
    // One thread: onnxruntime-web fixes its threads when its WASM starts
    // (the bench measures 1 and 2, each in its own process).
    for (const threads of [1]) {
      ort.env.wasm.numThreads = threads;
      const session = await ort.InferenceSession.create(
        await Deno.readFile(path),
      );
      const out = await session.run({
        input: new ort.Tensor("float32", x, [count, 28, 28, 1]),
      });
      const theirs = out.output.data as Float32Array;
      let worst = 0;
      for (let i = 0; i < count; i++) {
        for (let j = 0; j < 10; j++) {
          worst = Math.max(
            worst,
            Math.abs(theirs[i * 10 + j] - ours.probabilities[i][j]),
          );
        }
        assertEquals(
          argmax(theirs.subarray(i * 10, i * 10 + 10)),
          ours.classes[i],
        );
      }
      assert(worst <= 1e-5, `max |ort - tfjs| = ${worst} (${threads} threads)`);
      await session.release();
    }
    // Back in: the same weights, the same probabilities, the class names.
    const back = await loadOnnx(path);
    assertEquals(classNamesOf(back), names);
    assertEquals(weightsOf(back), weightsOf(model));
    back.dispose();
    model.dispose();
  },
});

Deno.test("every layer onnxBytes writes: onnxruntime-web and our reader agree with tfjs", async () => {
  const model = tf.sequential({
    layers: [
      tf.layers.inputLayer({ inputShape: [28, 28, 1] }),
      tf.layers.rescaling({ scale: 2, offset: -1 }),
      tf.layers.zeroPadding2d({ padding: [[1, 2], [0, 1]] }),
      tf.layers.conv2d({
        filters: 4,
        kernelSize: 3,
        strides: 2,
        padding: "same",
        activation: "relu6",
        kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
        biasInitializer: tf.initializers.randomNormal({ seed: 1, stddev: 0.1 }),
      }),
      tf.layers.batchNormalization({ epsilon: 1e-3 }),
      tf.layers.leakyReLU({ alpha: 0.2 }),
      tf.layers.averagePooling2d({ poolSize: 3, strides: 2, padding: "same" }),
      tf.layers.conv2d({
        filters: 6,
        kernelSize: 3,
        dilationRate: 2,
        activation: "elu",
        kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
        biasInitializer: tf.initializers.randomNormal({ seed: 2, stddev: 0.1 }),
      }),
      tf.layers.maxPooling2d({ poolSize: 2, padding: "same" }),
      tf.layers.permute({ dims: [2, 1, 3] }),
      tf.layers.reshape({ targetShape: [2, 2, 6] }),
      tf.layers.conv2d({
        filters: 3,
        kernelSize: 1,
        activation: "sigmoid",
        kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
        biasInitializer: tf.initializers.randomNormal({ seed: 3, stddev: 0.1 }),
      }),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({
        units: 8,
        activation: "tanh",
        biasInitializer: tf.initializers.randomNormal({ seed: 4, stddev: 0.1 }),
      }),
      tf.layers.dropout({ rate: 0.5 }),
      tf.layers.dense({ units: 5 }),
      tf.layers.softmax({}),
    ],
  });
  const bn = model.layers.find((l) =>
    l.getClassName() === "BatchNormalization"
  )!;
  bn.setWeights(
    bn.getWeights().map((w, i) =>
      tf.tensor(values(4, 10 + i).map((v) => i === 3 ? 1 + v * v : v), w.shape)
    ),
  );
  const count = 16;
  const x = testImages(count);
  const input = tf.tensor4d(x, [count, 28, 28, 1]);
  const ours = (model.predict(input) as tf.Tensor).dataSync();
  const bytes = onnxBytes(model);
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(bytes);
  const out = await session.run({
    input: new ort.Tensor("float32", x, [count, 28, 28, 1]),
  });
  const theirs = out.output.data as Float32Array;
  const back = onnxToLayers(bytes).model;
  const again = (back.predict(input) as tf.Tensor).dataSync();
  for (let i = 0; i < ours.length; i++) {
    assert(
      Math.abs(theirs[i] - ours[i]) <= 1e-5,
      `ort: ${theirs[i]} vs ${ours[i]}`,
    );
    assert(
      Math.abs(again[i] - ours[i]) <= 1e-6,
      `read back: ${again[i]} vs ${ours[i]}`,
    );
  }
  await session.release();
  tf.dispose(input);
  back.dispose();
  model.dispose();
});

Deno.test("deno task convert: TF.js ⇄ .onnx ⇄ .h5, and predict --model x.onnx", async () => {
  const model = buildModel({ seed: 4 });
  const dir = await saveModel(model, join(tmp, "tfjs"));
  const onnxPath = join(tmp, "converted.onnx");
  for (
    const [from, to] of [
      [dir, onnxPath],
      [onnxPath, join(tmp, "from_onnx.h5")],
      [onnxPath, join(tmp, "from_onnx.keras")],
      [onnxPath, join(tmp, "from_onnx")],
      [join(tmp, "from_onnx.h5"), join(tmp, "from_h5.onnx")],
    ]
  ) {
    const run = await denoTask("convert", from, to);
    assertEquals(run.code, 0, run.errors.join("\n"));
  }
  const outputs = [];
  for (
    const m of [
      dir,
      onnxPath,
      join(tmp, "from_onnx"),
      join(tmp, "from_h5.onnx"),
    ]
  ) {
    const run = await denoTask(
      "predict",
      "--model",
      m,
      "--json",
      "--count",
      "5",
    );
    assertEquals(run.code, 0, run.errors.join("\n"));
    outputs.push(JSON.parse(run.stdout).probabilities);
  }
  for (const o of outputs.slice(1)) assertEquals(o, outputs[0]);
  model.dispose();
});

// --- bad files --------------------------------------------------------------

/** A small valid model: Flatten → Gemm → Softmax on [N, 1, 28, 28]. */
function tinyModel(): OnnxModelProto {
  return {
    irVersion: 8,
    opsetImport: [{ domain: "", version: 13 }],
    graph: {
      input: [{
        name: "x",
        type: {
          tensorType: {
            elemType: 1,
            shape: {
              dim: [{ dimParam: "N" }, { dimValue: 1 }, { dimValue: 28 }, {
                dimValue: 28,
              }],
            },
          },
        },
      }],
      output: [{ name: "y" }],
      initializer: [
        {
          name: "w",
          dims: [784, 10],
          dataType: 1,
          rawData: new Uint8Array(784 * 10 * 4),
        },
        { name: "b", dims: [10], dataType: 1, rawData: new Uint8Array(40) },
      ],
      node: [
        { name: "flat", opType: "Flatten", input: ["x"], output: ["f"] },
        { name: "fc", opType: "Gemm", input: ["f", "w", "b"], output: ["g"] },
        { name: "soft", opType: "Softmax", input: ["g"], output: ["y"] },
      ],
    },
  };
}

function encode(model: OnnxModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** Asserts loading `bytes` as `name` fails naming the file and `problem`. */
async function assertBad(name: string, bytes: Uint8Array, problem: string) {
  const path = join(tmp, name);
  await Deno.writeFile(path, bytes);
  const tensors = tf.memory().numTensors;
  const variables = Object.keys(tf.engine().registeredVariables).length;
  const error = await assertRejects(() => loadModel(path), ModelFileError);
  assertStringIncludes(error.message, `${path}: `);
  assertStringIncludes(error.message, problem);
  assertEquals(tf.memory().numTensors, tensors, `${name}: no tensor left`);
  assertEquals(
    Object.keys(tf.engine().registeredVariables).length,
    variables,
    `${name}: no variable left`,
  );
}

Deno.test("the tiny model of the bad-file tests loads", async () => {
  const path = join(tmp, "tiny.onnx");
  await Deno.writeFile(path, encode(tinyModel()));
  const model = await loadModel(path);
  assertEquals(model.countParams(), 7850);
  model.dispose();
});

Deno.test("bad ONNX files get a ModelFileError naming the file and the problem, leaving no tensor", async (t) => {
  const good = encode(tinyModel());
  await t.step(
    "truncated",
    () =>
      assertBad(
        "truncated.onnx",
        good.subarray(0, good.length - 1000),
        "truncated or corrupt",
      ),
  );
  await t.step("byte-flipped", async () => {
    const flipped = new Uint8Array(good);
    for (let i = 0; i < 64; i++) flipped[i] ^= 0xff;
    await assertBad("flipped.onnx", flipped, "");
  });
  await t.step(
    "not ONNX at all",
    () =>
      assertBad("text.onnx", new TextEncoder().encode("hello, world\n"), ""),
  );
  await t.step(
    "empty",
    () => assertBad("empty.onnx", new Uint8Array(), "IR version 0"),
  );
  await t.step(
    "a missing file",
    () =>
      assertRejects(
        () => loadModel(join(tmp, "none.onnx")),
        ModelFileError,
        "no such file",
      ),
  );
  await t.step("absurd dimensions", () => {
    const m = tinyModel();
    m.graph!.initializer![0].dims = [1 << 30, 1 << 30];
    return assertBad("absurd.onnx", encode(m), "is too large");
  });
  await t.step("dimensions that do not match the data", () => {
    const m = tinyModel();
    m.graph!.initializer![0].dims = [785, 10];
    return assertBad(
      "mismatch.onnx",
      encode(m),
      "needs 7850 values, its data holds 7840",
    );
  });
  await t.step("an absurd input", () => {
    const m = tinyModel();
    m.graph!.input![0].type!.tensorType!.shape!.dim![2] = { dimValue: 1e12 };
    return assertBad("input.onnx", encode(m), "axis 2 of size 1000000000000");
  });
  await t.step("external data", () => {
    const m = tinyModel();
    const w = m.graph!.initializer![0];
    w.rawData = null;
    w.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    w.externalData = [{ key: "location", value: "../../etc/passwd" }];
    return assertBad("external.onnx", encode(m), "external file");
  });
  await t.step("a cycle", () => {
    const m = tinyModel();
    m.graph!.node![0].input = ["x", "y"];
    return assertBad("cycle.onnx", encode(m), "the graph has a cycle");
  });
  await t.step("10,000 nodes", () => {
    const m = tinyModel();
    const relus = Array.from({ length: 10_000 }, (_, i) => ({
      opType: "Relu",
      input: [i === 0 ? "y0" : `r${i - 1}`],
      output: [`r${i}`],
    }));
    m.graph!.node!.push(...relus);
    assert(relus.length > MAX_NODES);
    return assertBad("many.onnx", encode(m), "10003 nodes");
  });
  await t.step("an unknown opset", () => {
    const m = tinyModel();
    m.opsetImport = [{ domain: "", version: 99 }];
    return assertBad("opset.onnx", encode(m), "opset 99");
  });
  await t.step("another domain", () => {
    const m = tinyModel();
    m.opsetImport!.push({ domain: "com.microsoft", version: 1 });
    m.graph!.node![2].domain = "com.microsoft";
    return assertBad("domain.onnx", encode(m), 'domain "com.microsoft"');
  });
  await t.step(
    "an unsupported op names the op, node, opset and what is supported",
    () => {
      const m = tinyModel();
      m.graph!.node![2].opType = "Erf";
      return assertBad(
        "erf.onnx",
        encode(m),
        `node "soft" (Erf, opset 13): op Erf is not supported; supported: ${
          SUPPORTED_OPS.join(", ")
        }`,
      );
    },
  );
  await t.step("a branch (not a chain)", () => {
    const m = tinyModel();
    m.graph!.node![2].input = ["g", "f"];
    m.graph!.node![2].opType = "Add";
    return assertBad("branch.onnx", encode(m), "feeds 2 nodes");
  });
  await t.step("an input that is not a picture", () => {
    const m = tinyModel();
    m.graph!.input![0].type!.tensorType!.shape!.dim![2] = { dimValue: 14 };
    m.graph!.initializer![0].dims = [392, 10];
    m.graph!.initializer![0].rawData = new Uint8Array(392 * 40);
    return assertBad("small.onnx", encode(m), "not a 28×28 picture");
  });
  await t.step("a subgraph nested 20,000 deep", () => {
    // GraphProto → NodeProto → AttributeProto → GraphProto …, 20,000 times.
    let inner = new Uint8Array();
    const tag = (field: number, body: Uint8Array) => {
      const len: number[] = [];
      let n = body.length;
      do {
        len.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
        n >>>= 7;
      } while (n > 0);
      const out = new Uint8Array(1 + len.length + body.length);
      out[0] = (field << 3) | 2;
      out.set(len, 1);
      out.set(body, 1 + len.length);
      return out;
    };
    for (let i = 0; i < 20_000; i++) {
      inner = tag(1, tag(5, tag(6, inner))); // graph.node.attribute.g
    }
    const bytes = new Uint8Array([
      ...encode({ irVersion: 8 }),
      ...tag(7, inner),
    ]);
    return assertBad("deep.onnx", bytes, "");
  });
});

Deno.test("fuzz: 400 mutations of an exported model load or fail with a ModelFileError, leaving no tensor", () => {
  const source = tf.sequential({
    layers: [
      tf.layers.inputLayer({ inputShape: [28, 28, 1] }),
      tf.layers.rescaling({ scale: 0.5 }),
      tf.layers.conv2d({ filters: 2, kernelSize: 3, activation: "relu" }),
      tf.layers.batchNormalization({}),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 3, activation: "softmax" }),
    ],
  });
  // A copy: protobufjs may hand back a Node Buffer, whose slice() is a view.
  const good = new Uint8Array(onnxBytes(source));
  source.dispose();
  const tensors = tf.memory().numTensors;
  let s = 12345;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  let loaded = 0;
  for (let i = 0; i < 400; i++) {
    let bytes = new Uint8Array(good);
    const kind = i % 4;
    if (kind === 0) bytes = bytes.subarray(0, next() % bytes.length);
    else if (kind === 1) {
      for (let k = 0; k < 1 + (i % 8); k++) {
        bytes[next() % bytes.length] ^= 1 << (next() % 8);
      }
    } else if (kind === 2) {
      // a byte of the protobuf's framing (near the start: tags and lengths)
      bytes[next() % Math.min(bytes.length, 4096)] = next() % 256;
    } else {
      const at = next() % bytes.length;
      bytes = new Uint8Array([
        ...bytes.subarray(0, at),
        next() % 256,
        ...bytes.subarray(at),
      ]);
    }
    try {
      const { model } = onnxToLayers(bytes, { file: `mutation ${i}` });
      loaded++;
      model.dispose();
    } catch (error) {
      assert(
        error instanceof ModelFileError,
        `mutation ${i}: ${(error as Error).name}: ${(error as Error).message}`,
      );
    }
  }
  assertEquals(tf.memory().numTensors, tensors, "no tensor left");
  console.log(`${loaded} of 400 mutations loaded`);
  assert(loaded > 40 && loaded < 400, "some mutations load, some do not");
});

Deno.test("onnxToLayers on bytes: a NCHW Flatten before a Dense permutes its rows", () => {
  // Conv 1→2 channels, 1×1, identity-like weights, then Flatten and a Gemm
  // that picks feature 1 (C·H·W order: channel 0, pixel 1).
  const model: OnnxModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: "", version: 13 }],
    graph: {
      input: [{
        name: "x",
        type: {
          tensorType: {
            elemType: 1,
            shape: {
              dim: [{ dimValue: 1 }, { dimValue: 1 }, { dimValue: 1 }, {
                dimValue: 2,
              }],
            },
          },
        },
      }],
      output: [{ name: "y" }],
      initializer: [
        { name: "w", dims: [2, 1, 1, 1], dataType: 1, floatData: [1, 10] },
        { name: "g", dims: [4, 1], dataType: 1, floatData: [0, 1, 0, 0] },
      ],
      node: [
        { opType: "Conv", input: ["x", "w"], output: ["c"] },
        { opType: "Flatten", input: ["c"], output: ["f"] },
        { opType: "Gemm", input: ["f", "g"], output: ["y"] },
      ],
    },
  };
  const { model: m } = onnxToLayers(encode(model));
  // x = [3, 5] (H=1, W=2): conv channels [3, 5] and [30, 50]; ONNX feature 1 is 5.
  const y = m.predict(tf.tensor4d([3, 5], [1, 1, 2, 1])) as tf.Tensor;
  assertEquals(Array.from(y.dataSync()), [5]);
  tf.dispose(y);
  m.dispose();
  assertThrows(
    () => onnxToLayers(encode(model).subarray(0, 20), { file: "cut.onnx" }),
    ModelFileError,
    "cut.onnx: ",
  );
});

Deno.test("onnxBytes refuses a layer it cannot write", async () => {
  const model = tf.sequential({
    layers: [
      tf.layers.inputLayer({ inputShape: [4] }),
      tf.layers.repeatVector({ n: 2 }),
    ],
  });
  assertThrows(
    () => onnxBytes(model),
    ModelFileError,
    "(RepeatVector) is not written",
  );
  await assertRejects(
    () => saveOnnx(buildModel({ seed: 1 }), "/proc/no-such-dir/m.onnx"),
    ModelFileError,
    "could not write",
  );
  model.dispose();
});

Deno.test("clean up", async () => {
  await Deno.remove(tmp, { recursive: true });
});

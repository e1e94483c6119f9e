/**
 * ONNX's own node tests (Debian's `libonnx-testdata`: ONNX's backend test
 * data, `data/node/test_*` with `model.onnx` and `test_data_set_0/*.pb`),
 * run through the importer for every test whose nodes are all of supported
 * ops. The weights the node tests pass as graph inputs become initializers
 * (a Layers model takes its weights as constants); the first input is fed,
 * NCHW turned NHWC as the converter says, and the output compared as ONNX's
 * backend runner compares (`rtol` 1e-3, `atol` 1e-7). Passed and failed are
 * reported per op; a test the importer refuses must be one of
 * {@linkcode LEFT_OUT}, each with its reason (counted by reason in docs/onnx.md).
 *
 * Run: deno test --allow-read --allow-env tests/onnx/conformance_test.ts
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { initBackend, ModelFileError } from "../../lib/mod.ts";
import {
  onnx,
  type OnnxModelProto,
  onnxToLayers,
  SUPPORTED_OPS,
} from "../../lib/onnx/mod.ts";
import { tensorValues } from "../../lib/onnx/proto.ts";

const DATA = "/usr/share/libonnx-testdata/data/node";
const CI = Deno.env.get("CI") === "true";

/** Node tests the importer refuses, with the reason (docs/onnx.md counts them). */
export const LEFT_OUT: Record<string, string> = {
  test_averagepool_1d_default: "1-D pooling (rank 3): only 2-D pictures",
  test_averagepool_2d_ceil:
    "ceil_mode 1 that enlarges the output: no Keras pooling does",
  test_averagepool_2d_pads:
    'pads that are not TensorFlow\'s "same", padding left out of the average',
  test_averagepool_2d_same_lower:
    "SAME_LOWER (the extra pad first), padding left out of the average",
  test_averagepool_3d_default: "3-D pooling (rank 5): only 2-D pictures",
  test_batchnorm_epsilon_training_mode:
    "training mode (the running statistics as outputs)",
  test_batchnorm_example_training_mode:
    "training mode (the running statistics as outputs)",
  test_clip: "clips to [-1, 1]: only [0, max] (a ReLU with a ceiling)",
  test_clip_default_inbounds: "a rank-1 input: no axis beside the batch",
  test_clip_default_int8_inbounds: "an int8 input: only float inputs",
  test_clip_default_int8_max: "an int8 bound: only float inputs",
  test_clip_default_int8_min: "an int8 bound: only float inputs",
  test_clip_default_max:
    "clips to [-∞, 0]: only [0, max] (a ReLU with a ceiling)",
  test_clip_example: "a rank-1 input: no axis beside the batch",
  test_clip_inbounds: "a rank-1 input: no axis beside the batch",
  test_clip_outbounds: "a rank-1 input: no axis beside the batch",
  test_clip_splitbounds: "a rank-1 input: no axis beside the batch",
  test_constant: "no input: the graph is a constant",
  test_constant_pad: "pads with 1.2: only zero padding",
  test_dropout_default_mask: "the mask output",
  test_dropout_default_mask_ratio: "the mask output",
  test_dropout_default_old: "a rank-1 input: no axis beside the batch",
  test_edge_pad:
    "an int32 input (and edge mode): only float inputs, zero padding",
  test_elu: "alpha 2: Keras's elu has alpha 1",
  test_elu_example: "a rank-1 input: no axis beside the batch",
  test_flatten_axis0: "axis 0: merges the batch axis",
  test_flatten_axis2: "axis 2: merges the batch axis with another",
  test_flatten_axis3: "axis 3: merges the batch axis with others",
  test_flatten_negative_axis1: "axis -1: merges the batch axis with others",
  test_flatten_negative_axis2: "axis -2: merges the batch axis with others",
  test_flatten_negative_axis4: "axis -4 (0): merges the batch axis",
  test_gemm_all_attributes: "transA 1: the data transposed",
  test_gemm_default_matrix_bias: "a bias per row of the batch",
  test_gemm_transposeA: "transA 1: the data transposed",
  test_identity_opt: "an optional, not a tensor",
  test_identity_sequence: "a sequence, not a tensor",
  test_leakyrelu_example: "a rank-1 input: no axis beside the batch",
  test_logsoftmax_axis_0: "along the batch axis",
  test_matmul_3d: "a stack of matrices as the weights (rank 3)",
  test_matmul_4d: "a stack of matrices as the weights (rank 4)",
  test_maxpool_1d_default: "1-D pooling (rank 3): only 2-D pictures",
  test_maxpool_2d_ceil:
    "ceil_mode 1 that enlarges the output: no Keras pooling does",
  test_maxpool_2d_dilations: "dilated pooling: no Keras pooling does",
  test_maxpool_2d_pads: 'pads that are not TensorFlow\'s "same"',
  test_maxpool_2d_same_lower: "SAME_LOWER (the extra pad first)",
  test_maxpool_2d_uint8: "a uint8 input: only float inputs",
  test_maxpool_3d_default: "3-D pooling (rank 5): only 2-D pictures",
  test_maxpool_with_argmax_2d_precomputed_pads: "the Indices output",
  test_maxpool_with_argmax_2d_precomputed_strides: "the Indices output",
  test_reflect_pad:
    "an int32 input (and reflect mode): only float inputs, zero padding",
  test_reshape_allowzero_reordered: "allowzero with a 0 in the shape",
  test_reshape_negative_extended_dims: "the batch axis changes size",
  test_reshape_one_dim: "the batch axis merged with the others",
  test_reshape_reordered_all_dims: "the batch axis changes size",
  test_selu: "alpha 2, gamma 3: Keras's selu has fixed constants",
  test_selu_example: "a rank-1 input: no axis beside the batch",
  test_sigmoid_example: "a rank-1 input: no axis beside the batch",
  test_softmax_axis_0: "along the batch axis",
  test_softplus_example: "a rank-1 input: no axis beside the batch",
  test_softsign_example: "a rank-1 input: no axis beside the batch",
  test_tanh_example: "a rank-1 input: no axis beside the batch",
  test_training_dropout: "training mode",
  test_training_dropout_default: "training mode",
  test_training_dropout_default_mask: "training mode and the mask output",
  test_training_dropout_mask: "training mode and the mask output",
  test_training_dropout_zero_ratio: "training mode",
  test_training_dropout_zero_ratio_mask: "training mode and the mask output",
  test_transpose_all_permutations_2: "moves the batch axis",
  test_transpose_all_permutations_3: "moves the batch axis",
  test_transpose_all_permutations_4: "moves the batch axis",
  test_transpose_all_permutations_5: "moves the batch axis",
  test_transpose_default: "moves the batch axis",
};

/** True when ONNX's test data is missing (never under CI=true). */
async function missingData(): Promise<boolean> {
  try {
    await Deno.stat(DATA);
    return false;
  } catch {
    const why = `${DATA} not found: install libonnx-testdata`;
    if (CI) throw new Error(why);
    console.warn(`SKIPPED: ${why}`);
    return true;
  }
}

function readTensor(path: string) {
  return tensorValues(onnx.TensorProto.decode(Deno.readFileSync(path)));
}

/** The op a node test is of: its first op that is not Constant. */
function opOf(model: OnnxModelProto): string {
  const ops = (model.graph?.node ?? []).map((n) => n.opType ?? "");
  return ops.find((o) => o !== "Constant") ?? ops[0] ?? "";
}

type Result = "passed" | "failed" | "refused";

/** Runs one node test: its result and, when not passed, why. */
function runTest(dir: string): { result: Result; why?: string } {
  const model = onnx.ModelProto.decode(
    Deno.readFileSync(join(dir, "model.onnx")),
  );
  const graph = model.graph!;
  const set = join(dir, "test_data_set_0");
  const files = [...Deno.readDirSync(set)].map((e) => e.name).sort();
  const inputs = files.filter((f) => f.startsWith("input_")).map((f) =>
    onnx.TensorProto.decode(Deno.readFileSync(join(set, f)))
  );
  const outputs = files.filter((f) => f.startsWith("output_")).map((f) =>
    readTensor(join(set, f))
  );
  // Graph inputs after the first become initializers (the weights).
  const graphInputs = graph.input ?? [];
  graphInputs.slice(1).forEach((v, i) => {
    const t = inputs[i + 1];
    if (t) {
      graph.initializer = [...(graph.initializer ?? []), {
        ...t,
        name: v.name,
      }];
    }
  });
  graph.input = graphInputs.slice(0, 1);
  const bytes = onnx.ModelProto.encode(model).finish();
  const before = tf.memory().numTensors;
  let converted;
  try {
    converted = onnxToLayers(bytes, { file: dir, finalLogSoftmax: "keep" });
  } catch (error) {
    if (!(error instanceof ModelFileError)) throw error;
    assertEquals(tf.memory().numTensors, before, `${dir}: tensors left`);
    return { result: "refused", why: error.problem };
  }
  const x = tensorValues(inputs[0]);
  const { model: layers, inputOrder, outputOrder } = converted;
  try {
    const got = tf.tidy(() => {
      const input = tf.transpose(tf.tensor(x.values, x.dims), inputOrder);
      const y = layers.predict(input) as tf.Tensor;
      return tf.transpose(y, outputOrder.map((_, j) => outputOrder.indexOf(j)));
    });
    const want = outputs[0];
    const shape = got.shape;
    const values = got.dataSync();
    got.dispose();
    if (!tf.util.arraysEqual(shape, want.dims)) {
      return {
        result: "failed",
        why: `shape [${shape}], expected [${want.dims}]`,
      };
    }
    for (let i = 0; i < values.length; i++) {
      const d = Math.abs(values[i] - want.values[i]);
      if (!(d <= 1e-7 + 1e-3 * Math.abs(want.values[i]))) {
        return {
          result: "failed",
          why: `value ${i}: ${values[i]}, expected ${want.values[i]}`,
        };
      }
    }
    return { result: "passed" };
  } catch (error) {
    return { result: "failed", why: (error as Error).message };
  } finally {
    layers.dispose();
  }
}

const skip = await missingData();

Deno.test({
  name:
    "ONNX's node tests of every supported op pass, or are left out with a reason",
  ignore: skip,
  async fn() {
    await initBackend();
    const byOp = new Map<string, Record<Result, string[]>>();
    const refused: Record<string, string> = {};
    const failed: string[] = [];
    const tests = [...Deno.readDirSync(DATA)].map((e) => e.name).filter((n) =>
      n.startsWith("test_")
    ).sort();
    for (const name of tests) {
      const dir = join(DATA, name);
      const model = onnx.ModelProto.decode(
        Deno.readFileSync(join(dir, "model.onnx")),
      );
      const ops = (model.graph?.node ?? []).map((n) => n.opType ?? "");
      if (ops.length === 0 || !ops.every((o) => SUPPORTED_OPS.includes(o))) {
        continue;
      }
      // Add/Sub/Mul/Div are read only beside a layer or at the input: their
      // node tests (two computed inputs) are not of this importer.
      const op = opOf(model);
      if (["Add", "Sub", "Mul", "Div"].includes(op)) continue;
      const { result, why } = runTest(dir);
      const entry = byOp.get(op) ??
        { passed: [], failed: [], refused: [] };
      entry[result].push(name);
      byOp.set(op, entry);
      if (result === "refused") refused[name] = why!;
      if (result === "failed") failed.push(`${name}: ${why}`);
    }
    console.log("op                  passed  failed  left out");
    for (const [op, r] of [...byOp].sort()) {
      console.log(
        `${op.padEnd(20)}${String(r.passed.length).padStart(6)}${
          String(r.failed.length).padStart(8)
        }${String(r.refused.length).padStart(10)}`,
      );
    }
    if (Deno.env.get("ONNX_LIST_REFUSED")) console.log(refused);
    assertEquals(failed, [], "node tests whose numbers are wrong");
    const unexpected = Object.entries(refused).filter(([n]) => !(n in LEFT_OUT))
      .map(([n, why]) => `${n}: ${why}`);
    assertEquals(unexpected, [], "refused node tests not in LEFT_OUT");
    const nowPass = Object.keys(LEFT_OUT).filter((n) =>
      !(n in refused) && tests.includes(n)
    );
    assertEquals(nowPass, [], "LEFT_OUT lists tests that are not refused");
    const doc = await Deno.readTextFile(
      new URL("../../docs/onnx.md", import.meta.url),
    );
    // The docs count what passed and what was left out, as this run found.
    const passed = [...byOp.values()].reduce((n, r) => n + r.passed.length, 0);
    const counts = `(${passed}; ${Object.keys(LEFT_OUT).length} left out)`;
    assertStringIncludes(doc.replace(/\s+/g, " "), counts, "docs/onnx.md");
    // Every supported op but the arithmetic ones and Pad (whose three node
    // tests pad with 1.2 or in int32; tests/onnx/onnx_test.ts checks zero
    // padding against onnxruntime-web) has node tests that pass.
    for (const op of SUPPORTED_OPS) {
      if (["Add", "Sub", "Mul", "Div", "Constant", "Pad"].includes(op)) {
        continue;
      }
      assert(
        (byOp.get(op)?.passed.length ?? 0) > 0,
        `no node test of ${op} passed`,
      );
    }
  },
});

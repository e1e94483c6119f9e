/**
 * ONNX in and out, without Python: {@linkcode loadOnnx} reads a chain-shaped
 * vision network (PyTorch's `torch.onnx.export`, say) into a TensorFlow.js
 * Layers model; {@linkcode saveOnnx} writes one that ONNX Runtime runs. The
 * format is read and written with `onnx-proto` (onnx.proto compiled by
 * protobufjs).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { buildModel } from "../model.ts";
 * import { loadOnnx, saveOnnx } from "./mod.ts";
 * const dir = await Deno.makeTempDir();
 * await saveOnnx(buildModel({ seed: 1 }), `${dir}/mnist_cnn.onnx`);
 * const model = await loadOnnx(`${dir}/mnist_cnn.onnx`);
 * assertEquals(model.countParams(), 1199882);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { IMAGE_PIXELS, IMAGE_SIDE } from "../data.ts";
import { ModelFileError } from "../errors.ts";
import { MAX_FILE_BYTES } from "./proto.ts";
import { onnxToLayers } from "./read.ts";

export { LogSoftmax } from "./log_softmax.ts";
export {
  IR_VERSIONS,
  MAX_FILE_BYTES,
  MAX_NODES,
  MAX_VALUES,
  type Model as OnnxModelProto,
  onnx,
  OPSETS,
} from "./proto.ts";
export {
  type OnnxConversion,
  type OnnxReadOptions,
  onnxToLayers,
  SUPPORTED_OPS,
} from "./read.ts";
export {
  EXPORT_IR_VERSION,
  EXPORT_OPSET,
  EXPORTED_LAYERS,
  onnxBytes,
  type OnnxWriteOptions,
  saveOnnx,
} from "./write.ts";

/** True when `path` names an ONNX file (`.onnx`). */
export function isOnnxPath(path: string): boolean {
  return /\.onnx$/i.test(path);
}

/** Input shapes (without the batch) 28×28 pictures can be fed as. */
const PICTURES = [[IMAGE_SIDE, IMAGE_SIDE, 1], [IMAGE_SIDE, IMAGE_SIDE], [
  IMAGE_PIXELS,
]];

/**
 * Loads an ONNX model file as a TensorFlow.js Layers model that takes 28×28
 * pictures (`[1, 28, 28]` NCHW, `[28, 28]` or `[784]` in ONNX), not
 * compiled. A final LogSoftmax becomes a Softmax (the model outputs
 * probabilities); normalisation at the input (Sub, Div by constants) is kept
 * as a Rescaling layer. Class names (`class_names`, JSON) and
 * `preprocessing` in the model's `metadata_props` are kept; the file's
 * metadata is under `onnx` in the user metadata.
 *
 * @throws {ModelFileError} naming the file and the problem.
 * @example
 * ```ts
 * import { assertRejects } from "@std/assert";
 * import { loadOnnx, ModelFileError } from "../mod.ts";
 * await assertRejects(() => loadOnnx("missing.onnx"), ModelFileError, "missing.onnx: no such file");
 * ```
 */
export async function loadOnnx(path: string): Promise<tf.LayersModel> {
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(path);
    if (info.size > MAX_FILE_BYTES) {
      throw new ModelFileError(
        path,
        `${info.size} bytes: larger than the ${MAX_FILE_BYTES} an ONNX file may have here`,
      );
    }
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof ModelFileError) throw error;
    throw new ModelFileError(
      path,
      error instanceof Deno.errors.NotFound
        ? "no such file"
        : `cannot be read: ${(error as Error).message}`,
    );
  }
  const converted = onnxToLayers(bytes, { file: path });
  const { model, metadata } = converted;
  const shape = model.inputs[0].shape.slice(1) as number[];
  if (!PICTURES.some((s) => tf.util.arraysEqual(s, shape))) {
    model.dispose();
    throw new ModelFileError(
      path,
      `the model's input (without the batch, NHWC) is [${shape}], not a 28×28 picture: expected [N, 1, 28, 28], [N, 28, 28] or [N, 784]`,
    );
  }
  const classes = model.outputs[0].shape.at(-1);
  const meta: Record<string, unknown> = {
    onnx: {
      opset: converted.opset,
      input: converted.names.input,
      output: converted.names.output,
      notes: converted.notes,
      metadata,
    },
  };
  try {
    const names = JSON.parse(metadata.class_names ?? "null");
    if (
      Array.isArray(names) && names.length === classes &&
      names.every((n) =>
        typeof n === "string" && n.length > 0 && n.length <= 200
      )
    ) meta.classNames = names;
  } catch {
    // informative only
  }
  if (metadata.preprocessing === "grey") meta.preprocessing = "grey";
  model.setUserDefinedMetadata(meta);
  return model;
}

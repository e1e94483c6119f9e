/**
 * `deno task convert IN OUT`: converts a model between the TensorFlow.js
 * Layers format (a directory), Keras 2 HDF5 (`.h5`), Keras 3 (`.keras`) and
 * ONNX (`.onnx`), in any direction, without Python. The output format is taken from `OUT`.
 * Optimizer state is not carried into Keras files.
 *
 * @module
 */
import {
  initBackend,
  loadModel,
  saveKeras,
  saveModel,
  saveOnnx,
  UsageError,
} from "../lib/mod.ts";
import { isKerasPath } from "../lib/keras/mod.ts";
import { isOnnxPath } from "../lib/onnx/mod.ts";
import { runTask } from "./flags.ts";

const USAGE = `Usage: deno task convert IN OUT

Converts a model between the four formats, the output's taken from OUT:
  a directory        the TensorFlow.js Layers format (model.json + weights.bin)
  FILE.h5, .hdf5     Keras 2 HDF5 (read by keras.models.load_model in Keras 2 and 3)
  FILE.keras         Keras 3
  FILE.onnx          ONNX (opset 13, dynamic batch; ONNX Runtime runs it)
IN may be any of the four (.h5 from Keras 2.2–2.3, tf.keras 2.x or Keras 3;
.onnx from torch.onnx.export and the like: a chain of the ops docs/onnx.md lists).

Flags:
  --help             show this help`;

async function main(): Promise<void> {
  const args = Deno.args;
  if (args.includes("--help")) return console.log(USAGE);
  const flag = args.find((a) => a.startsWith("-"));
  if (flag) throw new UsageError(`unknown flag '${flag}'`);
  if (args.length !== 2) {
    throw new UsageError(
      `convert takes two paths, IN and OUT; got ${args.length}`,
    );
  }
  const [input, output] = args;
  await initBackend();
  const model = await loadModel(input);
  if (isOnnxPath(output)) await saveOnnx(model, output);
  else if (isKerasPath(output)) await saveKeras(model, output);
  else await saveModel(model, output);
  console.log(`Converted ${input} → ${output}`);
}

if (import.meta.main) await runTask(main, USAGE);

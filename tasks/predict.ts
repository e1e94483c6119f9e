/**
 * `deno task predict`: reload the saved model and predict the first ten
 * training digits, like the tutorial's `mnist_cnn_predict.py`.
 *
 * @module
 */
import {
  DEFAULT_MODEL_DIR,
  initBackend,
  loadMnist,
  loadModel,
  predictClasses,
} from "../lib/mod.ts";
import { parseFlags, runTask, usage } from "./flags.ts";
import { UsageError } from "../lib/errors.ts";

const SPEC = {
  "model-dir": {
    type: "string",
    default: "models/mnist_cnn",
    help: "the saved model",
  },
  start: {
    type: "int",
    min: 0,
    max: 59999,
    default: 0,
    help: "first training sample",
  },
  count: {
    type: "int",
    min: 1,
    max: 60000,
    default: 10,
    help: "samples to predict",
  },
} as const;
const USAGE = usage(
  "predict",
  "Reloads the saved model and predicts training digits.",
  SPEC,
);

async function main(): Promise<void> {
  const flags = parseFlags(Deno.args, SPEC);
  if (flags === "help") return console.log(USAGE);
  if (flags.start! + flags.count! > 60000) {
    throw new UsageError(
      `--start ${flags.start} + --count ${flags.count} runs past the 60000 training samples`,
    );
  }
  const dir = flags["model-dir"] === "models/mnist_cnn"
    ? DEFAULT_MODEL_DIR
    : flags["model-dir"]!;
  await initBackend();
  const model = await loadModel(dir);
  const mnist = await loadMnist();
  const predicted = predictClasses(model, mnist.train, {
    start: flags.start,
    count: flags.count,
  });
  const labels = Array.from(
    mnist.train.labels.subarray(flags.start!, flags.start! + flags.count!),
  );
  console.log(`Predicted: ${predicted.join(" ")}`);
  console.log(`Labels:    ${labels.join(" ")}`);
}

if (import.meta.main) await runTask(main, USAGE);

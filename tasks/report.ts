/**
 * `deno task report`: writes `report.html` beside a saved model — its
 * training curves, the confusion matrix on the 10,000 test images, precision,
 * recall and F1 per class, the most confident mistakes and why the model
 * made them (saliency, Grad-CAM, occlusion; docs/inside.md) — as one
 * self-contained page to open offline.
 *
 * @module
 */
import { join } from "node:path";
import {
  classify,
  initBackend,
  loadModel,
  preprocessingOf,
  readHistory,
  reportHtml,
  writeReport,
} from "../lib/mod.ts";
import { UsageError } from "../lib/errors.ts";
import { openDataset } from "../lib/datasets/mod.ts";
import { numClassesOf } from "../lib/model_info.ts";
import { readMetadata } from "../lib/saving.ts";
import {
  MODEL_DIR_FLAG,
  modelDir,
  parseFlags,
  runTask,
  usage,
} from "./flags.ts";

/**
 * The flags of `deno task report`, as `parseFlags` reads them.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseFlags } from "./flags.ts";
 * import { SPEC } from "./report.ts";
 * assertEquals(parseFlags(["--help"], SPEC), "help");
 * ```
 */
export const SPEC = {
  "model-dir": {
    ...MODEL_DIR_FLAG,
    help: "the saved model (report.html is written there)",
  },
  dataset: {
    type: "string",
    help:
      "mnist, fashion_mnist or a folder (default: the one the model was trained on)",
  },
} as const;
/**
 * What `deno task report --help` prints.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { USAGE } from "./report.ts";
 * assert(USAGE.startsWith("Usage: deno task report [flags]"));
 * ```
 */
export const USAGE = usage(
  "report",
  "Writes report.html beside the model: curves, confusion matrix, per-class table, mistakes and their explanations.",
  SPEC,
);

async function main(): Promise<void> {
  const flags = parseFlags(Deno.args, SPEC);
  if (flags === "help") return console.log(USAGE);
  const dir = modelDir(flags["model-dir"]);
  await initBackend();
  const model = await loadModel(dir);
  const history = await readHistory(dir);
  const run = (await readMetadata(dir))?.run as
    | { dataset?: string }
    | undefined;
  const dataset = flags.dataset ?? run?.dataset ?? "mnist";
  const { test, classNames } = await openDataset(dataset, {
    preprocessing: preprocessingOf(model),
  });
  if (classNames.length !== numClassesOf(model)) {
    throw new UsageError(
      `--dataset ${dataset} has ${classNames.length} classes, the model at ${dir} ${
        numClassesOf(model)
      }`,
    );
  }
  const results = await classify(model, test);
  const path = join(dir, "report.html");
  await writeReport(
    path,
    reportHtml({
      title: dir,
      history,
      results,
      split: test,
      model,
      datasetName: dataset,
    }),
  );
  const right = results.labels.filter((l, i) => l === results.classes[i])
    .length;
  console.log(
    `Wrote ${path}: ${right} of ${test.count} test images right; open it in a browser.`,
  );
}

if (import.meta.main) await runTask(main, USAGE);

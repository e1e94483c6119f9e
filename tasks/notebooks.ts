/**
 * `deno task notebooks`: executes the notebooks in place with one full
 * default run (one epoch on all 60,000 samples), so that the committed
 * notebooks show their outputs on GitHub and in any viewer. Needs Jupyter and
 * the Deno kernel (`deno jupyter --install`).
 *
 * `jupyter nbconvert --execute` would do, except that Deno 2.9's kernel can
 * publish a cell's last outputs after reporting it finished
 * (denoland/deno#24737) and nbconvert drops them; the runner used here keeps
 * them.
 *
 * @module
 */
import { join } from "node:path";
import { UsageError } from "../lib/mod.ts";
import {
  executeNotebook,
  missingJupyter,
  NOTEBOOKS,
} from "./notebook_runner/mod.ts";
import { parseFlags, runTask, usage } from "./flags.ts";

/** The notebooks, in the order they depend on each other. */
const ORDER = [
  "mnist_cnn.ipynb",
  "predict.ipynb",
  "your_digits.ipynb",
  "inside_the_cnn.ipynb",
  "fashion_mnist.ipynb",
  "your_dataset.ipynb",
  "from_pytorch.ipynb",
];

/**
 * The flags of `deno task notebooks`, as `parseFlags` reads them.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseFlags } from "./flags.ts";
 * import { SPEC } from "./notebooks.ts";
 * assertEquals(parseFlags(["--help"], SPEC), "help");
 * ```
 */
export const SPEC = {} as const;
/**
 * What `deno task notebooks --help` prints.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { USAGE } from "./notebooks.ts";
 * assert(USAGE.startsWith("Usage: deno task notebooks [flags]"));
 * ```
 */
export const USAGE = usage(
  "notebooks",
  "Executes notebooks/*.ipynb in place (a full one-epoch run) to refresh their outputs.",
  SPEC,
);

async function main(): Promise<void> {
  const flags = parseFlags(Deno.args, SPEC);
  if (flags === "help") return console.log(USAGE);
  const missing = await missingJupyter();
  if (missing) throw new UsageError(`cannot run the notebooks: ${missing}`);
  for (const name of ORDER) {
    const path = join(NOTEBOOKS, name);
    await executeNotebook(name, { output: path });
  }
}

if (import.meta.main) await runTask(main, USAGE);

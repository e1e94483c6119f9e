/**
 * `deno task bench-augment`: the augmentation table of docs/augment.md. The
 * cost of augmentation per gradient step (one thread, in this process), then
 * whole seeded runs as child processes, one at a time, each on one thread:
 * MNIST 12 epochs without and with `--augment` (and with half its factors),
 * Fashion-MNIST 12 epochs (its first epoch is the 1-epoch figure), and
 * PyTorch's figure for the same model on Fashion-MNIST
 * (`tasks/bench/augment_torch.py`). A run whose model directory holds a checkpoint
 * is resumed, so an interrupted table continues.
 *
 * @module
 */
import { initBackend } from "../../lib/backend.ts";
import { loadMnist } from "../../lib/data.ts";
import { buildModel } from "../../lib/model.ts";
import { parallelRunner } from "../../lib/engine/parallel.ts";
import { DEFAULT_AUGMENT } from "../../lib/engine/augment.ts";
import { readHistory } from "../../lib/checkpoint/history.ts";
import { permutation } from "../../lib/engine/random.ts";
import { UsageError } from "../../lib/errors.ts";
import { parseFlags, runTask, usage } from "../flags.ts";

/** Each run of the table and what it adds to `deno task train`. */
const RUNS: Record<string, string[]> = {
  mnist: [],
  mnist_augment: ["--augment"],
  // Half of Keras's usual factors: ±5°, ±5% shifts, ±5% zoom.
  mnist_augment_small: [
    "--rotation",
    "5",
    "--translation",
    ".05",
    "--zoom",
    ".05",
  ],
  fashion_mnist: ["--dataset", "fashion_mnist"],
  torch_fashion_mnist: [],
};
const ROWS = Object.keys(RUNS);
/**
 * The flags of `deno task bench-augment`, as `parseFlags` reads them.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseFlags } from "../flags.ts";
 * import { SPEC } from "./augment.ts";
 * assertEquals(parseFlags(["--help"], SPEC), "help");
 * ```
 */
export const SPEC = {
  rows: {
    type: "string",
    default: ROWS.join(","),
    help: "which runs, comma-separated (none: the step cost only)",
  },
  epochs: { type: "int", min: 1, default: 12, help: "epochs of each run" },
  seed: { type: "int", min: 0, default: 1, help: "seed of every run" },
  steps: {
    type: "int",
    min: 0,
    default: 20,
    help: "timed steps of the step cost (0: none)",
  },
} as const;
/**
 * What `deno task bench-augment --help` prints.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { USAGE } from "./augment.ts";
 * assert(USAGE.startsWith("Usage: deno task bench-augment [flags]"));
 * ```
 */
export const USAGE = usage(
  "bench-augment",
  "Measures augmentation: its cost per step, MNIST with and without it,\nFashion-MNIST, and PyTorch on Fashion-MNIST (long: hours on one thread).",
  SPEC,
);
const FASHION_DIR = "/usr/share/datasets/fashion-mnist";

/** Mean milliseconds of a one-thread step without and with augmentation. */
async function stepCost(steps: number): Promise<void> {
  await initBackend();
  const mnist = await loadMnist();
  const order = permutation(mnist.train.count, 1);
  const time = async (augment: boolean) => {
    const model = buildModel({ seed: 1 });
    const runner = await parallelRunner(model, mnist.train, { threads: 1 });
    const keys = augment
      ? { seed: 1, epoch: 0, augment: { ...DEFAULT_AUGMENT } }
      : { seed: 1, epoch: 0 };
    let ms = 0;
    for (let s = 0; s < steps + 5; s++) {
      const ids = order.subarray(s * 128, (s + 1) * 128);
      const started = performance.now();
      await runner.step(ids, keys);
      if (s >= 5) ms += performance.now() - started;
    }
    runner.dispose();
    return ms / steps;
  };
  const plain = await time(false), augmented = await time(true);
  console.log(
    `step, one thread, batch 128: ${plain.toFixed(1)} ms; with augmentation ` +
      `${augmented.toFixed(1)} ms (${
        (100 * (augmented / plain - 1)).toFixed(1)
      }% more)`,
  );
}

/** Runs a child process, passing its output through; true when it succeeded. */
async function child(command: string, args: string[]): Promise<boolean> {
  console.log(`$ ${command} ${args.join(" ")}`);
  const { success } = await new Deno.Command(command, {
    args,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return success;
}

async function main(): Promise<void> {
  const flags = parseFlags(Deno.args, SPEC);
  if (flags === "help") return console.log(USAGE);
  const rows = flags.rows!.split(",").filter((r) => r !== "none");
  for (const row of rows) {
    if (!ROWS.includes(row)) {
      throw new UsageError(`--rows: unknown run '${row}' (${ROWS.join(", ")})`);
    }
  }
  const epochs = flags.epochs!, seed = flags.seed!;
  if (flags.steps! > 0) await stepCost(flags.steps!);
  const table: string[] = [];
  for (const row of rows) {
    if (row === "torch_fashion_mnist") {
      const out = await new Deno.Command("/usr/bin/python3", {
        args: [
          "tasks/bench/augment_torch.py",
          FASHION_DIR,
          String(epochs),
          "1",
        ],
        stdout: "piped",
        stderr: "inherit",
      }).output();
      const logs = new TextDecoder().decode(out.stdout).trim().split("\n")
        .filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
      table.push(
        `| ${row} | ${logs[0]?.val_acc ?? "—"} | ${
          logs[epochs - 1]?.val_acc ?? "—"
        } | PyTorch ${out.success ? "" : "(failed)"} |`,
      );
      continue;
    }
    const dir = `models/augment_table/${row}`;
    const args = [
      "task",
      "train",
      "--epochs",
      String(epochs),
      "--seed",
      String(seed),
      "--threads",
      "1",
      "--model-dir",
      dir,
    ];
    args.push(...RUNS[row]);
    const resume = await Deno.stat(`${dir}/model.json`).then(
      () => true,
      () => false,
    );
    if (resume) args.push("--resume");
    const ok = await child(Deno.execPath(), args);
    const history = await readHistory(dir).catch(() => ({ epochs: [] }));
    const acc = (e: number) =>
      history.epochs.find((h) => h.epoch === e)?.val_acc.toFixed(4) ?? "—";
    table.push(
      `| ${row} | ${acc(0)} | ${acc(epochs - 1)} | ${
        ok ? "" : "(did not finish)"
      } |`,
    );
  }
  console.log(
    `\n| run | test accuracy, epoch 1 | epoch ${epochs} | |\n| --- | --- | --- | --- |\n${
      table.join("\n")
    }`,
  );
}

if (import.meta.main) await runTask(main, USAGE);

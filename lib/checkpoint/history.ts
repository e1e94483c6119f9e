/**
 * A training run's history as Keras keeps it: per-epoch `loss, acc,
 * val_loss, val_acc`, written as Keras's `CSVLogger` writes `history.csv`,
 * and the loss and accuracy of every step in `steps.csv`, both next to the
 * model and written atomically.
 *
 * @module
 */
import { join } from "node:path";
import { ModelFileError } from "../errors.ts";
import { writeFileAtomic } from "../files.ts";
import type { EpochLog, StepLog } from "../training.ts";

/** A run's history: one row per epoch and one per step. */
export interface History {
  /** Per-epoch metrics. */
  epochs: Pick<EpochLog, "epoch" | "loss" | "acc" | "val_loss" | "val_acc">[];
  /** Per-step batch loss and accuracy. */
  steps: StepLog[];
}

/** File names, next to the model. */
export const HISTORY_CSV = "history.csv";
/** The per-step file. */
export const STEPS_CSV = "steps.csv";

/** Keras's CSVLogger: `epoch` then the metric names sorted, CRLF lines. */
const EPOCH_KEYS = ["acc", "loss", "val_acc", "val_loss"] as const;
const STEP_KEYS = ["epoch", "step", "samples", "loss", "acc"] as const;
/** The last column of `steps.csv`: the samples of the step's whole epoch. */
const PER_EPOCH = "samples_per_epoch";

/**
 * `history.csv` as Keras 2's `CSVLogger` writes it: a header `epoch` plus the
 * metric names in sorted order, one row per epoch (0-based), Python's `csv`
 * excel dialect (comma separated, `\r\n` line ends).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { historyCsv } from "./history.ts";
 * assertEquals(
 *   historyCsv([{ epoch: 0, loss: 0.25, acc: 0.92, val_loss: 0.05, val_acc: 0.98 }]),
 *   "epoch,acc,loss,val_acc,val_loss\r\n0,0.92,0.25,0.98,0.05\r\n",
 * );
 * ```
 */
export function historyCsv(epochs: History["epochs"]): string {
  const rows = [["epoch", ...EPOCH_KEYS].join(",")];
  for (const e of epochs) {
    rows.push([e.epoch, ...EPOCH_KEYS.map((k) => e[k])].join(","));
  }
  return rows.map((r) => `${r}\r\n`).join("");
}

/**
 * `steps.csv`: `epoch,step,samples,loss,acc,samples_per_epoch`, one row per
 * gradient step (the last column empty where a step does not say).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { stepsCsv } from "./history.ts";
 * const step = { epoch: 0, step: 1, samples: 128, samplesPerEpoch: 60000, loss: 2.3, acc: 0.1 };
 * assertEquals(stepsCsv([step]).split("\r\n")[1], "0,1,128,2.3,0.1,60000");
 * ```
 */
export function stepsCsv(steps: StepLog[]): string {
  const rows = [[...STEP_KEYS, PER_EPOCH].join(",")];
  for (const s of steps) {
    rows.push(
      [...STEP_KEYS.map((k) => s[k]), s.samplesPerEpoch ?? ""].join(","),
    );
  }
  return rows.map((r) => `${r}\r\n`).join("");
}

function parseCsv(text: string, path: string): Record<string, number>[] {
  const [header, ...lines] = text.split(/\r?\n/).filter((l) => l.trim());
  if (!header) throw new ModelFileError(path, "empty history file");
  const keys = header.split(",");
  return lines.map((line, i) => {
    const cells = line.split(",");
    if (cells.length !== keys.length) {
      throw new ModelFileError(
        path,
        `line ${i + 2} has ${cells.length} fields, the header ${keys.length}`,
      );
    }
    return Object.fromEntries(keys.map((k, j) => [k, Number(cells[j])]));
  });
}

/**
 * Reads the history saved next to a model; an empty history when there is
 * none (a model trained before histories were saved).
 *
 * @throws {ModelFileError} when a history file is malformed.
 */
export async function readHistory(dir: string): Promise<History> {
  const read = async (name: string) => {
    const path = join(dir, name);
    try {
      return parseCsv(await Deno.readTextFile(path), path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
  };
  return {
    epochs: (await read(HISTORY_CSV)) as unknown as History["epochs"],
    steps: (await read(STEPS_CSV)).map((row) => {
      const { [PER_EPOCH]: perEpoch, ...step } = row;
      return (perEpoch > 0
        ? { ...step, samplesPerEpoch: perEpoch }
        : step) as unknown as StepLog;
    }),
  };
}

/**
 * Writes `history.csv` and `steps.csv` into `dir` (the model's directory),
 * each to a temporary name first and then renamed, so a crash never leaves
 * half a file.
 *
 * @throws {ModelFileError} when they cannot be written.
 */
export async function saveHistory(
  dir: string,
  history: History,
): Promise<void> {
  for (
    const [name, text] of [
      [HISTORY_CSV, historyCsv(history.epochs)],
      [STEPS_CSV, stepsCsv(history.steps)],
    ]
  ) {
    const path = join(dir, name);
    try {
      await writeFileAtomic(path, text);
    } catch (error) {
      throw new ModelFileError(
        path,
        `could not save the history: ${(error as Error).message}`,
      );
    }
  }
}

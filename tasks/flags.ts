/**
 * Command-line flags for the project's tasks: parsed with `node:util`'s
 * strict `parseArgs`, validated before any work starts, and turned into a
 * {@linkcode UsageError} with the task's usage text when wrong.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  checkWholeNumber,
  closestName,
  Interrupted,
  MnistCnnError,
  TrainingInterrupted,
  UsageError,
} from "../lib/errors.ts";
import { DEFAULT_MODEL_DIR } from "../lib/saving.ts";
import { type BackendName, BACKENDS } from "../lib/backend.ts";

/** One flag: a whole number or a decimal in [`min`, `max`], a string, or a switch. */
export type FlagSpec =
  | { type: "int"; help: string; min?: number; max?: number; default?: number }
  | { type: "number"; help: string; min: number; max: number }
  | { type: "string"; help: string; default?: string }
  | { type: "strings"; help: string }
  | { type: "boolean"; help: string };

/** Parsed values: numbers for `int` and `number`, strings, booleans; `undefined` if unset without default. */
export type FlagValues<S extends Record<string, FlagSpec>> = {
  [K in keyof S]: S[K] extends { type: "int" | "number" } ? number | undefined
    : S[K] extends { type: "string" } ? string | undefined
    : S[K] extends { type: "strings" } ? string[]
    : boolean;
};

/** Renders the usage text of a task. */
export function usage(
  task: string,
  summary: string,
  spec: Record<string, FlagSpec>,
): string {
  const lines = Object.entries(spec).map(([name, s]) => {
    const arg = s.type === "boolean"
      ? ""
      : s.type === "int"
      ? " N"
      : s.type === "number"
      ? " X"
      : s.type === "strings"
      ? " VALUE…"
      : " VALUE";
    const def = "default" in s && s.default !== undefined
      ? ` (default ${s.default})`
      : "";
    return `  --${(name + arg).padEnd(18)} ${s.help}${def}`;
  });
  return `Usage: deno task ${task} [flags]\n\n${summary}\n\nFlags:\n${
    lines.join("\n")
  }\n  --${"help".padEnd(18)} show this help`;
}

/**
 * Parses `args` against `spec`. Returns `"help"` for `--help`. A negative
 * number may follow its flag (`--limit -5` reads as `--limit=-5`, so the
 * range check answers it); an unknown flag is named with the closest known
 * one (`--epoch`: did you mean `--epochs`?).
 *
 * @throws {UsageError} for an unknown flag, a missing or non-numeric value, a
 * number out of range, or a stray argument.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { parseFlags } from "./flags.ts";
 * const spec = {
 *   epochs: { type: "int", min: 1, default: 1, help: "epochs to train" },
 *   zoom: { type: "number", min: 0, max: 0.9, help: "zoom factor" },
 * } as const;
 * assertEquals(parseFlags(["--epochs", "2"], spec), { epochs: 2, zoom: undefined });
 * assertEquals(parseFlags(["--zoom", ".05"], spec), { epochs: 1, zoom: 0.05 });
 * assertThrows(() => parseFlags(["--zoom", "2"], spec), Error, "--zoom must be a number from 0 to 0.9, got '2'");
 * assertThrows(() => parseFlags(["--epochs", "-5"], spec), Error, "--epochs must be at least 1, got -5");
 * assertThrows(() => parseFlags(["--epoch", "2"], spec), Error, "unknown flag --epoch; did you mean --epochs?");
 * ```
 */
export function parseFlags<S extends Record<string, FlagSpec>>(
  args: string[],
  spec: S,
): FlagValues<S> | "help" {
  const options: Record<
    string,
    { type: "string" | "boolean"; multiple?: boolean }
  > = { help: { type: "boolean" } };
  for (const [name, s] of Object.entries(spec)) {
    options[name] = {
      type: s.type === "boolean" ? "boolean" : "string",
      multiple: s.type === "strings",
    };
  }
  args = joinNegativeValues(args, spec);
  checkKnown(args, spec);
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options,
      strict: true,
      allowPositionals: false,
    });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify.*$/s, ""));
  }
  if (parsed.values.help) return "help";
  const out: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(spec)) {
    const raw = parsed.values[name];
    if (s.type === "boolean") {
      out[name] = raw === true;
    } else if (s.type === "strings") {
      const values = (raw ?? []) as string[];
      if (values.some((v) => v === "")) {
        throw new UsageError(`--${name} needs a value`);
      }
      out[name] = values;
    } else if (s.type === "string") {
      if (raw === "") throw new UsageError(`--${name} needs a value`);
      out[name] = raw ?? s.default;
    } else if (raw === undefined) {
      out[name] = "default" in s ? s.default : undefined;
    } else if (s.type === "number") {
      const value = Number(raw);
      if (
        !/^[+-]?(\d+\.?\d*|\.\d+)$/.test(String(raw).trim()) ||
        !(value >= s.min && value <= s.max)
      ) {
        throw new UsageError(
          `--${name} must be a number from ${s.min} to ${s.max}, got '${raw}'`,
        );
      }
      out[name] = value;
    } else {
      const value = Number(raw);
      const min = s.min ?? -Infinity, max = s.max ?? Infinity;
      if (
        !/^[+-]?\d+$/.test(String(raw).trim()) || !Number.isSafeInteger(value)
      ) {
        throw new UsageError(`--${name} must be a whole number, got '${raw}'`);
      }
      out[name] = checkWholeNumber(`--${name}`, value, { min, max });
    }
  }
  return out as FlagValues<S>;
}

/** A flag that takes a value: `--name` (without `=`) of a non-switch. */
function valueFlag(arg: string, spec: Record<string, FlagSpec>): boolean {
  if (!arg.startsWith("--") || arg.includes("=")) return false;
  const s = spec[arg.slice(2)];
  return s !== undefined && s.type !== "boolean";
}

/**
 * `--limit -5` as `--limit=-5`: `parseArgs` takes a value starting with a
 * dash for a flag ("ambiguous"); a negative number is a value.
 */
function joinNegativeValues(
  args: string[],
  spec: Record<string, FlagSpec>,
): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const next = args[i + 1];
    if (
      valueFlag(args[i], spec) && next !== undefined &&
      /^-(\d|\.\d)/.test(next)
    ) {
      out.push(`${args[i]}=${next}`);
      i++;
    } else out.push(args[i]);
  }
  return out;
}

/** Throws a {@linkcode UsageError} for the first unknown flag, with a hint. */
function checkKnown(args: string[], spec: Record<string, FlagSpec>): void {
  const names = [...Object.keys(spec), "help"];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") return;
    if (valueFlag(arg, spec)) {
      if (args[i + 1] !== undefined && !args[i + 1].startsWith("-")) i++;
      continue;
    }
    if (!arg.startsWith("-") || arg === "-") continue;
    const name = arg.replace(/^--?/, "").split("=")[0];
    if (arg.startsWith("--") && names.includes(name)) continue;
    const near = closestName(name, names);
    throw new UsageError(
      `unknown flag ${arg.split("=")[0]}${
        near ? `; did you mean --${near}?` : ""
      }`,
    );
  }
}

/** The `--model-dir` flag every task that loads or saves the model takes. */
export const MODEL_DIR_FLAG = {
  type: "string",
  default: "models/mnist_cnn",
  help: "the saved model",
} as const;

/**
 * The model directory a `--model-dir` value names: the default resolves to
 * the repository's `models/mnist_cnn` wherever the task runs from.
 */
export function modelDir(value: string | undefined): string {
  return value === undefined || value === MODEL_DIR_FLAG.default
    ? DEFAULT_MODEL_DIR
    : value;
}

/** The `--backend` flag of the tasks that run the model. */
export const BACKEND_FLAG = {
  type: "string",
  default: "wasm",
  help: "wasm, webgpu (a GPU: docs/gpu.md) or cpu",
} as const;

/**
 * The backend a `--backend` value names.
 *
 * @throws {UsageError} for any other value.
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { backendName } from "./flags.ts";
 * assertEquals(backendName("webgpu"), "webgpu");
 * assertEquals(backendName(undefined), "wasm");
 * assertThrows(() => backendName("gpu"));
 * ```
 */
export function backendName(value: string | undefined): BackendName {
  const name = value ?? BACKEND_FLAG.default;
  if (!(BACKENDS as readonly string[]).includes(name)) {
    throw new UsageError(
      `--backend must be one of ${BACKENDS.join(", ")}, got '${name}'`,
    );
  }
  return name as BackendName;
}

/** How a task ends on an error: its exit code and what it prints on stderr. */
export interface TaskFailure {
  /** 2 for a usage error, 130 for an interrupt, 1 for another error. */
  code: number;
  /** The message: one line, a usage error's followed by where help is. */
  message: string;
}

/**
 * How a task whose usage text is `usageText` reports `error`: a usage error
 * as `error: …` and one line saying where the flags are (exit code 2), an
 * interrupt (Ctrl-C where the task asked for it) as its message (exit code
 * 130, as a shell reports SIGINT), any other error of this project as
 * `error: …` (exit code 1); `undefined` for an error that is no project's
 * (a bug: its stack trace is wanted).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { UsageError } from "../lib/errors.ts";
 * import { taskFailure } from "./flags.ts";
 * const usageText = "Usage: deno task train [flags]\n...";
 * assertEquals(taskFailure(new UsageError("--epochs must be at least 1, got 0"), usageText), {
 *   code: 2,
 *   message: "error: --epochs must be at least 1, got 0\n" +
 *     "Run 'deno task train --help' for the flags.",
 * });
 * assertEquals(taskFailure(new TypeError("a bug"), usageText), undefined);
 * ```
 */
export function taskFailure(
  error: unknown,
  usageText: string,
): TaskFailure | undefined {
  if (error instanceof UsageError) {
    const task = /^Usage: deno task (\S+)/.exec(usageText)?.[1] ?? "<task>";
    return {
      code: 2,
      message: `error: ${error.message}\n` +
        `Run 'deno task ${task} --help' for the flags.`,
    };
  }
  if (error instanceof TrainingInterrupted || error instanceof Interrupted) {
    return { code: 130, message: `\n${error.name}: ${error.message}` };
  }
  if (error instanceof MnistCnnError) {
    return { code: 1, message: `error: ${error.message}` };
  }
  return undefined;
}

/**
 * Runs a task's `main`, printing an error as {@linkcode taskFailure} says
 * (one clear line, not a stack trace) and exiting with its code.
 */
export async function runTask(
  main: () => Promise<void>,
  usageText: string,
): Promise<void> {
  try {
    await main();
  } catch (e) {
    const failure = taskFailure(e, usageText);
    if (!failure) throw e;
    console.error(failure.message);
    Deno.exit(failure.code);
  }
}

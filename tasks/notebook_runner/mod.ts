/**
 * Executes a notebook of `notebooks/` headlessly in the Deno Jupyter kernel
 * (through `run_notebook.py`, an nbclient that also keeps the outputs Deno
 * 2.9's kernel publishes after a cell reports idle), for `deno task
 * notebooks` and the notebook tests.
 *
 * Needs Jupyter (`python3-nbclient`) and the Deno kernelspec
 * (`deno jupyter --install`); {@linkcode missingJupyter} says when they are
 * absent.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FileError } from "../../lib/errors.ts";

/** The repository's `notebooks/` folder. */
export const NOTEBOOKS: string = fileURLToPath(
  new URL("../../notebooks", import.meta.url),
);
const RUNNER = fileURLToPath(new URL("./run_notebook.py", import.meta.url));
const JUPYTER = Deno.env.get("JUPYTER") ?? "/usr/bin/jupyter";
const PYTHON = Deno.env.get("JUPYTER_PYTHON") ?? "/usr/bin/python3";

/** One output of a code cell, as nbformat 4 stores it. */
export interface Output {
  /** The kind of output. */
  output_type: "stream" | "display_data" | "execute_result" | "error";
  /** The stream's name (`stdout`, `stderr`). */
  name?: string;
  /** The stream's text. */
  text?: string | string[];
  /** The MIME bundle of a display or result. */
  data?: Record<string, string | string[] | object>;
  /** The error's class name. */
  ename?: string;
  /** The error's message. */
  evalue?: string;
  /** The error's traceback lines. */
  traceback?: string[];
}

/** A notebook cell, as nbformat 4 stores it. */
export interface Cell {
  /** The kind of cell. */
  cell_type: "code" | "markdown" | "raw";
  /** The cell's id. */
  id?: string;
  /** Its source text. */
  source: string | string[];
  /** Its metadata (tags…). */
  metadata: Record<string, unknown>;
  /** Its outputs (code cells). */
  outputs?: Output[];
  /** Its execution count (code cells). */
  execution_count?: number | null;
}

/** A notebook, as nbformat 4 stores it. */
export interface Notebook {
  /** Its cells. */
  cells: Cell[];
  /** The kernelspec and language. */
  metadata: {
    kernelspec?: { name?: string; display_name?: string; language?: string };
    language_info?: { name?: string };
  };
  /** The format's major version. */
  nbformat: number;
}

/** Reads a notebook file. */
export async function readNotebook(path: string): Promise<Notebook> {
  return JSON.parse(await Deno.readTextFile(path));
}

/** Why notebooks cannot be executed here, or `undefined` when they can. */
export async function missingJupyter(): Promise<string | undefined> {
  for (const path of [JUPYTER, PYTHON]) {
    try {
      await Deno.stat(path);
    } catch {
      return `${path} not found: install Debian's jupyter-nbconvert, python3-nbclient, jupyter-client and python3-ipykernel`;
    }
  }
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(JUPYTER, {
      args: ["kernelspec", "list", "--json"],
      stdout: "piped",
      stderr: "piped",
      env: { PYDEVD_DISABLE_FILE_VALIDATION: "1" },
    }).output();
  } catch (e) {
    return `cannot run ${JUPYTER} (run the tests with --allow-run): ${e}`;
  }
  if (!out.success) {
    return `\`${JUPYTER} kernelspec list\` failed: ${
      new TextDecoder().decode(out.stderr)
    }`;
  }
  const specs = JSON.parse(new TextDecoder().decode(out.stdout)).kernelspecs ??
    {};
  if (!specs.deno) {
    return `Jupyter has no "deno" kernel: run \`deno jupyter --install\` (kernels: ${
      Object.keys(specs).join(", ") || "none"
    })`;
  }
  return undefined;
}

/** Options of {@linkcode executeNotebook}. */
export interface ExecuteOptions {
  /** Where the executed copy is written. */
  output: string;
  /** Environment variables of the kernel. */
  env?: Record<string, string>;
  /** Record cell errors as outputs instead of stopping (default false). */
  allowErrors?: boolean;
  /** Seconds one cell may run (default 900). */
  cellTimeoutS?: number;
}

/** What {@linkcode executeNotebook} returns. */
export interface Executed {
  /** The executed notebook. */
  notebook: Notebook;
  /** Outputs the kernel published after reporting their cell finished. */
  lateOutputs: number;
  /** In-place updates of live outputs (`update_display_data`), per cell id. */
  updates: Record<string, number>;
}

/**
 * Executes `notebooks/<name>` in the Deno kernel, in `notebooks/` (so
 * `../lib/mod.ts` and deno.json resolve), and writes the executed copy to
 * `options.output`; the source notebook is left untouched (checked).
 *
 * @throws {Error} when a cell fails (unless `allowErrors`), with the
 * runner's message.
 */
export async function executeNotebook(
  name: string,
  options: ExecuteOptions,
): Promise<Executed> {
  const source = join(NOTEBOOKS, name);
  const before = await Deno.readTextFile(source);
  const started = performance.now();
  const result = await new Deno.Command(PYTHON, {
    args: [
      RUNNER,
      source,
      options.output,
      "deno",
      NOTEBOOKS,
      String(options.cellTimeoutS ?? 900),
      options.allowErrors ? "1" : "0",
    ],
    cwd: NOTEBOOKS,
    env: {
      NO_COLOR: "1",
      PYDEVD_DISABLE_FILE_VALIDATION: "1",
      ...options.env,
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const stderr = new TextDecoder().decode(result.stderr);
  if (!result.success) {
    throw new FileError(
      name,
      `executing it failed (exit ${result.code}) after ${seconds}s:\n${
        stderr.slice(-6000)
      }`,
    );
  }
  const { late_outputs: lateOutputs, updates } = JSON.parse(
    new TextDecoder().decode(result.stdout).trim().split("\n").at(-1)!,
  );
  console.log(
    `executed ${name} in ${seconds}s (${lateOutputs} late outputs kept)`,
  );
  if (options.output !== source && await Deno.readTextFile(source) !== before) {
    throw new FileError(name, "was modified by its execution");
  }
  return {
    notebook: await readNotebook(options.output),
    lateOutputs,
    updates,
  };
}

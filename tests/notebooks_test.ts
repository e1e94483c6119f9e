/**
 * Executes the notebooks headlessly with the real Deno Jupyter kernel and
 * checks their outputs: `mnist_cnn.ipynb` trains on 4096 samples and saves
 * into a temporary directory, then `predict.ipynb` reloads that model; and
 * `predict.ipynb` without a saved model stops with a `ModelFileError`.
 *
 * Needs Jupyter (`jupyter-nbconvert`, `python3-nbclient`) and the Deno
 * kernelspec (`deno jupyter --install`). Without them the execution tests are
 * ignored, except under `CI=true`, where their absence fails the tests.
 *
 * Run: deno test --allow-read --allow-write --allow-env --allow-run tests/notebooks_test.ts
 */
import {
  assert,
  assertEquals,
  assertGreater,
  assertMatch,
  assertStringIncludes,
} from "@std/assert";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const NOTEBOOKS = join(ROOT, "notebooks");
const JUPYTER = Deno.env.get("JUPYTER") ?? "/usr/bin/jupyter";
const CI = Deno.env.get("CI") === "true";
/** Samples trained on by the executed `mnist_cnn.ipynb`. */
const LIMIT = 4096;
/** Seconds one cell may run. */
const CELL_TIMEOUT_S = 900;
/** Set NOTEBOOKS_TEST_KEEP=1 to keep the executed notebooks for inspection. */
const KEEP = Deno.env.get("NOTEBOOKS_TEST_KEEP") === "1";

/** Removes `dir`, or says where it is when NOTEBOOKS_TEST_KEEP=1. */
async function cleanUp(dir: string): Promise<void> {
  if (KEEP) console.log(`kept the executed notebooks in ${dir}`);
  else await Deno.remove(dir, { recursive: true });
}

// ---------------------------------------------------------------------------
// Notebook JSON

interface Output {
  output_type: "stream" | "display_data" | "execute_result" | "error";
  name?: string;
  text?: string | string[];
  data?: Record<string, string | string[] | object>;
  ename?: string;
  evalue?: string;
  traceback?: string[];
}

interface Cell {
  cell_type: "code" | "markdown" | "raw";
  id?: string;
  source: string | string[];
  metadata: Record<string, unknown>;
  outputs?: Output[];
  execution_count?: number | null;
}

interface Notebook {
  cells: Cell[];
  metadata: {
    kernelspec?: { name?: string; display_name?: string; language?: string };
    language_info?: { name?: string };
  };
  nbformat: number;
}

const joined = (text: string | string[] | undefined) =>
  Array.isArray(text) ? text.join("") : text ?? "";

async function readNotebook(path: string): Promise<Notebook> {
  return JSON.parse(await Deno.readTextFile(path));
}

function cell(notebook: Notebook, id: string): Cell {
  const found = notebook.cells.find((c) => c.id === id);
  if (!found) throw new Error(`no cell with id "${id}"`);
  return found;
}

/** The text of an output: stream text, error, or every text-like MIME type. */
function outputText(output: Output): string {
  if (output.output_type === "stream") return joined(output.text);
  if (output.output_type === "error") {
    return `${output.ename}: ${output.evalue}\n${
      (output.traceback ?? []).join("\n")
    }`;
  }
  return Object.entries(output.data ?? {})
    .filter(([mime]) => mime.startsWith("text/"))
    .map(([, value]) => joined(value as string | string[]))
    .join("\n");
}

const cellText = (c: Cell) => (c.outputs ?? []).map(outputText).join("\n");

/** Every output of every code cell, as `[cell id, output]`. */
const allOutputs = (nb: Notebook) =>
  nb.cells.flatMap((c) =>
    (c.outputs ?? []).map((o) => [c.id ?? "?", o] as const)
  );

/** Fails naming each error output of `nb`. */
function assertNoErrors(nb: Notebook, name: string): void {
  const errors = allOutputs(nb).filter(([, o]) => o.output_type === "error");
  assertEquals(
    errors.map(([id, o]) => `cell ${id}: ${outputText(o)}`),
    [],
    `${name} has error outputs`,
  );
}

/** True when the output shows a PNG: an image/png, or an <img> with a PNG data URL. */
function hasPng(output: Output): boolean {
  const data = output.data ?? {};
  return typeof data["image/png"] === "string" ||
    joined(data["text/html"] as string | string[]).includes(
      '<img src="data:image/png;base64,',
    );
}

/** The lines of `text` that are ten digits separated by spaces. */
const digitLines = (text: string) => text.match(/^\d( \d){9}$/gm) ?? [];

// ---------------------------------------------------------------------------
// Running Jupyter

/** Why the notebooks cannot be executed here, or undefined when they can. */
async function missingJupyter(): Promise<string | undefined> {
  try {
    await Deno.stat(JUPYTER);
  } catch {
    return `${JUPYTER} not found: install Debian's jupyter-nbconvert, python3-nbclient, jupyter-client and python3-ipykernel (or set JUPYTER)`;
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

const missing = await missingJupyter();
if (missing) {
  console.warn(
    `notebooks_test: ${missing}; ${
      CI ? "failing (CI=true)" : "ignoring the notebook execution tests"
    }`,
  );
}

/**
 * Executes `notebooks/<name>` in place (the kernel runs in notebooks/, so
 * `../lib/mod.ts` and deno.json resolve) and writes the executed copy to
 * `output`; the source notebook is left untouched.
 */
async function execute(
  name: string,
  output: string,
  env: Record<string, string>,
  options: { allowErrors?: boolean } = {},
): Promise<Notebook> {
  const source = join(NOTEBOOKS, name);
  const before = await Deno.readTextFile(source);
  const args = [
    "nbconvert",
    "--to",
    "notebook",
    "--execute",
    "--output",
    output,
    `--ExecutePreprocessor.timeout=${CELL_TIMEOUT_S}`,
    "--ExecutePreprocessor.kernel_name=deno",
    ...(options.allowErrors ? ["--allow-errors"] : []),
    source,
  ];
  const started = performance.now();
  const result = await new Deno.Command(JUPYTER, {
    args,
    cwd: NOTEBOOKS,
    env: { NO_COLOR: "1", PYDEVD_DISABLE_FILE_VALIDATION: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const stderr = new TextDecoder().decode(result.stderr);
  if (!result.success) {
    throw new Error(
      `executing ${name} failed (exit ${result.code}) after ${seconds}s:\n${
        stderr.slice(-6000)
      }`,
    );
  }
  console.log(`executed ${name} in ${seconds}s`);
  assertEquals(
    await Deno.readTextFile(source),
    before,
    `${name} was modified by its execution`,
  );
  return await readNotebook(output);
}

/**
 * Executes a notebook like {@linkcode execute}, once more when a cell lost an
 * output it must have (a display from `await show…`, the text of
 * `console.log`): Deno 2.9's kernel can report a cell idle before its last
 * messages are published, and nbconvert then drops them (`lib/display.ts`
 * waits a moment after each display to make that rare).
 */
async function executeWithDisplays(
  name: string,
  output: string,
  env: Record<string, string>,
): Promise<Notebook> {
  const has = (c: Cell, type: Output["output_type"]) =>
    (c.outputs ?? []).some((o) => o.output_type === type);
  const complete = (nb: Notebook) =>
    nb.cells.filter((c) => c.cell_type === "code").every((c) =>
      has(c, "error") ||
      ((!joined(c.source).includes("await show") || has(c, "display_data")) &&
        (!joined(c.source).includes("console.log") || has(c, "stream")))
    );
  const nb = await execute(name, output, env);
  if (complete(nb)) return nb;
  console.warn(`${name}: an output was not recorded; executing it once more`);
  return await execute(name, output, env);
}

// ---------------------------------------------------------------------------
// Static checks: always run

for (const name of ["mnist_cnn.ipynb", "predict.ipynb"]) {
  Deno.test(`${name} is commit-ready: Deno kernel, no stored outputs`, async () => {
    const nb = await readNotebook(join(NOTEBOOKS, name));
    assertEquals(nb.nbformat, 4);
    assertEquals(nb.metadata.kernelspec, {
      name: "deno",
      display_name: "Deno",
      language: "typescript",
    });
    assertEquals(nb.metadata.language_info?.name, "typescript");
    const ids = nb.cells.map((c) => c.id);
    assertEquals(new Set(ids).size, ids.length, "cell ids are unique");
    for (const c of nb.cells.filter((c) => c.cell_type === "code")) {
      assertEquals(c.outputs, [], `cell ${c.id} stores outputs`);
      assertEquals(
        c.execution_count,
        null,
        `cell ${c.id} stores an execution count`,
      );
      const lines = joined(c.source).split("\n").length;
      assert(lines <= 20, `cell ${c.id} has ${lines} lines; keep cells short`);
    }
    const code = nb.cells.find((c) => c.cell_type === "code");
    assertEquals(
      code?.metadata.tags,
      ["parameters"],
      "first code cell is the parameter cell",
    );
    assertStringIncludes(joined(code!.source), 'from "../lib/mod.ts"');
  });
}

Deno.test("the notebooks' code type-checks against lib/mod.ts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "notebooks_check_" });
  try {
    const files: string[] = [];
    for (const name of ["mnist_cnn.ipynb", "predict.ipynb"]) {
      const nb = await readNotebook(join(NOTEBOOKS, name));
      const code = nb.cells.filter((c) => c.cell_type === "code")
        .map((c) => joined(c.source)).join("\n\n")
        .replaceAll(
          '"../lib/mod.ts"',
          JSON.stringify(join(ROOT, "lib", "mod.ts")),
        );
      const file = join(dir, name.replace(".ipynb", ".ts"));
      await Deno.writeTextFile(file, `${code}\n\nexport {};\n`);
      files.push(file);
    }
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "--config", join(ROOT, "deno.json"), ...files],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stderr) +
      new TextDecoder().decode(out.stdout);
    assert(out.success, `deno check of the notebooks' code failed:\n${text}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------
// Execution: needs Jupyter and the Deno kernel

Deno.test({
  name:
    "mnist_cnn.ipynb trains, saves and predicts; predict.ipynb reloads its model",
  ignore: missing !== undefined && !CI,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    if (missing) throw new Error(`cannot execute the notebooks: ${missing}`);
    const tmp = await Deno.makeTempDir({ prefix: "notebooks_test_" });
    const modelDir = join(tmp, "model");
    const env = { MNIST_LIMIT: String(LIMIT), MNIST_MODEL_DIR: modelDir };
    try {
      const nb = await executeWithDisplays(
        "mnist_cnn.ipynb",
        join(tmp, "mnist_cnn.out.ipynb"),
        env,
      );
      let trained: string[] = [];

      await t.step("mnist_cnn.ipynb ran without errors", () => {
        assertNoErrors(nb, "mnist_cnn.ipynb");
        for (const c of nb.cells.filter((c) => c.cell_type === "code")) {
          assert(
            typeof c.execution_count === "number",
            `cell ${c.id} did not run`,
          );
        }
      });

      await t.step("step 1 shows the shapes and the first ten digits", () => {
        const load = cell(nb, "load");
        assertStringIncludes(
          cellText(load),
          "x_train shape: (60000, 28, 28, 1)",
        );
        assert(load.outputs!.some(hasPng), "no PNG digits in the load cell");
        assertStringIncludes(cellText(load), "label:     5 0 4 1 9 2 1 3 1 4");
      });

      await t.step("step 2 shows the summary with 1,199,882 params", () => {
        const text = cellText(cell(nb, "build"));
        assertStringIncludes(text, "1,199,882");
        assertStringIncludes(text, "conv2d");
        assertStringIncludes(text, "dense_1");
      });

      await t.step(
        "step 3 shows one live progress output and test accuracy > 0.5",
        () => {
          const outputs = cell(nb, "train").outputs!;
          const bar = /\d+\/\d+ \[[=>.]*\]/;
          const progress = outputs.filter((o) =>
            o.output_type !== "stream" && bar.test(outputText(o))
          );
          assertEquals(
            progress.length,
            1,
            "progress bar outputs (want one live display)",
          );
          assertMatch(
            outputText(progress[0]),
            new RegExp(`${LIMIT}/${LIMIT} \\[=+\\]`),
            "the live display ends on the finished bar",
          );
          const streamLines = outputs.filter((o) => o.output_type === "stream")
            .map(outputText).join("").split("\n").filter((l) => l.trim());
          assert(
            streamLines.length <= 10,
            `the train cell printed ${streamLines.length} lines:\n${
              streamLines.slice(0, 20).join("\n")
            }`,
          );
          const text = cellText(cell(nb, "train"));
          const acc = text.match(/test accuracy\s+(\d+\.\d+)/);
          if (!acc) {
            throw new Error(`no test accuracy in the train cell:\n${text}`);
          }
          assertGreater(
            Number(acc[1]),
            0.5,
            `test accuracy ${acc[1]} after ${LIMIT} samples`,
          );
          assertMatch(text, /test loss\s+\d+\.\d+/);
        },
      );

      await t.step(
        "steps 4 and 5 save to MNIST_MODEL_DIR and reload from it",
        async () => {
          assertStringIncludes(cellText(cell(nb, "save")), modelDir);
          assertStringIncludes(cellText(cell(nb, "reload")), "1199882 params");
          assert(
            (await Deno.stat(modelDir)).isDirectory,
            `${modelDir} was not created`,
          );
        },
      );

      await t.step("step 6 prints ten predicted digits and shows them", () => {
        const predict = cell(nb, "predict");
        trained = digitLines(cellText(predict));
        assertEquals(
          trained.length,
          1,
          `want one line of ten digits:\n${cellText(predict)}`,
        );
        assert(
          predict.outputs!.some(hasPng),
          "no PNG digits in the predict cell",
        );
        assertStringIncludes(cellText(predict), "predicted: ");
      });

      await t.step(
        "predict.ipynb reloads the saved model and predicts the same digits",
        async () => {
          const out = await executeWithDisplays(
            "predict.ipynb",
            join(tmp, "predict.out.ipynb"),
            env,
          );
          assertNoErrors(out, "predict.ipynb");
          const text = cellText(cell(out, "predict"));
          assertEquals(
            digitLines(text),
            trained,
            "predictions differ from mnist_cnn.ipynb's",
          );
          assert(cell(out, "predict").outputs!.some(hasPng), "no PNG digits");
          assertStringIncludes(cellText(cell(out, "reload")), modelDir);
        },
      );
    } finally {
      await cleanUp(tmp);
    }
  },
});

Deno.test({
  name: "predict.ipynb without a saved model stops with a ModelFileError",
  ignore: missing !== undefined && !CI,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    if (missing) throw new Error(`cannot execute the notebooks: ${missing}`);
    const tmp = await Deno.makeTempDir({ prefix: "notebooks_test_" });
    const modelDir = join(tmp, "no-model-here");
    try {
      const nb = await execute(
        "predict.ipynb",
        join(tmp, "predict.out.ipynb"),
        { MNIST_MODEL_DIR: modelDir },
        { allowErrors: true },
      );
      const errors = allOutputs(nb).filter(([, o]) =>
        o.output_type === "error"
      );
      assert(errors.length > 0, "no error output");
      const [id, first] = errors[0];
      assertEquals(id, "reload", "the first error is in the reload cell");
      assertEquals(first.ename, "ModelFileError", outputText(first));
      assertStringIncludes(first.evalue ?? "", modelDir);
    } finally {
      await cleanUp(tmp);
    }
  },
});

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
import {
  type Cell,
  executeNotebook,
  missingJupyter,
  type Notebook,
  NOTEBOOKS,
  type Output,
  readNotebook,
} from "../tasks/notebook_runner/mod.ts";
import { writeSampleFolder } from "../lib/mod.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CI = Deno.env.get("CI") === "true";
/** The notebooks, each checked and executed here. */
const NOTEBOOK_NAMES = [
  "mnist_cnn.ipynb",
  "predict.ipynb",
  "your_digits.ipynb",
  "inside_the_cnn.ipynb",
  "fashion_mnist.ipynb",
  "your_dataset.ipynb",
  "from_pytorch.ipynb",
];
/** The notebooks that predict MNIST's first ten training digits. */
const PREDICTS_MNIST = ["mnist_cnn.ipynb", "predict.ipynb"];
/** Samples trained on by the executed `mnist_cnn.ipynb`. */
const LIMIT = 4096;
/** Set NOTEBOOKS_TEST_KEEP=1 to keep the executed notebooks for inspection. */
const KEEP = Deno.env.get("NOTEBOOKS_TEST_KEEP") === "1";

/** Removes `dir`, or says where it is when NOTEBOOKS_TEST_KEEP=1. */
async function cleanUp(dir: string): Promise<void> {
  if (KEEP) console.log(`kept the executed notebooks in ${dir}`);
  else await Deno.remove(dir, { recursive: true });
}

const joined = (text: string | string[] | undefined) =>
  Array.isArray(text) ? text.join("") : text ?? "";

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

const missing = await missingJupyter();
if (missing) {
  console.warn(
    `notebooks_test: ${missing}; ${
      CI ? "failing (CI=true)" : "ignoring the notebook execution tests"
    }`,
  );
}

/**
 * Executes `notebooks/<name>` into `output` and checks that every code cell
 * shows what its source asks for: a cell that ends with a `show…(…)` call has
 * its result, a cell that calls `console.log` its text. Outputs the kernel
 * publishes late are collected by the runner, never by re-executing.
 */
async function execute(
  name: string,
  output: string,
  env: Record<string, string>,
  options: { allowErrors?: boolean } = {},
): Promise<Notebook> {
  const { notebook, updates } = await executeNotebook(name, {
    output,
    env,
    allowErrors: options.allowErrors,
  });
  if (!options.allowErrors) {
    for (const c of notebook.cells.filter((c) => c.cell_type === "code")) {
      const source = joined(c.source);
      const types = (c.outputs ?? []).map((o) => o.output_type);
      const shows = source.match(/\bshow\w+\(/g)?.length ?? 0;
      if (shows) {
        assert(
          types.filter((t) => t === "display_data").length >= shows,
          `${name}: cell ${c.id} calls show… ${shows} times, has ${types}`,
        );
        assert(
          !types.includes("execute_result"),
          `${name}: cell ${c.id} shows a result of its own: ${types}`,
        );
      }
      if (source.includes("console.log")) {
        assert(types.includes("stream"), `${name}: cell ${c.id} lost its text`);
      }
    }
  }
  lastUpdates = updates;
  return notebook;
}

/** The in-place updates of live outputs per cell in the last execution. */
let lastUpdates: Record<string, number> = {};

// ---------------------------------------------------------------------------
// Static checks: always run

for (const name of NOTEBOOK_NAMES) {
  Deno.test(`${name} is committed with the outputs of a full run, Deno kernel, short cells`, async () => {
    const raw = await Deno.readTextFile(join(NOTEBOOKS, name));
    const nb: Notebook = JSON.parse(raw);
    assertEquals(nb.nbformat, 4);
    assertEquals(nb.metadata.kernelspec, {
      name: "deno",
      display_name: "Deno",
      language: "typescript",
    });
    assertEquals(nb.metadata.language_info?.name, "typescript");
    const ids = nb.cells.map((c) => c.id);
    assertEquals(new Set(ids).size, ids.length, "cell ids are unique");
    const code = nb.cells.filter((c) => c.cell_type === "code");
    for (const c of code) {
      const lines = joined(c.source).split("\n").length;
      assert(lines <= 20, `cell ${c.id} has ${lines} lines; keep cells short`);
      assert(
        typeof c.execution_count === "number",
        `cell ${c.id} was not run: refresh with \`deno task notebooks\``,
      );
      if (c.id !== "parameters") {
        assert((c.outputs ?? []).length > 0, `cell ${c.id} has no output`);
      }
    }
    assertNoErrors(nb, name);
    assertEquals(
      code[0]?.metadata.tags,
      ["parameters"],
      "first code cell is the parameter cell",
    );
    assertStringIncludes(joined(code[0]!.source), 'from "../lib/mod.ts"');
    assert(!raw.includes(ROOT), `${name} shows this machine's paths (${ROOT})`);
    if (PREDICTS_MNIST.includes(name)) {
      assertEquals(
        digitLines(cellText(cell(nb, "predict"))),
        ["5 0 4 1 9 2 1 3 1 4"],
        "the first ten, as predicted",
      );
    }
    if (name === "fashion_mnist.ipynb") {
      const acc = cellText(cell(nb, "train")).match(
        /test accuracy\s+(\d+\.\d+)/,
      );
      assert(acc && Number(acc[1]) >= 0.8, `test accuracy shown: ${acc?.[1]}`);
      assertStringIncludes(cellText(cell(nb, "confusion")), "Ankle boot");
      assertStringIncludes(cellText(cell(nb, "predict")), "Ankle boot");
    }
    if (name === "your_dataset.ipynb") {
      assertStringIncludes(
        cellText(cell(nb, "load")),
        "classes: circle, cross, square, triangle",
      );
    }
    if (name === "mnist_cnn.ipynb") {
      const acc = cellText(cell(nb, "train")).match(
        /test accuracy\s+(\d+\.\d+)/,
      );
      assert(acc && Number(acc[1]) >= 0.98, `test accuracy shown: ${acc?.[1]}`);
      for (const id of ["train", "confusion"]) {
        assert(
          cell(nb, id).outputs!.some((o) => o.data?.["image/svg+xml"]),
          `cell ${id} shows no chart`,
        );
      }
    }
  });
}

Deno.test("the notebooks' code type-checks against lib/mod.ts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "notebooks_check_" });
  try {
    const files: string[] = [];
    for (const name of NOTEBOOK_NAMES) {
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
      const nb = await execute(
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
          const charts = outputs.filter((o) =>
            o.output_type === "display_data" && o.data?.["image/svg+xml"]
          );
          assertEquals(charts.length, 1, "one live training chart");
          assertGreater(
            lastUpdates["train"] ?? 0,
            1,
            "the live outputs were updated in place",
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
          const out = await execute(
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

      await t.step(
        "your_digits.ipynb shows each sample picture, its 28x28 and its probabilities",
        async () => {
          const out = await execute(
            "your_digits.ipynb",
            join(tmp, "your_digits.out.ipynb"),
            env,
          );
          assertNoErrors(out, "your_digits.ipynb");
          const shown = cell(out, "predict").outputs!.find((o) =>
            o.output_type === "display_data"
          );
          if (!shown) throw new Error("the predict cell shows no result");
          const lines = outputText(shown).split("\n").filter((l) =>
            /^digit_\d\.(png|jpg): \d \(p=\d\.\d\d\)$/.test(l)
          );
          assertEquals(lines.length, 10, outputText(shown));
          const html = joined(shown.data!["text/html"] as string | string[]);
          assertEquals(html.split("<img ").length - 1, 20, "pictures shown");
        },
      );

      await t.step(
        "inside_the_cnn.ipynb shows kernels, feature maps and four explanations per digit",
        async () => {
          const out = await execute(
            "inside_the_cnn.ipynb",
            join(tmp, "inside_the_cnn.out.ipynb"),
            env,
          );
          assertNoErrors(out, "inside_the_cnn.ipynb");
          const result = (id: string) => {
            const shown = cell(out, id).outputs!.find((o) =>
              o.output_type === "display_data"
            );
            if (!shown) throw new Error(`the ${id} cell shows no result`);
            return joined(shown.data!["text/html"] as string | string[]);
          };
          const images = (id: string) =>
            result(id).split('<img src="data:image/png;base64,').length - 1;
          // Each grid is one picture, with its colour bar.
          assertEquals(
            images("filters"),
            2,
            "conv1's kernels and a colour bar",
          );
          assertEquals(images("conv1"), 2, "32 maps and a colour bar");
          assertEquals(images("conv2"), 2, "64 maps and a colour bar");
          // Each digit: itself and four maps; three colour bars.
          assertEquals(images("first-ten"), 10 * 5 + 3);
          assertEquals(images("mistakes"), 8 * 5 + 3);
          assertStringIncludes(result("mistakes"), " read as ");
          assertMatch(cellText(cell(out, "speed")), /Grad-CAM: \d+\.\d ms/);
          assertEquals(digitLines(cellText(cell(out, "predict"))), trained);
        },
      );
    } finally {
      await cleanUp(tmp);
    }
  },
});

Deno.test({
  name:
    "fashion_mnist.ipynb and your_dataset.ipynb train, save, reload and predict by class name",
  ignore: missing !== undefined && !CI,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    if (missing) throw new Error(`cannot execute the notebooks: ${missing}`);
    const tmp = await Deno.makeTempDir({ prefix: "notebooks_test_" });
    try {
      await t.step(
        "fashion_mnist.ipynb: clothes by name in every output",
        async () => {
          const modelDir = join(tmp, "fashion");
          const nb = await execute(
            "fashion_mnist.ipynb",
            join(tmp, "fashion_mnist.out.ipynb"),
            { MNIST_LIMIT: "1024", FASHION_MODEL_DIR: modelDir },
          );
          assertNoErrors(nb, "fashion_mnist.ipynb");
          assertStringIncludes(
            cellText(cell(nb, "load")),
            "label:     Ankle boot",
          );
          assertStringIncludes(cellText(cell(nb, "build")), "1,199,882");
          assertStringIncludes(cellText(cell(nb, "confusion")), "T-shirt/top");
          assertStringIncludes(cellText(cell(nb, "per-class")), "Sandal");
          const json = JSON.parse(
            await Deno.readTextFile(join(modelDir, "model.json")),
          );
          assertEquals(json.userDefinedMetadata.classNames[9], "Ankle boot");
          const predicted = cellText(cell(nb, "predict")).split("\n")[0];
          assertEquals(predicted.split(", ").length, 10, predicted);
        },
      );
      await t.step(
        "your_dataset.ipynb: a folder's four classes, trained and named",
        async () => {
          const folder = join(tmp, "shapes");
          await writeSampleFolder(folder, { perClass: 10 });
          const nb = await execute(
            "your_dataset.ipynb",
            join(tmp, "your_dataset.out.ipynb"),
            {
              DATASET_DIR: folder,
              EPOCHS: "2",
              DATASET_MODEL_DIR: join(tmp, "yours"),
            },
          );
          assertNoErrors(nb, "your_dataset.ipynb");
          assertStringIncludes(
            cellText(cell(nb, "load")),
            "32 training, 8 validation pictures",
          );
          assertStringIncludes(cellText(cell(nb, "build")), "(None, 4)");
          const shown = outputText(
            cell(nb, "predict").outputs!.find((o) =>
              o.output_type === "display_data"
            )!,
          );
          const lines = shown.split("\n").filter((l) =>
            /^\w+_000\.png: (circle|cross|square|triangle) \(p=\d\.\d\d\)$/
              .test(l)
          );
          assertEquals(lines.length, 4, shown);
        },
      );
    } finally {
      await cleanUp(tmp);
    }
  },
});

Deno.test({
  name:
    "from_pytorch.ipynb reads PyTorch's network from ONNX, explains, fine-tunes and exports it",
  ignore: missing !== undefined && !CI,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    if (missing) throw new Error(`cannot execute the notebooks: ${missing}`);
    const tmp = await Deno.makeTempDir({ prefix: "notebooks_test_" });
    try {
      const nb = await execute(
        "from_pytorch.ipynb",
        join(tmp, "from_pytorch.out.ipynb"),
        { MNIST_LIMIT: "1024", ONNX_DIR: tmp },
      );
      assertNoErrors(nb, "from_pytorch.ipynb");
      assertStringIncludes(cellText(cell(nb, "load")), "(Rescaling)");
      assertStringIncludes(cellText(cell(nb, "explain")), "test #9:");
      const acc = cellText(cell(nb, "export")).match(
        /test accuracy\s+(\d+\.\d+)/,
      );
      assert(acc && Number(acc[1]) >= 0.8, `accuracy after export ${acc?.[1]}`);
      await Deno.stat(join(tmp, "from_pytorch.onnx"));
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

/**
 * Checks every notebook as committed (outputs of a full run, short cells,
 * code that type-checks), and executes headlessly with the real Deno Jupyter
 * kernel the ones the page test does not run: `inside_the_cnn.ipynb` on the
 * tests' trained model, `fashion_mnist.ipynb`, `your_dataset.ipynb`,
 * `from_pytorch.ipynb`, and `predict.ipynb` without a saved model, which stops
 * with a `ModelFileError`. `mnist_cnn.ipynb`, `predict.ipynb` and
 * `your_digits.ipynb` run once, in Jupyter Notebook's page
 * (`tests/notebook_page_test.ts`), and their outputs are checked there by the
 * same functions (`tests/jupyter/notebook_checks.ts`).
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
  assertMatch,
  assertStringIncludes,
} from "@std/assert";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  executeNotebook,
  missingJupyter,
  type Notebook,
  NOTEBOOKS,
  readNotebook,
} from "../tasks/notebook_runner/mod.ts";
import { predictClasses, writeSampleFolder } from "../lib/mod.ts";
import {
  allOutputs,
  assertNoErrors,
  assertShowsWhatItAsks,
  cell,
  cellText,
  digitLines,
  joined,
  outputText,
} from "./jupyter/notebook_checks.ts";
import { realMnist, trainedModel } from "./helpers.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CI = Deno.env.get("CI") === "true";
/** The notebooks, each checked here. */
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
/** Set NOTEBOOKS_TEST_KEEP=1 to keep the executed notebooks for inspection. */
const KEEP = Deno.env.get("NOTEBOOKS_TEST_KEEP") === "1";

/** Removes `dir`, or says where it is when NOTEBOOKS_TEST_KEEP=1. */
async function cleanUp(dir: string): Promise<void> {
  if (KEEP) console.log(`kept the executed notebooks in ${dir}`);
  else await Deno.remove(dir, { recursive: true });
}

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
  const { notebook } = await executeNotebook(name, {
    output,
    env,
    allowErrors: options.allowErrors,
  });
  if (!options.allowErrors) assertShowsWhatItAsks(notebook, name);
  return notebook;
}

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

// mnist_cnn.ipynb, predict.ipynb and your_digits.ipynb run once per test run,
// from Jupyter Notebook's page: tests/notebook_page_test.ts checks their
// outputs there (tests/jupyter/notebook_checks.ts).

Deno.test({
  name:
    "inside_the_cnn.ipynb shows kernels, feature maps and four explanations per digit",
  ignore: missing !== undefined && !CI,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    if (missing) throw new Error(`cannot execute the notebooks: ${missing}`);
    const { model, dir } = await trainedModel();
    const tmp = await Deno.makeTempDir({ prefix: "notebooks_test_" });
    try {
      const out = await execute(
        "inside_the_cnn.ipynb",
        join(tmp, "inside_the_cnn.out.ipynb"),
        { MNIST_MODEL_DIR: dir },
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
      const mnist = await realMnist();
      const first = await predictClasses(model, mnist.train, { count: 10 });
      assertEquals(digitLines(cellText(cell(out, "predict"))), [
        first.join(" "),
      ]);
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

/**
 * `deno task train --dataset …` from the command line, as a user runs it: a
 * folder of labelled pictures and Fashion-MNIST, each with its class names
 * in the model, in `predict` (text and `--json`) and in `report.html`.
 *
 * Run: deno test --allow-read --allow-write --allow-env --allow-run tests/datasets/dataset_cli_test.ts
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  FASHION_MNIST_CLASS_NAMES,
  FASHION_MNIST_SOURCE_DIR,
  SAMPLE_CLASSES,
  writeSampleFolder,
} from "../../lib/datasets/mod.ts";
import { denoTask } from "../helpers.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CI = Deno.env.get("CI") === "true";

async function withModelDir(
  fn: (modelDir: string, tmp: string) => Promise<void>,
): Promise<void> {
  const name = `dataset-cli-test-${Deno.pid}-${
    crypto.randomUUID().slice(0, 8)
  }`;
  const tmp = await Deno.makeTempDir({ prefix: "dataset_cli_test_" });
  try {
    await fn(`models/${name}`, tmp);
  } finally {
    await Deno.remove(join(ROOT, "models", name), { recursive: true })
      .catch(() => {});
    await Deno.remove(tmp, { recursive: true });
  }
}

Deno.test("train --dataset DIR: the folder's class names in the model, predict (text, --json) and the report", async () => {
  await withModelDir(async (modelDir, tmp) => {
    const folder = join(tmp, "shapes");
    await writeSampleFolder(folder, { perClass: 10 });
    const trained = await denoTask(
      "train",
      "--dataset",
      folder,
      "--preprocessing",
      "mnist",
      "--epochs",
      "2",
      "--batch-size",
      "16",
      "--seed",
      "1",
      "--model-dir",
      modelDir,
    );
    assertEquals(trained.code, 0, trained.errors.join("\n") + trained.stdout);
    assertStringIncludes(trained.stdout, "(None, 4)"); // one output per class
    const last = trained.stdout.trim().split("\n").at(-1)!;
    assert(
      last.split(", ").every((name) => SAMPLE_CLASSES.includes(name)),
      `the first ten, by class name: ${last}`,
    );
    const json = JSON.parse(
      await Deno.readTextFile(join(ROOT, modelDir, "model.json")),
    );
    assertEquals(json.userDefinedMetadata.classNames, [...SAMPLE_CLASSES]);
    assertEquals(json.userDefinedMetadata.preprocessing, "mnist");

    const picture = join(folder, "cross", "cross_000.png");
    const text = await denoTask(
      "predict",
      "--model-dir",
      modelDir,
      "--image",
      picture,
    );
    assertEquals(text.code, 0, text.errors.join("\n"));
    assert(
      SAMPLE_CLASSES.some((name) =>
        text.stdout.startsWith(`${picture}: ${name} (p=`)
      ),
      text.stdout,
    );
    const run = await denoTask(
      "predict",
      "--model-dir",
      modelDir,
      "--image",
      picture,
      "--json",
    );
    assertEquals(run.code, 0, run.errors.join("\n"));
    const out = JSON.parse(run.stdout);
    assertEquals(out.classNames, [...SAMPLE_CLASSES]);
    assertEquals(out.probabilities[0].length, 4);

    // The report: on the folder's validation pictures, named by class.
    const report = await denoTask("report", "--model-dir", modelDir);
    assertEquals(report.code, 0, report.errors.join("\n"));
    assertStringIncludes(report.stdout, "of 8 test images"); // 40 × 0.2
    const html = await Deno.readTextFile(join(ROOT, modelDir, "report.html"));
    for (const name of SAMPLE_CLASSES) {
      assertStringIncludes(html, `<td>${name}</td>`);
    }
    assertStringIncludes(html, `of ${folder}`);
  });
});

Deno.test({
  name:
    "train --dataset fashion_mnist: ten outputs named by clothes, in predict and the report",
  ignore: !CI &&
    !(await Deno.stat(FASHION_MNIST_SOURCE_DIR).then(() => true, () => false)),
  async fn() {
    await withModelDir(async (modelDir) => {
      const trained = await denoTask(
        "train",
        "--dataset",
        "fashion_mnist",
        "--limit",
        "512",
        "--seed",
        "1",
        "--model-dir",
        modelDir,
      );
      assertEquals(trained.code, 0, trained.errors.join("\n") + trained.stdout);
      const last = trained.stdout.trim().split("\n").at(-1)!;
      assert(
        last.split(", ").every((n) => FASHION_MNIST_CLASS_NAMES.includes(n)),
        last,
      );
      const run = await denoTask(
        "predict",
        "--model-dir",
        modelDir,
        "--count",
        "3",
      );
      assertEquals(run.code, 0, run.errors.join("\n"));
      // Fashion-MNIST's own first three labels, by name.
      assertStringIncludes(
        run.stdout,
        "Labels:    Ankle boot, T-shirt/top, T-shirt/top",
      );
      const report = await denoTask("report", "--model-dir", modelDir);
      assertEquals(report.code, 0, report.errors.join("\n"));
      const html = await Deno.readTextFile(join(ROOT, modelDir, "report.html"));
      assertStringIncludes(html, "<td>Ankle boot</td>");
      assertStringIncludes(html, "of 10000 test images of fashion_mnist");
    });
  },
});

Deno.test("train --dataset with a bad folder: one clear line naming it, exit code 1", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "dataset_cli_test_" });
  try {
    await Deno.mkdir(join(tmp, "only"));
    await Deno.writeFile(
      join(tmp, "only", "a.png"),
      await Deno.readFile(
        join(ROOT, "notebooks", "sample_digits", "digit_0.png"),
      ),
    );
    const run = await denoTask(
      "train",
      "--dataset",
      tmp,
      "--model-dir",
      "models/never",
    );
    assertEquals(run.code, 1, run.stdout);
    assertEquals(run.errors.length, 1, run.errors.join("\n"));
    assertStringIncludes(
      run.errors[0],
      `error: ${tmp}: only one class folder (only)`,
    );
    const bad = await denoTask("train", "--preprocessing", "sepia");
    assertEquals(bad.code, 2);
    assertStringIncludes(
      bad.errors[0],
      "--preprocessing must be grey or mnist",
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

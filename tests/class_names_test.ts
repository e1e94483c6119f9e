/**
 * Class names with the model: `train` records a data set's names, `saveModel`
 * writes them into `model.json`, `loadModel` brings them back, and the
 * confusion matrix, per-class table, mistakes, galleries and report show
 * them; a model saved without names reads as MNIST's digits.
 *
 * Run: deno test --allow-read --allow-write --allow-env tests/class_names_test.ts
 */
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { join } from "node:path";
import {
  buildModel,
  classify,
  classMetricsBundle,
  classNamesOf,
  confusionMatrixBundle,
  type Dataset,
  digitsBundle,
  initBackend,
  loadModel,
  mistakesBundle,
  reportHtml,
  saveModel,
  setClassNames,
  type Split,
  train,
  UsageError,
} from "../lib/mod.ts";
import { realMnist, silent } from "./helpers.ts";

await initBackend();
const mnist = await realMnist();
const NAMES = ["nought", "one", "two"];

/** The first `n` samples of `split` labelled 0, 1 or 2, as a 3-class split. */
function threeClasses(split: Split, n: number): Split {
  const ids: number[] = [];
  for (let i = 0; i < split.count && ids.length < n; i++) {
    if (split.labels[i] < 3) ids.push(i);
  }
  const images = new Uint8Array(ids.length * 784);
  ids.forEach((id, k) =>
    images.set(split.images.subarray(id * 784, id * 784 + 784), k * 784)
  );
  return {
    images,
    labels: Uint8Array.from(ids, (id) => split.labels[id]),
    count: ids.length,
    rows: 28,
    cols: 28,
    numClasses: 3,
  };
}

const data: Dataset = {
  train: threeClasses(mnist.train, 512),
  test: threeClasses(mnist.test, 300),
  classNames: NAMES,
};

Deno.test("train records the data set's class names; save and load keep them; every chart shows them", async () => {
  const model = buildModel({ seed: 1, numClasses: 3 });
  assertEquals(classNamesOf(model), ["0", "1", "2"]);
  const { test } = await train(model, data, {
    seed: 1,
    batchSize: 32,
    sink: silent,
    verbose: false,
    threads: 1,
  });
  assert(test.acc > 0.8, `a 3-class model learns: ${test.acc}`);
  assertEquals(classNamesOf(model), NAMES);
  const dir = await Deno.makeTempDir({ prefix: "class_names_test_" });
  try {
    await saveModel(model, join(dir, "m"), { metadata: { run: { seed: 1 } } });
    const json = JSON.parse(
      await Deno.readTextFile(join(dir, "m", "model.json")),
    );
    // Saved beside other metadata, neither replacing the other.
    assertEquals(json.userDefinedMetadata.classNames, NAMES);
    assertEquals(json.userDefinedMetadata.run, { seed: 1 });
    const back = await loadModel(join(dir, "m"));
    assertEquals(classNamesOf(back), NAMES);

    const results = await classify(back, data.test);
    assertEquals(results.classNames, NAMES);
    const matrix = String(confusionMatrixBundle(results)["text/plain"]);
    assertEquals(matrix.split("\n").length, 4, matrix); // header + 3 classes
    assertStringIncludes(matrix, "nought");
    const svg = String(confusionMatrixBundle(results)["image/svg+xml"]);
    for (const name of NAMES) assertStringIncludes(svg, `>${name}<`);
    const table = String(classMetricsBundle(results)["text/plain"]);
    assertEquals(
      table.split("\n").filter((l) => /^(nought|one|two)\s/.test(l)).length,
      3,
      table,
    );
    const mistakes = String(mistakesBundle(data.test, results)["text/plain"]);
    for (const line of mistakes.split("\n").filter(Boolean)) {
      assert(
        /^#\d+: (nought|one|two) read as (nought|one|two) /.test(line),
        line,
      );
    }
    const html = reportHtml({
      title: "three",
      history: { epochs: [], steps: [] },
      results,
      split: data.test,
    });
    for (const name of NAMES) assertStringIncludes(html, `<td>${name}</td>`);
    const gallery = String(
      digitsBundle({
        images: data.test.images,
        labels: data.test.labels,
        classNames: NAMES,
        count: 3,
      })["text/plain"],
    );
    assertStringIncludes(gallery, "pictures 0..2");
    assert(/label: +(nought|one|two)/.test(gallery), gallery);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a model saved without class names reads as MNIST's digits, and its charts as before", async () => {
  const dir = await Deno.makeTempDir({ prefix: "class_names_test_" });
  try {
    const model = buildModel({ seed: 2 });
    await saveModel(model, join(dir, "old"));
    const json = JSON.parse(
      await Deno.readTextFile(join(dir, "old", "model.json")),
    );
    assertEquals(json.userDefinedMetadata, undefined);
    const back = await loadModel(join(dir, "old"));
    assertEquals(classNamesOf(back), [..."0123456789"]);
    const results = await classify(back, { ...mnist.test, count: 50 });
    const matrix = String(confusionMatrixBundle(results)["text/plain"]);
    assertStringIncludes(matrix.split("\n")[0], "0    1    2");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("class names and classes must agree: train, setClassNames and buildModel refuse a mismatch", async () => {
  await assertRejects(
    () =>
      train(buildModel({ seed: 1 }), data, { sink: silent, verbose: false }),
    UsageError,
    "the model tells 10 classes apart but the data set has 3",
  );
  const model = buildModel({ seed: 1, numClasses: 3 });
  assertThrows(() => setClassNames(model, ["a", "b"]), UsageError, "3 classes");
  assertThrows(
    () => setClassNames(model, ["a", "b", "a"]),
    UsageError,
    "distinct",
  );
  assertThrows(() => setClassNames(model, ["a", "", "c"]), UsageError);
  assertThrows(() => buildModel({ numClasses: 1 }), UsageError, "numClasses");
  // Names in a model.json that do not fit are ignored for the digits.
  model.setUserDefinedMetadata({ classNames: ["x"] });
  assertEquals(classNamesOf(model), ["0", "1", "2"]);
});

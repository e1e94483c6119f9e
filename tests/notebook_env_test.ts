/**
 * The environment variables the notebooks read do not collide: a notebook
 * that trains one data set never saves where another data set's notebooks
 * load from. `MNIST_MODEL_DIR` is read by the MNIST notebooks only, so
 * setting it (as the README offers) cannot make `fashion_mnist.ipynb` or
 * `your_dataset.ipynb` overwrite the MNIST model that `inside_the_cnn.ipynb`
 * loads. Reads the notebooks' source only: nothing runs.
 *
 * Run: deno test --allow-read tests/notebook_env_test.ts
 */
import { assert, assertEquals } from "@std/assert";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const NOTEBOOKS = fileURLToPath(new URL("../notebooks", import.meta.url));

/** Each notebook's `modelDir`: the variable it reads and its default. */
async function modelDirs(): Promise<
  Map<string, { variable: string; fallback: string; saves: boolean }>
> {
  const found = new Map();
  for await (const entry of Deno.readDir(NOTEBOOKS)) {
    if (!entry.name.endsWith(".ipynb")) continue;
    const nb = JSON.parse(
      await Deno.readTextFile(join(NOTEBOOKS, entry.name)),
    );
    const code = nb.cells
      .filter((c: { cell_type: string }) => c.cell_type === "code")
      .map((c: { source: string[] | string }) => [c.source].flat().join(""))
      .join("\n");
    const read = /const modelDir = Deno\.env\.get\("(\w+)"\) \?\? "([^"]+)"/
      .exec(code);
    if (!read) continue;
    found.set(entry.name, {
      variable: read[1],
      fallback: read[2],
      saves: /\bsaveModel\(/.test(code),
    });
  }
  return found;
}

Deno.test("notebooks: one model-directory variable per model, MNIST_MODEL_DIR for MNIST only", async () => {
  const dirs = await modelDirs();
  assert(dirs.size >= 6, `found ${[...dirs.keys()]}`);
  // A variable names one default model: two notebooks that read it work on
  // the same model (mnist_cnn saves what predict and inside_the_cnn load).
  const byVariable = new Map<string, Set<string>>();
  for (const { variable, fallback } of dirs.values()) {
    byVariable.set(
      variable,
      (byVariable.get(variable) ?? new Set()).add(fallback),
    );
  }
  for (const [variable, fallbacks] of byVariable) {
    assertEquals(fallbacks.size, 1, `${variable}: ${[...fallbacks]}`);
  }
  assertEquals([...byVariable.get("MNIST_MODEL_DIR")!], [
    "../models/mnist_cnn",
  ]);
  for (const name of ["fashion_mnist.ipynb", "your_dataset.ipynb"]) {
    const dir = dirs.get(name)!;
    assert(dir.saves, `${name} saves its model`);
    assert(dir.variable !== "MNIST_MODEL_DIR", `${name}: ${dir.variable}`);
  }
});

import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import * as tf from "@tensorflow/tfjs";
import {
  buildModel,
  loadModel,
  ModelFileError,
  predictClasses,
  saveModel,
  train,
} from "../lib/mod.ts";
import { readMetadata } from "../lib/saving.ts";
import { realMnist, silent, smallTest, weightsOf } from "./helpers.ts";

const mnist = await realMnist();

async function trainedModel(seed = 1): Promise<tf.LayersModel> {
  const model = buildModel({ seed });
  await train(model, smallTest(mnist), {
    limit: 256,
    seed,
    sink: silent,
    verbose: false,
    validation: false,
  });
  return model;
}
const model = await trainedModel();

async function namesIn(dir: string): Promise<string[]> {
  const names = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mnist_saving_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("save → reload: standard files, identical weights, predictions and optimizer state", async () => {
  await withDir(async (dir) => {
    const path = await saveModel(model, `${dir}/m`, {
      metadata: { run: { epochsDone: 1 } },
    });
    const json = JSON.parse(await Deno.readTextFile(`${path}/model.json`));
    assertEquals(json.format, "layers-model");
    assertEquals(json.weightsManifest[0].paths, ["./weights.bin"]);
    const groups = new Set(
      json.weightsManifest[0].weights.map((w: { group?: string }) => w.group),
    );
    assert(groups.has("optimizer"), "optimizer state saved");
    assertEquals(await namesIn(dir), ["m"], "no staging left");
    const reloaded = await loadModel(path);
    assertEquals(weightsOf(reloaded), weightsOf(model));
    const optimizerWeights = async (m: tf.LayersModel) =>
      (await m.optimizer.getWeights()).map((w) =>
        Array.from(w.tensor.dataSync())
      );
    assertEquals(
      await optimizerWeights(reloaded),
      await optimizerWeights(model),
    );
    assertEquals(
      await predictClasses(reloaded, mnist.test, { count: 200 }),
      await predictClasses(model, mnist.test, { count: 200 }),
    );
    assertEquals(await readMetadata(path), {
      classNames: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
      run: { epochsDone: 1 },
    });
  });
});

Deno.test("saving again replaces the model atomically and leaves no staging directory", async () => {
  await withDir(async (dir) => {
    await saveModel(buildModel({ seed: 5 }), `${dir}/m`);
    await saveModel(model, `${dir}/m`);
    assertEquals(weightsOf(await loadModel(`${dir}/m`)), weightsOf(model));
    assertEquals(await namesIn(dir), ["m"]);
  });
});

Deno.test("a crash between the two renames of a save: loadModel recovers the previous model", async () => {
  await withDir(async (dir) => {
    await saveModel(model, `${dir}/m`);
    await Deno.rename(`${dir}/m`, `${dir}/m.previous`); // the state after the first rename
    assertEquals(weightsOf(await loadModel(`${dir}/m`)), weightsOf(model));
  });
});

Deno.test("saving to a path that is not writable fails clearly", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/file`, "not a directory");
    const err = await assertRejects(
      () => saveModel(model, `${dir}/file/m`),
      ModelFileError,
    );
    assertStringIncludes(
      err.message,
      `${dir}/file/m: could not save the model`,
    );
  });
});

async function tryMountTmpfs(dir: string, size: string): Promise<boolean> {
  try {
    const out = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir],
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

Deno.test("a full disk mid-save fails clearly and leaves the previous model intact", async () => {
  await withDir(async (dir) => {
    // A 16 MB tmpfs holds one model (14.4 MB of weights and optimizer state), not two.
    const mounted = await tryMountTmpfs(dir, "16m");
    if (!mounted && Deno.env.get("CI") === "true") {
      throw new Error("CI runs as root: mount failed");
    }
    if (!mounted) {
      return console.warn("cannot mount a tmpfs here (not root): skipped");
    }
    try {
      await saveModel(model, `${dir}/m`);
      const other = await trainedModel(9); // with optimizer state: 14.4 MB again
      const err = await assertRejects(
        () => saveModel(other, `${dir}/m`),
        ModelFileError,
      );
      assertStringIncludes(err.message, "could not save the model");
      assertEquals(weightsOf(await loadModel(`${dir}/m`)), weightsOf(model));
      assertEquals(
        await namesIn(dir),
        ["m"],
        "the partial save was cleaned up",
      );
    } finally {
      await new Deno.Command("umount", { args: [dir] }).output();
    }
  });
});

/** Saves the model, lets `corrupt` damage it, and expects a clear error. */
async function expectLoadError(
  corrupt: (dir: string) => Promise<void>,
  file: string,
  message: string | RegExp,
): Promise<void> {
  await withDir(async (dir) => {
    await saveModel(model, `${dir}/m`);
    await corrupt(`${dir}/m`);
    const err = await assertRejects(
      () => loadModel(`${dir}/m`),
      ModelFileError,
    );
    assertStringIncludes(err.message, `${dir}/m${file}`);
    if (typeof message === "string") assertStringIncludes(err.message, message);
    else assert(message.test(err.message), err.message);
  });
}

Deno.test("loading a missing directory says to train first", async () => {
  const err = await assertRejects(
    () => loadModel("/nonexistent/model"),
    ModelFileError,
  );
  assertStringIncludes(err.message, "/nonexistent/model: no saved model here");
  assertStringIncludes(err.message, "deno task train");
});

Deno.test("loading bad models: each a clear ModelFileError naming the file", async () => {
  const json = (dir: string) => `${dir}/model.json`;
  await expectLoadError(
    (d) => Deno.writeTextFile(json(d), "{ not json"),
    "/model.json",
    "not valid JSON",
  );
  await expectLoadError(
    (d) => Deno.writeTextFile(json(d), '{"format":"graph-model"}'),
    "/model.json",
    "not a TensorFlow.js Layers model",
  );
  await expectLoadError(
    (d) => Deno.remove(json(d)),
    "/model.json",
    "cannot read",
  );
  await expectLoadError(
    (d) => Deno.remove(`${d}/weights.bin`),
    "/weights.bin",
    "weights file missing",
  );
  await expectLoadError(
    async (d) => {
      const bytes = await Deno.readFile(`${d}/weights.bin`);
      await Deno.writeFile(
        `${d}/weights.bin`,
        bytes.subarray(0, bytes.length - 4),
      );
    },
    "/weights.bin",
    /shorter than its manifest.*expected \d+ bytes, found \d+/,
  );
  await expectLoadError(
    async (d) => {
      const bytes = await Deno.readFile(`${d}/weights.bin`);
      await Deno.writeFile(
        `${d}/weights.bin`,
        new Uint8Array([...bytes, 0, 0, 0, 0]),
      );
    },
    "/weights.bin",
    "longer than its manifest",
  );
  await expectLoadError(
    async (d) => {
      // Same byte count, but the dense layer's shapes no longer fit the architecture.
      const text = await Deno.readTextFile(json(d));
      await Deno.writeTextFile(
        json(d),
        text.replace('"units":128', '"units":64'),
      );
    },
    "/model.json",
    "does not describe a model its weights fit",
  );
});

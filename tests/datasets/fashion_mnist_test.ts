/**
 * Fashion-MNIST from Debian's dataset-fashion-mnist: decompressed into a
 * cache checked against SHA-256 digests, and clear errors when the package is
 * missing or a file is broken. Without the package these tests are ignored,
 * except under CI=true, where they fail.
 *
 * Run: deno test --allow-read --allow-write --allow-env tests/datasets/fashion_mnist_test.ts
 */
import { assert, assertEquals, assertRejects } from "@std/assert";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { DataError, UsageError } from "../../lib/mod.ts";
import {
  FASHION_MNIST_APT,
  FASHION_MNIST_CLASS_NAMES,
  FASHION_MNIST_DIGESTS,
  FASHION_MNIST_SOURCE_DIR,
  loadDataset,
  loadFashionMnist,
} from "../../lib/datasets/mod.ts";

const CI = Deno.env.get("CI") === "true";
const installed = await Deno.stat(FASHION_MNIST_SOURCE_DIR).then(
  () => true,
  () => false,
);
if (!installed) {
  console.warn(
    `fashion_mnist_test: ${FASHION_MNIST_SOURCE_DIR} is missing (${FASHION_MNIST_APT})${
      CI ? "; failing (CI=true)" : "; ignoring the tests that read it"
    }`,
  );
}
const ignore = !installed && !CI;

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fashion_mnist_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const sha256 = (bytes: Uint8Array) =>
  createHash("sha256").update(bytes).digest("hex");

Deno.test({
  name:
    "Fashion-MNIST: 60000 + 10000 pictures, Zalando's first labels and class names, a cache that matches its digests",
  ignore,
  async fn() {
    await withTemp(async (cacheDir) => {
      const data = await loadFashionMnist({ cacheDir });
      assertEquals([data.train.count, data.test.count], [60000, 10000]);
      // The first ten training labels: ankle boot, T-shirt, T-shirt, dress…
      assertEquals(
        Array.from(data.train.labels.subarray(0, 10)),
        [9, 0, 0, 3, 0, 2, 7, 2, 5, 5],
      );
      assertEquals(data.classNames, [...FASHION_MNIST_CLASS_NAMES]);
      assertEquals(data.classNames[9], "Ankle boot");
      // Each class 6000 times in training, 1000 in test.
      const counts = new Array(10).fill(0);
      data.train.labels.forEach((l) => counts[l]++);
      assertEquals(counts, new Array(10).fill(6000));
      assert(data.train.images.buffer instanceof SharedArrayBuffer);
      for (
        const [name, { sha256: digest }] of Object.entries(
          FASHION_MNIST_DIGESTS,
        )
      ) {
        assertEquals(sha256(await Deno.readFile(join(cacheDir, name))), digest);
      }
      // A corrupt cache file is replaced from the package, never used.
      const labels = join(cacheDir, "t10k-labels-idx1-ubyte");
      const bytes = await Deno.readFile(labels);
      bytes[100] ^= 1;
      await Deno.writeFile(labels, bytes);
      const again = await loadFashionMnist({ cacheDir });
      assertEquals(again.test.labels, data.test.labels);
      assertEquals(
        sha256(await Deno.readFile(labels)),
        FASHION_MNIST_DIGESTS["t10k-labels-idx1-ubyte"].sha256,
      );
      // loadDataset knows it by name.
      const named = await loadDataset("fashion_mnist");
      assertEquals(named.test.labels, data.test.labels);
    });
  },
});

Deno.test("without the package: a DataError naming the file and the one apt command", async () => {
  await withTemp(async (dir) => {
    const error = await assertRejects(
      () =>
        loadFashionMnist({
          cacheDir: join(dir, "cache"),
          sourceDir: join(dir, "no-package"),
        }),
      DataError,
    );
    assert(error.message.includes(join(dir, "no-package")), error.message);
    assert(
      error.message.includes(
        "sudo apt-get install --no-install-recommends dataset-fashion-mnist",
      ),
      error.message,
    );
  });
});

Deno.test({
  name:
    "a truncated, corrupt or oversized .gz in the package: a DataError naming it, no cache written",
  ignore,
  async fn() {
    await withTemp(async (dir) => {
      const source = join(dir, "source"), cacheDir = join(dir, "cache");
      await Deno.mkdir(source);
      const copy = async (name: string, bytes?: Uint8Array) =>
        await Deno.writeFile(
          join(source, `${name}.gz`),
          bytes ??
            await Deno.readFile(join(FASHION_MNIST_SOURCE_DIR, `${name}.gz`)),
        );
      for (const name of Object.keys(FASHION_MNIST_DIGESTS)) await copy(name);
      const gz = await Deno.readFile(
        join(FASHION_MNIST_SOURCE_DIR, "train-labels-idx1-ubyte.gz"),
      );
      const cases: [string, Uint8Array][] = [
        ["truncated", gz.subarray(0, gz.length >> 1)],
        ["not gzip", new TextEncoder().encode("hello, not gzip")],
        // A gzip of 100 kB of zeros: more than the file Fashion-MNIST has.
        [
          "oversized",
          new Uint8Array(
            await new Response(
              new Blob([new Uint8Array(100_000)]).stream().pipeThrough(
                new CompressionStream("gzip"),
              ),
            ).arrayBuffer(),
          ),
        ],
      ];
      for (const [what, bytes] of cases) {
        await copy("train-labels-idx1-ubyte", bytes);
        const error = await assertRejects(
          () => loadFashionMnist({ cacheDir, sourceDir: source }),
          DataError,
        );
        assert(
          error.message.includes("train-labels-idx1-ubyte.gz"),
          `${what}: ${error.message}`,
        );
        const cached = await Deno.stat(
          join(cacheDir, "train-labels-idx1-ubyte"),
        )
          .then(() => true, () => false);
        assert(!cached, `${what}: a cache file was written`);
      }
    });
  },
});

Deno.test("loadDataset: an unknown name is a UsageError that lists the names", async () => {
  const error = await assertRejects(
    // deno-lint-ignore no-explicit-any
    () => loadDataset("cifar10" as any),
    UsageError,
  );
  assert(error.message.includes("mnist or fashion_mnist"), error.message);
});

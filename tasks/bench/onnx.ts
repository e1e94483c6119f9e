/**
 * The ONNX Runtime anchors of `deno task bench`: the model the bench predicts
 * with, exported to ONNX (`lib/onnx`), predicts the 10,000 MNIST test images
 * in onnxruntime-web (WASM) and, where its native library loads,
 * onnxruntime-node, on 1 and 2 threads, in batches of 128 as this project
 * does, the median of three passes. Both come from npm and are used only
 * here and in tests, never by the product.
 *
 * Each figure runs in its own Deno process (`--runtime`, `--threads`,
 * `--model`): onnxruntime-web fixes its thread count when its WASM starts,
 * and onnxruntime-node is a native addon, so only its process gets
 * `--allow-ffi`; the bench itself never does.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { fileURLToPath } from "node:url";
import { loadMnist } from "../../lib/data.ts";
import { onnxBytes } from "../../lib/onnx/mod.ts";

/** The ONNX runtimes measured. */
export type OnnxRuntimeName = "onnxruntime-web" | "onnxruntime-node";

/** One ONNX Runtime figure. */
export interface OnnxAnchor {
  /** Which runtime. */
  runtime: OnnxRuntimeName;
  /** Its threads (`numThreads`, `intraOpNumThreads`). */
  threads: number;
  /** Seconds for the 10,000 test images (median of three passes). */
  seconds: number;
  /** Images per second. */
  imagesPerSecond: number;
}

/** What {@linkcode onnxRuntimeAnchors} returns. */
export interface OnnxAnchors {
  /** The figures measured. */
  anchors: OnnxAnchor[];
  /** Runtimes or thread counts that could not run, with why. */
  skipped: string[];
}

const BATCH = 128;

/** Predicts the test images in one runtime, in this process: seconds. */
async function measure(
  runtime: OnnxRuntimeName,
  threads: number,
  modelPath: string,
): Promise<number> {
  const mnist = await loadMnist();
  const { images, count } = mnist.test;
  const bytes = await Deno.readFile(modelPath);
  // deno-lint-ignore no-explicit-any
  let ort: any;
  // deno-lint-ignore no-explicit-any
  let session: any;
  if (runtime === "onnxruntime-web") {
    ort = await import("onnxruntime-web");
    ort.env.wasm.numThreads = threads;
    session = await ort.InferenceSession.create(bytes);
  } else {
    ort = await import("onnxruntime-node");
    session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
    });
  }
  const pass = async (n: number) => {
    for (let start = 0; start < n; start += BATCH) {
      const size = Math.min(BATCH, n - start);
      const x = new Float32Array(size * 784);
      const from = images.subarray(start * 784, (start + size) * 784);
      for (let i = 0; i < x.length; i++) x[i] = from[i] / 255;
      await session.run({
        input: new ort.Tensor("float32", x, [size, 28, 28, 1]),
      });
    }
  };
  await pass(1000); // warm-up
  const seconds: number[] = [];
  for (let r = 0; r < 3; r++) {
    const started = performance.now();
    await pass(count);
    seconds.push((performance.now() - started) / 1000);
  }
  await session.release();
  return seconds.sort((a, b) => a - b)[1];
}

/**
 * Measures `model`, exported to ONNX, in onnxruntime-web and
 * onnxruntime-node on each of `threads`, each in its own process; a runtime
 * that does not load is skipped, with why.
 *
 * @example
 * ```ts ignore
 * // ignored: predicts 10,000 images four times over (about a minute)
 * import { buildModel } from "../../lib/mod.ts";
 * import { onnxRuntimeAnchors } from "./onnx.ts";
 * const { anchors } = await onnxRuntimeAnchors(buildModel({ seed: 1 }), { threads: [1, 2] });
 * if (anchors.length === 0) throw new Error("no ONNX Runtime ran");
 * ```
 */
export async function onnxRuntimeAnchors(
  model: tf.LayersModel,
  options: { threads: number[] },
): Promise<OnnxAnchors> {
  const dir = await Deno.makeTempDir({ prefix: "bench_onnx_" });
  const path = `${dir}/model.onnx`;
  await Deno.writeFile(path, onnxBytes(model));
  const script = fileURLToPath(import.meta.url);
  const result: OnnxAnchors = { anchors: [], skipped: [] };
  try {
    for (
      const runtime of ["onnxruntime-web", "onnxruntime-node"] as const
    ) {
      for (const threads of options.threads) {
        const permissions = [
          "--allow-read",
          "--allow-env",
          "--allow-write=data",
          ...(runtime === "onnxruntime-node" ? ["--allow-ffi"] : []),
        ];
        const out = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            ...permissions,
            script,
            "--runtime",
            runtime,
            "--threads",
            String(threads),
            "--model",
            path,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const text = new TextDecoder().decode(out.stdout).trim().split("\n")
          .at(-1) ?? "";
        if (!out.success || !text.startsWith("{")) {
          const why = new TextDecoder().decode(out.stderr).trim().split("\n")
            .find((l) => /error/i.test(l)) ?? `exit code ${out.code}`;
          result.skipped.push(`${runtime} on ${threads} thread(s): ${why}`);
          continue;
        }
        const seconds = JSON.parse(text).seconds as number;
        result.anchors.push({
          runtime,
          threads,
          seconds,
          imagesPerSecond: 10_000 / seconds,
        });
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return result;
}

/**
 * The bench's lines for the anchors: each runtime's images/s beside this
 * project's on the same threads, with the ratio (this project's over the
 * runtime's).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { formatAnchors } from "./onnx.ts";
 * const lines = formatAnchors(
 *   { anchors: [{ runtime: "onnxruntime-web", threads: 1, seconds: 10, imagesPerSecond: 1000 }], skipped: [] },
 *   [{ threads: 1, imagesPerSecond: 2000 }],
 * );
 * assertEquals(lines[1], "  onnxruntime-web   1 thread(s):   1000 images/s; this project 2000 (2.00×)");
 * ```
 */
export function formatAnchors(
  result: OnnxAnchors,
  ours: { threads: number; imagesPerSecond: number }[],
): string[] {
  const lines = [
    "\nONNX Runtime, the same model exported to ONNX, 10,000 test images (median of 3 passes):",
  ];
  for (const a of result.anchors) {
    const mine = ours.find((o) => o.threads === a.threads)?.imagesPerSecond;
    lines.push(
      `  ${a.runtime.padEnd(17)} ${a.threads} thread(s): ${
        a.imagesPerSecond.toFixed(0).padStart(6)
      } images/s${
        mine === undefined
          ? ""
          : `; this project ${mine.toFixed(0)} (${
            (mine / a.imagesPerSecond).toFixed(2)
          }×)`
      }`,
    );
  }
  for (const s of result.skipped) lines.push(`  not run: ${s}`);
  return lines;
}

if (import.meta.main) {
  const args = Deno.args;
  const value = (flag: string) => args[args.indexOf(flag) + 1];
  const runtime = value("--runtime") as OnnxRuntimeName;
  const seconds = await measure(
    runtime,
    Number(value("--threads")),
    value("--model"),
  );
  console.log(JSON.stringify({ runtime, seconds }));
}

/**
 * Initialises TensorFlow.js on its WASM backend under Deno and registers the
 * training kernels the stock backend lacks or runs as scalar loops.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { BackendError } from "./errors.ts";
import { registerTrainingKernels } from "./kernels/mod.ts";

const WASM_FILES = [
  "tfjs-backend-wasm.wasm",
  "tfjs-backend-wasm-simd.wasm",
] as const;

/**
 * Returns the directory holding tfjs-backend-wasm's `.wasm` binaries, wherever
 * Deno put the npm package (a local `node_modules/` or Deno's global cache).
 *
 * @throws {BackendError} when the package or its binaries are missing.
 */
export function wasmBinaryDir(): string {
  let dir: string;
  try {
    const require = createRequire(import.meta.url);
    dir = dirname(require.resolve("@tensorflow/tfjs-backend-wasm"));
  } catch (cause) {
    throw new BackendError(
      "cannot find the npm package @tensorflow/tfjs-backend-wasm: run `deno install` first",
      { cause },
    );
  }
  for (const file of WASM_FILES) {
    try {
      Deno.statSync(join(dir, file));
    } catch (cause) {
      throw new BackendError(
        `${
          join(dir, file)
        }: WASM binary missing; reinstall with \`deno install --reload\``,
        { cause },
      );
    }
  }
  return dir;
}

let ready: Promise<void> | undefined;

/**
 * Makes `wasm` the active tfjs backend and registers this project's training
 * kernels for it. Safe to call many times; later calls return the first
 * call's promise. Never falls back to another backend.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "./backend.ts";
 * await initBackend();
 * assertEquals(tf.getBackend(), "wasm");
 * ```
 */
export function initBackend(): Promise<void> {
  ready ??= (async () => {
    setWasmPaths(wasmBinaryDir() + "/");
    // The WASM backend logs nothing useful on success; fail loudly otherwise.
    const ok = await tf.setBackend("wasm");
    if (!ok || tf.getBackend() !== "wasm") {
      throw new BackendError("tfjs could not start its wasm backend");
    }
    registerTrainingKernels();
    await tf.ready();
  })();
  return ready;
}

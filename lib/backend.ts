/**
 * Initialises TensorFlow.js under Deno on one of three backends: `wasm` (the
 * default, with the training kernels the stock backend lacks or runs as
 * scalar loops), `webgpu` (tfjs's own WebGPU kernels on Deno's WebGPU: a
 * Metal, Vulkan or DirectX 12 GPU, or Mesa's software lavapipe), or `cpu`
 * (tfjs's plain JS kernels, the reference).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { BackendError, GpuError, UsageError } from "./errors.ts";
import { registerTrainingKernels } from "./kernels/mod.ts";

const WASM_FILES = [
  "tfjs-backend-wasm.wasm",
  "tfjs-backend-wasm-simd.wasm",
] as const;

/** The backends {@linkcode initBackend} starts, default first. */
export const BACKENDS = ["wasm", "webgpu", "cpu"] as const;

/** One of {@linkcode BACKENDS}. */
export type BackendName = typeof BACKENDS[number];

/**
 * Returns the directory holding tfjs-backend-wasm's `.wasm` binaries, wherever
 * Deno put the npm package (a local `node_modules/` or Deno's global cache).
 *
 * @throws {BackendError} when the package or its binaries are missing.
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { wasmBinaryDir } from "./backend.ts";
 * assert(wasmBinaryDir().includes("tfjs-backend-wasm"));
 * ```
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

const started = new Map<BackendName, Promise<void>>();
let adapterName: string | undefined;

/**
 * Makes `backend` (one of {@linkcode BACKENDS}, default `wasm`; any other
 * name is a {@linkcode UsageError}, so a flag or an environment variable can
 * be passed as it is) the active tfjs backend, starting it on
 * the first call: for `wasm` it registers this project's training kernels;
 * for `webgpu` it takes one GPU adapter and one device for the whole process
 * (tfjs would ask for a new adapter each time the backend is registered,
 * tensorflow/tfjs#8518). Later calls switch back to a started backend at
 * once; a backend that failed to start fails the same way again. Never falls
 * back to another backend.
 *
 * Tensors and models belong to the backend active when they were made: on
 * `webgpu`, read them with the async API (`await tensor.data()`, the
 * `…Async` functions of this library); a synchronous read throws a
 * {@linkcode GpuError} of kind `"sync-read"` (Deno has no 2D canvas, which
 * tfjs's synchronous WebGPU read needs).
 *
 * @throws {GpuError} for `webgpu` when this Deno exposes no WebGPU
 * (`"no-webgpu"`), finds no GPU adapter (`"no-adapter"`: no GPU, or no
 * Vulkan/Metal driver) or cannot open a device on it (`"no-device"`).
 * @throws {UsageError} for an unknown backend name.
 * @throws {BackendError} when tfjs cannot start the backend.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "./backend.ts";
 * await initBackend();
 * assertEquals(tf.getBackend(), "wasm");
 * await initBackend("cpu");
 * assertEquals(tf.getBackend(), "cpu");
 * await initBackend("wasm");
 * ```
 */
export async function initBackend(
  backend: BackendName | (string & Record<never, never>) = "wasm",
): Promise<void> {
  if (!(BACKENDS as readonly string[]).includes(backend)) {
    throw new UsageError(
      `unknown backend '${backend}': use one of ${BACKENDS.join(", ")}`,
    );
  }
  const name = backend as BackendName;
  let start = started.get(name);
  if (!start) {
    start = startBackend(name);
    started.set(name, start);
  }
  await start;
  if (tf.getBackend() !== backend && !(await tf.setBackend(backend))) {
    throw new BackendError(
      `tfjs could not switch back to its ${backend} backend`,
    );
  }
}

/**
 * The GPU adapter the `webgpu` backend runs on (for example `llvmpipe (LLVM
 * 15.0.6, 256 bits)` for lavapipe), or `undefined` before it started.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { gpuAdapterName, initBackend } from "./backend.ts";
 * await initBackend("cpu");
 * assertEquals(gpuAdapterName(), undefined);
 * await initBackend("wasm");
 * ```
 */
export function gpuAdapterName(): string | undefined {
  return adapterName;
}

async function startBackend(backend: BackendName): Promise<void> {
  if (backend === "webgpu") await registerWebGpu();
  if (backend === "wasm") setWasmPaths(wasmBinaryDir() + "/");
  let ok = false;
  try {
    ok = await tf.setBackend(backend);
  } catch (cause) {
    throw new BackendError(`tfjs could not start its ${backend} backend`, {
      cause,
    });
  }
  if (!ok || tf.getBackend() !== backend) {
    throw new BackendError(`tfjs could not start its ${backend} backend`);
  }
  if (backend === "wasm") registerTrainingKernels();
  // tfjs's cpu backend greets its first tensor with advice for Node.js
  // ("install tfjs-node"), which does not apply to Deno.
  if (backend === "cpu") {
    (tf.backend() as { firstUse?: boolean }).firstUse = false;
  }
  await tf.ready();
}

/** Takes the process's one adapter and device and registers tfjs's WebGPU backend on them. */
async function registerWebGpu(): Promise<void> {
  const gpu = (navigator as { gpu?: GPU }).gpu;
  if (!gpu) {
    throw new GpuError(
      "this Deno has no WebGPU (navigator.gpu is missing): run it with --unstable-webgpu",
      { kind: "no-webgpu" },
    );
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch (cause) {
    adapter = null;
    console.error(`WebGPU requestAdapter failed: ${cause}`);
  }
  if (!adapter) {
    throw new GpuError(
      "WebGPU found no GPU adapter: this machine has no GPU, or no Vulkan (Linux), " +
        "Metal (macOS) or Direct3D 12 (Windows) driver for it; on Linux without a GPU, " +
        "Mesa's software Vulkan runs it (apt-get install mesa-vulkan-drivers libvulkan1)",
      { kind: "no-adapter" },
    );
  }
  const limits = adapter.limits;
  let device: GPUDevice;
  try {
    // The limits tfjs's own factory asks for: the adapter's, not the defaults.
    device = await adapter.requestDevice({
      requiredFeatures: adapter.features.has("timestamp-query")
        ? ["timestamp-query"]
        : [],
      requiredLimits: {
        maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
        maxComputeWorkgroupsPerDimension:
          limits.maxComputeWorkgroupsPerDimension,
        maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
        maxBufferSize: limits.maxBufferSize,
        maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
        maxComputeInvocationsPerWorkgroup:
          limits.maxComputeInvocationsPerWorkgroup,
      },
    });
  } catch (cause) {
    throw new GpuError(
      `WebGPU could not open a device on the adapter ${adapter.info.description}`,
      { cause, kind: "no-device" },
    );
  }
  adapterName = adapter.info.description || adapter.info.vendor || "unknown";
  const info = adapter.info;
  // Imported here, not at the top: the package registers its backend (and
  // its kernels) on import, which a wasm-only process has no use for.
  const { WebGPUBackend } = await import("@tensorflow/tfjs-backend-webgpu");
  // Replace the package's factory (a new adapter on every call) by one on
  // this process's device; priority 1 keeps wasm (2) tfjs's own first choice.
  tf.removeBackend("webgpu");
  let instance: InstanceType<typeof WebGPUBackend> | undefined;
  tf.registerBackend("webgpu", () => {
    instance ??= syncReadsFail(new WebGPUBackend(device, info));
    return instance;
  }, 1);
}

/**
 * Makes a synchronous read of GPU data throw a clear {@linkcode GpuError}
 * instead of tfjs's failure deep inside (it draws on a 2D canvas Deno lacks).
 */
function syncReadsFail<
  B extends {
    readSync(dataId: object): tf.backend_util.BackendValues;
    tensorMap: { get(dataId: object): { values?: unknown } | undefined };
  },
>(backend: B): B {
  const readSync = backend.readSync.bind(backend);
  backend.readSync = (dataId) => {
    if (backend.tensorMap.get(dataId)?.values != null) return readSync(dataId);
    throw new GpuError(
      "a synchronous read (dataSync) of a tensor on the webgpu backend: Deno cannot " +
        "read GPU memory synchronously; use the async API (await tensor.data(), " +
        "the …Async functions of this library)",
      { kind: "sync-read" },
    );
  };
  return backend;
}

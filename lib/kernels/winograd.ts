/**
 * Winograd F(2x2,3x3) convolution for the wasm backend: a stride-1,
 * dilation-1, 3x3, NHWC float32 convolution with arbitrary explicit
 * (non-negative) padding, in 2.25x fewer multiply-adds than direct
 * convolution. It serves the forward `Conv2D` of 3x3 stride-1 layers and the
 * stride-1 input gradient (`Conv2DBackpropInput`: a 3x3 conv of `dy` padded
 * by 2 - pad with the flipped, channel-swapped filter);
 * {@link winogradBackpropFilter3x3} computes the filter gradient
 * (`Conv2DBackpropFilter`) the same way.
 *
 * Steps: the filter transform U = G·g·Gᵀ (plain JS, 16 planes [Cin, Cout]);
 * the input transform V = Bᵀ·d·B over 4x4 tiles at stride 2 (16 planes
 * [tiles, Cin]); 16 products M[k] = V[k]·U[k] on the backend's stock XNNPACK
 * fully-connected GEMM; the output transform Y = Aᵀ·M·A, partial tiles
 * clipped. Tiles go through in chunks so that V and M stay in cache. The
 * two transforms are WASM SIMD kernels (`winograd/winograd.as.ts`, built
 * into `winograd/winograd.wasm` by `winograd/build.ts`) instantiated on the
 * backend's own `WebAssembly.Memory`, working in place on tensors at heap
 * addresses.
 *
 * @example
 * ```ts
 * if (canUseWinograd(x.shape, filter.shape, 1, 1, pads)) {
 *   return winogradConv3x3(backend, x, filter, pads);
 * }
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { stockMatMul } from "./batch_mat_mul.ts";
import {
  disposeAll,
  heapF32,
  heapIndex,
  reshaped,
  WASM,
  type WasmKernelFunc,
} from "./wasm_util.ts";

/** Explicit padding of the two spatial axes (all ≥ 0). */
export interface Pads {
  /** Rows of zeros above the input. */
  top: number;
  /** Rows of zeros below the input. */
  bottom: number;
  /** Columns of zeros left of the input. */
  left: number;
  /** Columns of zeros right of the input. */
  right: number;
}

/** Tuning knobs of {@link winogradConv3x3} (defaults are measured best). */
export interface WinogradOptions {
  /** Tiles per chunk (V and M of one chunk should fit in cache). */
  chunkTiles?: number;
}

/** Default tiles per chunk. */
export const DEFAULT_CHUNK_TILES = 512;

interface Transforms {
  inputTransform(
    x: number,
    vTable: number,
    zero: number,
    H: number,
    W: number,
    C: number,
    padT: number,
    padL: number,
    TH: number,
    TW: number,
    t0: number,
    count: number,
  ): void;
  outputTransform(
    mTable: number,
    y: number,
    OH: number,
    OW: number,
    C: number,
    TH: number,
    TW: number,
    t0: number,
    count: number,
  ): void;
  dyTransform(
    dy: number,
    dTable: number,
    zero: number,
    OH: number,
    OW: number,
    C: number,
    TH: number,
    TW: number,
    t0: number,
    count: number,
  ): void;
  gradProducts(
    vTable: number,
    dTable: number,
    g: number,
    Cin: number,
    Cout: number,
    count: number,
  ): void;
}

let wasmModule: WebAssembly.Module | undefined;
const instances = new WeakMap<WebAssembly.Memory, Transforms>();

/** The compiled transforms module (read once from winograd/winograd.wasm). */
function transformsModule(): WebAssembly.Module {
  wasmModule ??= new WebAssembly.Module(
    Deno.readFileSync(new URL("./winograd/winograd.wasm", import.meta.url)),
  );
  return wasmModule;
}

/** The emscripten module's `WebAssembly.Memory` of the wasm backend. */
export function backendMemory(backend: BackendWasm): WebAssembly.Memory {
  const wasm = backend.wasm as unknown as {
    asm?: { memory?: WebAssembly.Memory };
    wasmMemory?: WebAssembly.Memory;
    wasmExports?: { memory?: WebAssembly.Memory };
  };
  const memory = wasm.asm?.memory ?? wasm.wasmExports?.memory ??
    wasm.wasmMemory;
  if (!(memory instanceof WebAssembly.Memory)) {
    throw new Error("winograd: cannot find the wasm backend's memory");
  }
  return memory;
}

/** The transforms instantiated on the backend's memory (cached). */
function transforms(backend: BackendWasm): Transforms {
  const memory = backendMemory(backend);
  let t = instances.get(memory);
  if (t === undefined) {
    if (!(memory.buffer instanceof ArrayBuffer)) {
      throw new Error(
        "winograd: the wasm backend's memory is shared (threaded build); " +
          "the transforms need the non-threaded SIMD build",
      );
    }
    const instance = new WebAssembly.Instance(transformsModule(), {
      env: {
        memory,
        abort() {
          throw new Error("winograd transforms aborted");
        },
      },
    });
    t = instance.exports as unknown as Transforms;
    instances.set(memory, t);
  }
  return t;
}

/**
 * Whether the transforms can run on this backend: its memory must be a
 * plain (non-shared) `WebAssembly.Memory` and `winograd/winograd.wasm`
 * readable (`--allow-read`). Instantiates and caches the transforms; never
 * throws. Check it once before routing convolutions to
 * {@link winogradConv3x3}.
 */
export function winogradAvailable(backend: BackendWasm): boolean {
  try {
    transforms(backend);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether {@link winogradConv3x3} handles a convolution: NHWC rank-4 input
 * and a [3, 3, Cin, Cout] filter with matching Cin, stride 1, dilation 1,
 * non-negative integer padding and a non-empty output. It does not judge
 * whether Winograd is faster (it is on large channel counts; for Cin or
 * Cout below ~8 direct convolution likely wins).
 */
export function canUseWinograd(
  xShape: readonly number[],
  filterShape: readonly number[],
  strides: number | readonly number[],
  dilations: number | readonly number[],
  pads: Pads,
  dataFormat: string = "NHWC",
): boolean {
  const ones = (v: number | readonly number[]) =>
    typeof v === "number" ? v === 1 : v.every((s) => s === 1);
  if (dataFormat !== "NHWC" || !ones(strides) || !ones(dilations)) {
    return false;
  }
  if (xShape.length !== 4 || filterShape.length !== 4) return false;
  if (filterShape[0] !== 3 || filterShape[1] !== 3) return false;
  if (filterShape[2] !== xShape[3]) return false;
  for (const p of [pads.top, pads.bottom, pads.left, pads.right]) {
    if (!Number.isInteger(p) || p < 0) return false;
  }
  const oh = xShape[1] + pads.top + pads.bottom - 2;
  const ow = xShape[2] + pads.left + pads.right - 2;
  return xShape[0] > 0 && oh > 0 && ow > 0 && xShape[3] > 0 &&
    filterShape[3] > 0;
}

/**
 * Whether Winograd is expected to beat XNNPACK's direct `Conv2D` for a
 * [3, 3, Cin, Cout] filter: both channel counts at least 16. Measured on
 * x[128,28,28,Cin], one thread: Cin/Cout 1/32 0.45x, 3/32 0.67x, 8/16 0.86x,
 * 16/16 1.16x, 16/32 1.36x, 32/32 1.56x, 32/64 1.75x, 64/64 1.9x.
 */
export function winogradProfitable(filterShape: readonly number[]): boolean {
  return filterShape[2] >= 16 && filterShape[3] >= 16;
}

/**
 * U[k][ci][co] for k = 4i + j: (G·g·Gᵀ)[i][j] of the 3x3 filter slice
 * g = filter[:, :, ci, co], G = [[1,0,0],[½,½,½],[½,-½,½],[0,0,1]]. Returns 16
 * fresh [Cin, Cout] tensors (XNNPACK caches packed weights per tensor).
 */
function filterTransform(
  backend: BackendWasm,
  filter: tf.TensorInfo,
  cin: number,
  cout: number,
): tf.TensorInfo[] {
  const planes: tf.TensorInfo[] = [];
  try {
    for (let k = 0; k < 16; k++) {
      planes.push(backend.makeOutput([cin, cout], "float32"));
    }
    const heap = heapF32(backend);
    const g = heapIndex(backend, filter);
    const u = planes.map((p) => heapIndex(backend, p));
    const plane = cin * cout; // stride between filter taps
    const gt = new Float64Array(12); // G·g: 4x3
    for (let e = 0; e < plane; e++) {
      for (let c = 0; c < 3; c++) {
        const g0 = heap[g + (0 * 3 + c) * plane + e];
        const g1 = heap[g + (1 * 3 + c) * plane + e];
        const g2 = heap[g + (2 * 3 + c) * plane + e];
        gt[c] = g0;
        gt[3 + c] = 0.5 * (g0 + g1 + g2);
        gt[6 + c] = 0.5 * (g0 - g1 + g2);
        gt[9 + c] = g2;
      }
      for (let i = 0; i < 4; i++) {
        const a0 = gt[3 * i], a1 = gt[3 * i + 1], a2 = gt[3 * i + 2];
        heap[u[4 * i] + e] = a0;
        heap[u[4 * i + 1] + e] = 0.5 * (a0 + a1 + a2);
        heap[u[4 * i + 2] + e] = 0.5 * (a0 - a1 + a2);
        heap[u[4 * i + 3] + e] = a2;
      }
    }
    return planes;
  } catch (error) {
    disposeAll(backend, ...planes);
    throw error;
  }
}

let matMul:
  | ((b: BackendWasm, a: tf.TensorInfo, w: tf.TensorInfo) => tf.TensorInfo)
  | undefined;
let matMulSource: unknown;

/**
 * The stock XNNPACK product: the `BatchMatMul` registered for wasm runs 2-D
 * non-transposed products of large operands on XNNPACK (the stock kernel
 * directly, or this project's wrapper, which calls it for such products).
 */
function product(): (
  b: BackendWasm,
  a: tf.TensorInfo,
  w: tf.TensorInfo,
) => tf.TensorInfo {
  const config = tf.getKernel("BatchMatMul", WASM);
  if (config === undefined) {
    throw new Error("the wasm backend has no 'BatchMatMul' kernel");
  }
  if (matMul === undefined || matMulSource !== config.kernelFunc) {
    matMul = stockMatMul(config.kernelFunc as unknown as WasmKernelFunc);
    matMulSource = config.kernelFunc;
  }
  return matMul;
}

/**
 * Stride-1, dilation-1 3x3 convolution of `x` [N, H, W, Cin] (NHWC,
 * float32) with `filter` [3, 3, Cin, Cout], zero-padded by `pads`, by
 * Winograd F(2x2,3x3): returns a fresh [N, H + top + bottom - 2,
 * W + left + right - 2, Cout] tensor the caller owns. Same result as the
 * `Conv2D` kernel with `strides: 1, dilations: 1` and explicit padding, to
 * float32 rounding (relative error ~1e-6).
 *
 * @throws {Error} when {@link canUseWinograd} rejects the arguments, the
 * inputs are not float32, or {@link winogradAvailable} is false.
 */
export function winogradConv3x3(
  backend: BackendWasm,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  pads: Pads,
  options: WinogradOptions = {},
): tf.TensorInfo {
  if (!canUseWinograd(x.shape, filter.shape, 1, 1, pads)) {
    throw new Error(
      `winogradConv3x3: unsupported x ${x.shape}, filter ${filter.shape}, ` +
        `pads ${JSON.stringify(pads)}`,
    );
  }
  if (x.dtype !== "float32" || filter.dtype !== "float32") {
    throw new Error("winogradConv3x3 supports float32 only");
  }
  const [n, h, w, cin] = x.shape;
  const cout = filter.shape[3];
  const oh = h + pads.top + pads.bottom - 2;
  const ow = w + pads.left + pads.right - 2;
  const th = (oh + 1) >> 1;
  const tw = (ow + 1) >> 1;
  const tiles = n * th * tw;
  const chunk = Math.max(
    1,
    Math.min(tiles, options.chunkTiles ?? DEFAULT_CHUNK_TILES),
  );
  const t = transforms(backend);
  const mm = product();

  const y = backend.makeOutput([n, oh, ow, cout], "float32");
  let u: tf.TensorInfo[] = [];
  const v: tf.TensorInfo[] = [];
  let table: tf.TensorInfo | undefined;
  let zero: tf.TensorInfo | undefined;
  try {
    u = filterTransform(backend, filter, cin, cout);
    for (let k = 0; k < 16; k++) {
      v.push(backend.makeOutput([chunk, cin], "float32"));
    }
    // [0, 16): V plane addresses; [16, 32): M plane addresses.
    table = backend.makeOutput([32], "int32");
    zero = backend.makeOutput([Math.max(4, cin)], "float32");
    backend.typedArrayFromHeap(zero).fill(0);
    const tableAddr = heapIndex(backend, table) << 2;
    const zeroAddr = heapIndex(backend, zero) << 2;
    const xAddr = heapIndex(backend, x) << 2;
    const yAddr = heapIndex(backend, y) << 2;
    const tableView = backend.typedArrayFromHeap(table) as Int32Array;
    for (let k = 0; k < 16; k++) tableView[k] = heapIndex(backend, v[k]) << 2;

    for (let t0 = 0; t0 < tiles; t0 += chunk) {
      const count = Math.min(chunk, tiles - t0);
      t.inputTransform(
        xAddr,
        tableAddr,
        zeroAddr,
        h,
        w,
        cin,
        pads.top,
        pads.left,
        th,
        tw,
        t0,
        count,
      );
      const m: tf.TensorInfo[] = [];
      try {
        for (let k = 0; k < 16; k++) {
          m.push(mm(backend, reshaped(v[k], [count, cin]), u[k]));
        }
        // Allocations may have grown (and so moved) the heap views.
        const mTable = backend.typedArrayFromHeap(table) as Int32Array;
        for (let k = 0; k < 16; k++) {
          mTable[16 + k] = heapIndex(backend, m[k]) << 2;
        }
        t.outputTransform(
          tableAddr + 64,
          yAddr,
          oh,
          ow,
          cout,
          th,
          tw,
          t0,
          count,
        );
      } finally {
        disposeAll(backend, ...m);
      }
    }
    return y;
  } catch (error) {
    disposeAll(backend, y);
    throw error;
  } finally {
    disposeAll(backend, ...u, ...v, table, zero);
  }
}

/** Default tiles per chunk of {@link winogradBackpropFilter3x3}. */
export const DEFAULT_GRAD_CHUNK_TILES = 128;

/**
 * The filter gradient of a stride-1, dilation-1 3x3 convolution by Winograd
 * F(2x2,3x3): `x` [N, H, W, Cin] and `dy` [N, OH, OW, Cout] (NHWC, float32,
 * OH = H + top + bottom - 2, OW likewise) give a fresh [3, 3, Cin, Cout]
 * tensor the caller owns, the `Conv2DBackpropFilter` of that convolution to
 * float32 rounding.
 *
 * With V[k] the input tiles transformed as in the forward pass (Bᵀ·d·B) and
 * D[k] the 2x2 `dy` tiles transformed by A·e·Aᵀ (4x4, zero past odd output
 * sizes), the 16 products Gw[k] = Σ_tiles D[k]ᵀ·V[k] ([Cout, Cin]) give
 * dW[:, :, ci, co] = Gᵀ·Gw[ci, co]·G. Tiles go through in chunks (V and D
 * stay in cache); the products are a WASM SIMD kernel (`gradProducts`,
 * register-blocked, accumulating in place) rather than XNNPACK, whose
 * packing of the tall per-chunk operand cost more than the product itself.
 *
 * @throws {Error} when {@link canUseWinograd} rejects the shapes, `dy` does
 * not fit them, the inputs are not float32, or {@link winogradAvailable} is
 * false.
 */
export function winogradBackpropFilter3x3(
  backend: BackendWasm,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  pads: Pads,
  options: WinogradOptions = {},
): tf.TensorInfo {
  const cout = dy.shape[3];
  const filterShape = [3, 3, x.shape[3], cout];
  if (
    dy.shape.length !== 4 ||
    !canUseWinograd(x.shape, filterShape, 1, 1, pads)
  ) {
    throw new Error(
      `winogradBackpropFilter3x3: unsupported x ${x.shape}, dy ${dy.shape}, ` +
        `pads ${JSON.stringify(pads)}`,
    );
  }
  if (x.dtype !== "float32" || dy.dtype !== "float32") {
    throw new Error("winogradBackpropFilter3x3 supports float32 only");
  }
  const [n, h, w, cin] = x.shape;
  const oh = h + pads.top + pads.bottom - 2;
  const ow = w + pads.left + pads.right - 2;
  if (dy.shape[0] !== n || dy.shape[1] !== oh || dy.shape[2] !== ow) {
    throw new Error(
      `winogradBackpropFilter3x3: dy ${dy.shape} does not fit x ${x.shape} ` +
        `with pads ${JSON.stringify(pads)}`,
    );
  }
  const th = (oh + 1) >> 1;
  const tw = (ow + 1) >> 1;
  const tiles = n * th * tw;
  const chunk = Math.max(
    1,
    Math.min(tiles, options.chunkTiles ?? DEFAULT_GRAD_CHUNK_TILES),
  );
  const t = transforms(backend);

  const out = backend.makeOutput(filterShape, "float32");
  const planes: tf.TensorInfo[] = [];
  let acc: tf.TensorInfo | undefined;
  let table: tf.TensorInfo | undefined;
  let zero: tf.TensorInfo | undefined;
  try {
    for (let k = 0; k < 16; k++) {
      planes.push(backend.makeOutput([chunk, cin], "float32")); // V[k]
    }
    for (let k = 0; k < 16; k++) {
      planes.push(backend.makeOutput([cout, chunk], "float32")); // D[k]
    }
    acc = backend.makeOutput([16, cout, cin], "float32"); // Gw[k]ᵀ
    backend.typedArrayFromHeap(acc).fill(0);
    // [0, 16): V plane addresses; [16, 32): D plane addresses.
    table = backend.makeOutput([32], "int32");
    zero = backend.makeOutput([Math.max(4, cin, cout)], "float32");
    backend.typedArrayFromHeap(zero).fill(0);
    const tableView = backend.typedArrayFromHeap(table) as Int32Array;
    for (let k = 0; k < 32; k++) {
      tableView[k] = heapIndex(backend, planes[k]) << 2;
    }
    const tableAddr = heapIndex(backend, table) << 2;
    const zeroAddr = heapIndex(backend, zero) << 2;
    const xAddr = heapIndex(backend, x) << 2;
    const dyAddr = heapIndex(backend, dy) << 2;
    const accAddr = heapIndex(backend, acc) << 2;

    for (let t0 = 0; t0 < tiles; t0 += chunk) {
      const count = Math.min(chunk, tiles - t0);
      t.inputTransform(
        xAddr,
        tableAddr,
        zeroAddr,
        h,
        w,
        cin,
        pads.top,
        pads.left,
        th,
        tw,
        t0,
        count,
      );
      t.dyTransform(
        dyAddr,
        tableAddr + 64,
        zeroAddr,
        oh,
        ow,
        cout,
        th,
        tw,
        t0,
        count,
      );
      t.gradProducts(tableAddr, tableAddr + 64, accAddr, cin, cout, count);
    }
    filterGradTransform(backend, acc, out, cin, cout);
    return out;
  } catch (error) {
    disposeAll(backend, out);
    throw error;
  } finally {
    disposeAll(backend, ...planes, acc, table, zero);
  }
}

/**
 * out[i][j][ci][co] = (Gᵀ·m·G)[i][j] with m[a][b] = acc[4a + b][co][ci] and
 * G = [[1,0,0],[½,½,½],[½,-½,½],[0,0,1]].
 */
function filterGradTransform(
  backend: BackendWasm,
  acc: tf.TensorInfo,
  out: tf.TensorInfo,
  cin: number,
  cout: number,
): void {
  const heap = heapF32(backend);
  const src = heapIndex(backend, acc);
  const dst = heapIndex(backend, out);
  const plane = cin * cout;
  const tt = new Float64Array(12); // Gᵀ·m: 3x4
  for (let co = 0; co < cout; co++) {
    for (let ci = 0; ci < cin; ci++) {
      const e = src + co * cin + ci;
      for (let b = 0; b < 4; b++) {
        const m0 = heap[e + b * plane];
        const m1 = heap[e + (4 + b) * plane];
        const m2 = heap[e + (8 + b) * plane];
        const m3 = heap[e + (12 + b) * plane];
        tt[b] = m0 + 0.5 * (m1 + m2);
        tt[4 + b] = 0.5 * (m1 - m2);
        tt[8 + b] = 0.5 * (m1 + m2) + m3;
      }
      const o = dst + ci * cout + co;
      for (let i = 0; i < 3; i++) {
        const a0 = tt[4 * i], a1 = tt[4 * i + 1];
        const a2 = tt[4 * i + 2], a3 = tt[4 * i + 3];
        heap[o + (3 * i) * plane] = a0 + 0.5 * (a1 + a2);
        heap[o + (3 * i + 1) * plane] = 0.5 * (a1 - a2);
        heap[o + (3 * i + 2) * plane] = 0.5 * (a1 + a2) + a3;
      }
    }
  }
}

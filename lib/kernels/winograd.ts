/**
 * Winograd convolution for the wasm backend: a stride-1, dilation-1, 3x3,
 * NHWC float32 convolution with arbitrary explicit (non-negative) padding,
 * as F(6x6,3x3) (5.1x fewer multiply-adds than direct convolution; the
 * default, but for one input channel), F(4x4,3x3) (4x fewer; a first
 * layer's default) or F(2x2,3x3) (2.25x fewer); smaller tiles round less.
 * It serves the forward `Conv2D` of 3x3 stride-1 layers; {@link
 * winogradBackpropInput3x3} computes the input gradient
 * (`Conv2DBackpropInput`) as its adjoint, and {@link
 * winogradBackpropFilter3x3} the filter gradient (`Conv2DBackpropFilter`)
 * the same way.
 *
 * Steps (a = m + 2 for F(m×m,3×3)): the filter transform U = G·g·Gᵀ (plain
 * JS in float64, a² planes [Cin, Cout]); the input transform V = Bᵀ·d·B over
 * a×a tiles at stride m (a² planes [tiles, Cin]); a² products M[k] =
 * V[k]·U[k] on the SIMD module's packed product (`simd/gemm.as.ts`); the
 * output transform Y = Aᵀ·M·A, partial tiles clipped. Tiles go through in chunks so
 * that V and M stay in cache. The transforms are part of the SIMD module
 * (`simd/`: generated from the matrices in `simd/tiles.ts` by
 * `simd/generate.ts` into `simd/winograd.as.ts`, compiled into `simd.wasm`
 * and, with relaxed SIMD fused multiply-add, `simd_fma.wasm`), loaded by
 * `simdKernels` from `simd/simd.ts`. Speed and error figures:
 * docs/kernels.md.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { canUseWinograd } from "./winograd.ts";
 * const pads = { top: 0, bottom: 0, left: 0, right: 0 };
 * // The tutorial's conv2: x [128, 26, 26, 32], filter [3, 3, 32, 64].
 * assert(canUseWinograd([128, 26, 26, 32], [3, 3, 32, 64], 1, 1, pads));
 * assert(!canUseWinograd([128, 26, 26, 32], [3, 3, 32, 64], 2, 1, pads));
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { type SimdKernels, simdKernels } from "./simd/simd.ts";
import { gemmTuning } from "./tuning.ts";
import { OUTER_TILES, TILES, type WinogradTile } from "./simd/tiles.ts";
import {
  allOnes,
  type ChunkedInput,
  disposeAll,
  heapF32,
  heapIndex,
} from "./wasm_util.ts";
import { PackedCache } from "./packed_cache.ts";

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

/** Tuning knobs of the Winograd kernels (defaults are measured best). */
export interface WinogradOptions {
  /** Tiles per chunk (V and M of one chunk should fit in cache). */
  chunkTiles?: number;
  /**
   * Output tile side: 2 for F(2x2,3x3), 4 for F(4x4,3x3), 6 for F(6x6,3x3)
   * (each fewer products, larger rounding error). Default: {@link
   * DEFAULT_TILE} for the kernel.
   */
  tile?: 2 | 4 | 6;
  /**
   * A bias added to every output (`[Cout]` float32), as the output
   * transform stores it: no second pass over the output.
   */
  bias?: tf.TensorInfo;
  /** ReLU on every output (after the bias), as the output is stored. */
  relu?: boolean;
  /**
   * Bytes between consecutive transform planes beyond their size (default
   * {@link PLANE_SKEW}).
   */
  planeSkew?: number;
  /**
   * A 2x2, stride-2, valid max pool of the result (after bias and ReLU), in
   * the output transform: only the pooled `[N, ⌊OH/2⌋, ⌊OW/2⌋, Cout]` is
   * stored, bit for bit the `MaxPool` of the unpooled output.
   */
  pool?: boolean;
  /**
   * With `pool` and `relu`, F(6×6) only ({@link canPoolCodes}): an int32
   * tensor shaped as the pooled output that receives each window's code for
   * the gradient, {@link winogradBackpropPooled3x3}'s input.
   */
  codes?: tf.TensorInfo;
  /**
   * With `codes`: dropout's mask (float32, the pooled shape), multiplying
   * the pooled output as it is stored. In {@link winogradBackpropPooled3x3},
   * the same mask on the pooled gradient.
   */
  mask?: tf.TensorInfo;
  /**
   * {@link winogradBackpropPooled3x3}: called after each chunk of tiles with
   * dx, whose first image is image `at`, and the number of leading images
   * whose dx is complete, `to` (a first layer's gradients fused in, dx read
   * in cache). dx is then not returned; where whole images make a chunk, it
   * is a buffer of one chunk's images, reused, that never leaves the cache.
   */
  after?: (dx: tf.TensorInfo, at: number, to: number) => void;
  /**
   * Run the relaxed SIMD build (`f32x4.relaxed_madd`, fused where the CPU has
   * FMA). Default: where `relaxedSimdSupported()` (`simd/simd.ts`); `true`
   * throws where
   * it is not.
   */
  fma?: boolean;
}

/**
 * Default output tile side per kernel, chosen by measured speed and error
 * (docs/kernels.md): `conv` for {@link winogradConv3x3} (the forward pass
 * and, through the `Conv2D` kernel, the input gradient), `filterGrad` for
 * {@link winogradBackpropFilter3x3} and {@link winogradBackprop3x3},
 * `firstLayer` for a forward pass with one input channel (F(6×6) has no
 * transform for it).
 */
export const DEFAULT_TILE: Readonly<
  Record<"conv" | "filterGrad" | "firstLayer", 2 | 4 | 6>
> = {
  conv: 6,
  filterGrad: 6,
  firstLayer: 4,
};

/**
 * Default tiles per chunk of {@link winogradConv3x3}, per tile side: F(6×6)
 * 96, 16 of the products' register blocks of 5 rows and 4 of 4.
 */
export const DEFAULT_CHUNK_TILES: Readonly<Record<2 | 4 | 6, number>> = {
  2: 512,
  4: 256,
  6: 96,
};

/** One tile size's three transforms. */
interface TileKernels {
  input: SimdKernels["inputTransform2"];
  output: SimdKernels["outputTransform2"];
  outputPool: SimdKernels["outputTransform2"];
  outputOuter?: SimdKernels["outputTransformOuter2"];
  dy: SimdKernels["dyTransform2"];
  inputGrad: SimdKernels["inputGradTransform2"];
  /** F(6×6) only: the pooled training forward and its dy transform. */
  outputPoolCodes?: SimdKernels["outputTransformPoolCodes6"];
  dyPool?: SimdKernels["dyPoolTransform6"];
}

function tileKernels(t: SimdKernels, m: 2 | 4 | 6): TileKernels {
  const k = m === 2 ? "2" : m === 4 ? "4" : "6";
  return {
    input: t[`inputTransform${k}`],
    output: t[`outputTransform${k}`],
    outputPool: t[`outputTransformPool${k}`],
    outputOuter: m === 6
      ? undefined
      : t[`outputTransformOuter${k as "2" | "4"}`],
    dy: t[`dyTransform${k}`],
    inputGrad: t[`inputGradTransform${k}`],
    outputPoolCodes: m === 6 ? t.outputTransformPoolCodes6 : undefined,
    dyPool: m === 6 ? t.dyPoolTransform6 : undefined,
  };
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
  if (dataFormat !== "NHWC" || !allOnes(strides) || !allOnes(dilations)) {
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
 * 16/16 1.16x, 16/32 1.36x, 32/32 1.56x, 32/64 1.75x, 64/64 1.9x. The filter
 * gradient routes by this rule; forward convolutions by
 * {@link winogradForwardProfitable}.
 */
export function winogradProfitable(filterShape: readonly number[]): boolean {
  return filterShape[2] >= 16 && filterShape[3] >= 16;
}

/**
 * Whether a forward convolution ({@link winogradConv3x3}: `Conv2D`,
 * `FusedConv2D`, the input gradient) with a [3, 3, Cin, Cout] filter runs
 * as Winograd: {@link winogradProfitable}, or one input channel and at
 * least 8 output channels, whose products the output transform forms as
 * it loads them (no product pass, no M planes). Against XNNPACK on
 * x[128,28,28,1], one thread, F(4×4): Cout 8 1.3x, 16 1.4x, 32 1.5x.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { winogradForwardProfitable, winogradProfitable } from "./winograd.ts";
 * assert(winogradForwardProfitable([3, 3, 1, 32])); // conv1
 * assert(!winogradProfitable([3, 3, 1, 32])); // its filter gradient: direct
 * ```
 */
export function winogradForwardProfitable(
  filterShape: readonly number[],
): boolean {
  return winogradProfitable(filterShape) ||
    (filterShape[2] === 1 && filterShape[3] >= 8);
}

/**
 * How {@link filterTransform} lays U out: `"products"`, the SIMD product's
 * packed right operands, a² planes of ⌈Cout/8⌉ panels of [Cin, 8] (zero
 * past Cout); `"outer"` (one input channel, for the output transform that
 * forms the products itself), [⌈Cout/4⌉][a²][4]; `"transposed"` (the input
 * gradient's products D[k]·U[k]ᵀ), a² planes of ⌈Cin/8⌉ panels of [Cout,
 * 8] (zero past Cin).
 */
type FilterLayout = "products" | "outer" | "transposed";

/**
 * U[k][ci][co] for k = a·i + j (a = m + 2): (G·g·Gᵀ)[i][j] of the 3x3
 * filter slice g = filter[:, :, ci, co], written at byte address `address`
 * as `layout` says: by `kernels`' SIMD transform (`filter.as.ts`, float32)
 * when Cout is a multiple of 4, else here in float64.
 */
function filterTransform(
  backend: BackendWasm,
  filter: tf.TensorInfo,
  tile: WinogradTile,
  cin: number,
  cout: number,
  address: number,
  layout: FilterLayout,
  kernels: SimdKernels,
): void {
  const G = tile.g;
  const a = G.length;
  const plane = cin * cout; // stride between filter taps
  const outer = layout === "outer", transposed = layout === "transposed";
  // Between packed planes.
  const padded = transposed
    ? cout * Math.ceil(cin / 8) * 8
    : cin * Math.ceil(cout / 8) * 8;
  const heap = heapF32(backend);
  const u = address >>> 2;
  // Lanes past Cout (Cin when transposed) stay zero.
  heap.fill(0, u, u + transformBytes(tile, cin, cout, layout) / 4);
  if (cout % 4 === 0) {
    withG(backend, tile, (g) =>
      kernels.filterTransform(
        4 * heapIndex(backend, filter),
        address,
        g,
        a,
        cin,
        cout,
        outer ? 2 : transposed ? 1 : 0,
        padded,
      ));
    return;
  }
  const g = heapIndex(backend, filter);
  const w = new Float64Array(9);
  const gw = new Float64Array(3 * a); // G·g: a×3
  for (let ci = 0; ci < cin; ci++) {
    for (let co = 0; co < cout; co++) {
      const e = ci * cout + co;
      for (let k = 0; k < 9; k++) w[k] = heap[g + k * plane + e];
      for (let i = 0; i < a; i++) {
        for (let c = 0; c < 3; c++) {
          gw[3 * i + c] = G[i][0] * w[c] + G[i][1] * w[3 + c] +
            G[i][2] * w[6 + c];
        }
      }
      // Panel co >> 3, row ci, lane co & 7; or group co >> 2, lane co & 3;
      // or transposed, panel ci >> 3, row co, lane ci & 7.
      const at = outer
        ? u + (co >> 2) * a * a * 4 + (co & 3)
        : transposed
        ? u + (ci >> 3) * cout * 8 + co * 8 + (ci & 7)
        : u + (co >> 3) * cin * 8 + ci * 8 + (co & 7);
      const step = outer ? 4 : padded; // between k and k + 1
      for (let i = 0; i < a; i++) {
        const r0 = gw[3 * i], r1 = gw[3 * i + 1], r2 = gw[3 * i + 2];
        for (let j = 0; j < a; j++) {
          heap[at + (a * i + j) * step] = r0 * G[j][0] + r1 * G[j][1] +
            r2 * G[j][2];
        }
      }
    }
  }
}

/**
 * The byte address of `filter`'s transform in `layout`, made by
 * {@link filterTransform} on the first call for this filter's data and kept
 * in {@link transformedFilters}.
 */
function transformedFilter(
  backend: BackendWasm,
  filter: tf.TensorInfo,
  tile: WinogradTile,
  cin: number,
  cout: number,
  layout: FilterLayout,
  kernels: SimdKernels,
): number {
  return transformedFilters.get(
    backend,
    filter.dataId,
    `F${tile.m}${layout === "products" ? "" : ` ${layout}`} ${filter.shape}`,
    transformBytes(tile, cin, cout, layout),
    (at) =>
      filterTransform(backend, filter, tile, cin, cout, at, layout, kernels),
  );
}

/**
 * Runs `f` with the byte address of `tile`'s G (a×3, row-major float32) in
 * the heap, for the SIMD filter transforms.
 */
function withG(
  backend: BackendWasm,
  tile: WinogradTile,
  f: (g: number) => void,
): void {
  const info = backend.makeOutput([tile.g.length * 3], "float32");
  try {
    const at = heapIndex(backend, info);
    heapF32(backend).set(tile.g.flat(), at);
    f(4 * at);
  } finally {
    backend.disposeData(info.dataId);
  }
}

/**
 * Bytes between consecutive V (and M) planes of {@link winogradConv3x3}
 * beyond a plane's size. The transforms touch all a² planes at one tile
 * (36 streams for F(4×4)); planes a multiple of 4 KB apart would share L1
 * sets. 17 cache lines: the pooled output transform of conv2's 4608 tiles
 * 2.96 ms against 4.32 with planes 64 KB apart and 3.28 with the 48 bytes
 * that separate the allocator's consecutive blocks (docs/kernels.md).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PLANE_SKEW } from "./winograd.ts";
 * assertEquals(PLANE_SKEW % 64, 0); // whole cache lines
 * ```
 */
export const PLANE_SKEW = 17 * 64;

function align(bytes: number, to: number): number {
  return Math.ceil(bytes / to) * to;
}

/** Bytes of a filter's transform as {@link filterTransform} packs it. */
function transformBytes(
  tile: WinogradTile,
  cin: number,
  cout: number,
  layout: FilterLayout = "products",
): number {
  return 4 * tile.g.length ** 2 *
    (layout === "outer"
      ? Math.ceil(cout / 4) * 4
      : layout === "transposed"
      ? cout * Math.ceil(cin / 8) * 8
      : cin * Math.ceil(cout / 8) * 8);
}

/**
 * Transformed filters kept for the next call with the same filter data (a
 * model's weights at inference: the same tensor every batch), keyed by
 * data id, shape and tile; a filter that changed is new data, transformed
 * afresh (see `packed_cache.ts`).
 */
const transformedFilters = new PackedCache(32 << 20);

/** Tiles over an OH×OW output for tile side m: [rows, columns]. */
function tileGrid(oh: number, ow: number, m: number): [number, number] {
  return [Math.ceil(oh / m), Math.ceil(ow / m)];
}

/**
 * Tiles per chunk: `wanted` (at least 1, at most `tiles`). For a {@link
 * ChunkedInput}, the same where each chunk's images fit its `capacity`
 * (then the same bits as from a stored input), else as many whole images
 * as it holds.
 */
function chunkFor(
  x: tf.TensorInfo | ChunkedInput | undefined,
  imageTiles: number,
  tiles: number,
  wanted: number,
): number {
  let chunk = Math.max(1, wanted);
  if (x !== undefined && "images" in x) {
    const reach = chunk % imageTiles === 0
      ? chunk / imageTiles
      : Math.ceil(chunk / imageTiles) + 1;
    if (reach > x.capacity) {
      chunk =
        Math.min(Math.max(1, Math.round(chunk / imageTiles)), x.capacity) *
        imageTiles;
    }
  }
  return Math.min(tiles, chunk);
}

/**
 * Where a chunk's tiles `[t0, t0 + count)` read their input: `[address,
 * first image]`, x's own data from image 0, or a {@link ChunkedInput}'s
 * images the chunk reaches, produced now.
 */
function source(
  x: tf.TensorInfo | ChunkedInput,
  xAddr: number,
  imageTiles: number,
  t0: number,
  count: number,
): [number, number] {
  if (!("images" in x)) return [xAddr, 0];
  const first = Math.floor(t0 / imageTiles);
  return [x.images(first, Math.ceil((t0 + count) / imageTiles)), first];
}

function tileOf(options: WinogradOptions, fallback: 2 | 4 | 6): WinogradTile {
  const m = options.tile ?? fallback;
  const tile = TILES[m];
  if (tile === undefined) {
    throw new RangeError(`winograd: tile must be 2, 4 or 6, got ${m}`);
  }
  return tile;
}

/**
 * Stride-1, dilation-1 3x3 convolution of `x` [N, H, W, Cin] (NHWC,
 * float32) with `filter` [3, 3, Cin, Cout], zero-padded by `pads`, by
 * Winograd F(m×m,3×3) (`options.tile`, default {@link DEFAULT_TILE}
 * `.conv`): returns a fresh [N, H + top + bottom - 2, W + left + right -
 * 2, Cout] tensor the caller owns (with `options.pool`, both sides halved,
 * rounded down). Same result as the `Conv2D` kernel with `strides: 1,
 * dilations: 1` and explicit padding, to float32 rounding (error figures in
 * docs/kernels.md). `x` may be a {@link ChunkedInput}, produced as each
 * chunk of tiles reaches its images (at most `capacity` images a chunk:
 * chunks are then whole images where the capacity allows).
 *
 * @throws {RangeError} when {@link canUseWinograd} rejects the arguments.
 * @throws {TypeError} when the inputs are not float32, or `simdAvailable` is
 * false.
 */
export function winogradConv3x3(
  backend: BackendWasm,
  x: tf.TensorInfo | ChunkedInput,
  filter: tf.TensorInfo,
  pads: Pads,
  options: WinogradOptions = {},
): tf.TensorInfo {
  if (!canUseWinograd(x.shape, filter.shape, 1, 1, pads)) {
    throw new RangeError(
      `winogradConv3x3: unsupported x ${x.shape}, filter ${filter.shape}, ` +
        `pads ${JSON.stringify(pads)}`,
    );
  }
  if (x.dtype !== "float32" || filter.dtype !== "float32") {
    throw new TypeError("winogradConv3x3 supports float32 only");
  }
  const { bias } = options;
  if (
    bias !== undefined &&
    (bias.dtype !== "float32" || bias.shape.length !== 1 ||
      bias.shape[0] !== filter.shape[3])
  ) {
    throw new RangeError(
      `winogradConv3x3: bias ${bias.shape} (${bias.dtype}) does not fit ` +
        `${filter.shape[3]} output channels`,
    );
  }
  const [n, h, w, cin] = x.shape;
  // One input channel (a first layer): the products are one multiply per
  // value, formed by the output transform as it loads them (no M planes).
  const outer = cin === 1 && options.pool !== true;
  // A first layer's pass keeps one tile size with and without the pool, so
  // that the fused pooled kernel equals the two kernels bit for bit.
  const tile = tileOf(
    options,
    cin === 1 ? DEFAULT_TILE.firstLayer : DEFAULT_TILE.conv,
  );
  if (outer && !OUTER_TILES.includes(tile.m)) {
    throw new RangeError(
      `winogradConv3x3: F(${tile.m}x${tile.m}) has no one-input-channel ` +
        `transform (tiles ${OUTER_TILES.join(", ")} do)`,
    );
  }
  const planes = (tile.m + 2) ** 2;
  const cout = filter.shape[3];
  const oh = h + pads.top + pads.bottom - 2;
  const ow = w + pads.left + pads.right - 2;
  const [th, tw] = tileGrid(oh, ow, tile.m);
  const tiles = n * th * tw;
  const chunk = chunkFor(
    x,
    th * tw,
    tiles,
    options.chunkTiles ?? DEFAULT_CHUNK_TILES[tile.m],
  );
  const all = simdKernels(backend, options.fma);
  const t = tileKernels(all, tile.m);
  const { rows } = gemmTuning(backend, options.fma).chosen;

  const pool = options.pool === true;
  const pooledShape = [n, oh >> 1, ow >> 1, cout];
  const { codes, mask } = options;
  if (
    codes !== undefined &&
    (!pool || options.relu !== true || t.outputPoolCodes === undefined ||
      codes.dtype !== "int32" ||
      !tf.util.arraysEqual(codes.shape, pooledShape))
  ) {
    throw new RangeError(
      `winogradConv3x3: codes ${codes.shape} (${codes.dtype}) need pool, ` +
        `relu, F(6x6) and an int32 [${pooledShape}]`,
    );
  }
  checkMask("winogradConv3x3", mask, pooledShape, codes);
  const y = backend.makeOutput(
    pool ? pooledShape : [n, oh, ow, cout],
    "float32",
  );
  const addr = (t: tf.TensorInfo | undefined) =>
    t === undefined ? 0 : heapIndex(backend, t) << 2;
  const [codesAddr, maskAddr] = [codes, mask].map(addr);
  // Set below: cout ones after the zeros' buffer, the mask's stand-in.
  let onesAddr = 0;
  const output: SimdKernels["outputTransform2"] = codes === undefined
    ? pool ? t.outputPool : t.output
    : (mTable, y, oh, ow, c, th, tw, t0, count, bias) =>
      t.outputPoolCodes!(
        mTable,
        y,
        codesAddr,
        maskAddr,
        onesAddr,
        oh,
        ow,
        c,
        th,
        tw,
        t0,
        count,
        bias,
      );
  let planeBuf: tf.TensorInfo | undefined;
  let table: tf.TensorInfo | undefined;
  let zero: tf.TensorInfo | undefined;
  try {
    const uAddr = transformedFilter(
      backend,
      filter,
      tile,
      cin,
      cout,
      outer ? "outer" : "products",
      all,
    );
    // V[k] ([chunk, cin]) then M[k] ([chunk, cout]) in one buffer, planes
    // `skew` bytes more than their size apart.
    const skew = options.planeSkew ?? PLANE_SKEW;
    const vStride = align(chunk * cin * 4 + skew, 16);
    const mStride = outer ? 0 : align(chunk * cout * 4 + skew, 16);
    planeBuf = backend.makeOutput(
      [(planes * (vStride + mStride) + 64) / 4],
      "float32",
    );
    const base = align(heapIndex(backend, planeBuf) << 2, 64);
    // [0, planes): V plane addresses; [planes, 2·planes): M plane addresses.
    table = backend.makeOutput([2 * planes], "int32");
    // Zeros past the input's edges, a block of V's rows packed for the
    // products, then cout ones (the codes' kernel's mask where there is none).
    const width = Math.max(4, cin, cout);
    zero = backend.makeOutput([width + 8 * cin + cout], "float32");
    backend.typedArrayFromHeap(zero).fill(0).fill(1, width + 8 * cin);
    const tableView = backend.typedArrayFromHeap(table) as Int32Array;
    for (let k = 0; k < planes; k++) {
      tableView[k] = base + k * vStride;
      tableView[planes + k] = base + planes * vStride + k * mStride;
    }
    const tableAddr = heapIndex(backend, table) << 2;
    const zeroAddr = heapIndex(backend, zero) << 2;
    onesAddr = zeroAddr + 4 * (width + 8 * cin);
    const xAddr = "images" in x ? 0 : heapIndex(backend, x) << 2;
    const yAddr = heapIndex(backend, y) << 2;
    const biasAddr = options.bias === undefined
      ? zeroAddr
      : heapIndex(backend, options.bias) << 2;
    const relu = options.relu ? 1 : 0;

    for (let t0 = 0; t0 < tiles; t0 += chunk) {
      const count = Math.min(chunk, tiles - t0);
      const [from, first] = source(x, xAddr, th * tw, t0, count);
      t.input(
        from,
        tableAddr,
        zeroAddr,
        h,
        w,
        cin,
        pads.top,
        pads.left,
        th,
        tw,
        t0 - first * th * tw,
        count,
      );
      if (outer) {
        t.outputOuter!(
          tableAddr,
          uAddr,
          yAddr,
          oh,
          ow,
          cout,
          th,
          tw,
          t0,
          count,
          biasAddr,
          relu,
        );
        continue;
      }
      all.planeProducts(
        tableAddr,
        uAddr,
        tableAddr + 4 * planes,
        count,
        cin,
        cout,
        planes,
        rows,
        zeroAddr + 4 * width,
      );
      output(
        tableAddr + 4 * planes,
        yAddr,
        oh,
        ow,
        cout,
        th,
        tw,
        t0,
        count,
        biasAddr,
        relu,
      );
    }
    return y;
  } catch (error) {
    disposeAll(backend, y);
    throw error;
  } finally {
    disposeAll(backend, planeBuf, table, zero);
  }
}

/**
 * The input gradient (`Conv2DBackpropInput`) of a stride-1, dilation-1 3x3
 * convolution by the adjoint of Winograd F(m×m,3×3) (`options.tile`,
 * default {@link DEFAULT_TILE}`.conv`): `dy` [N, OH, OW, Cout] and `filter`
 * [3, 3, Cin, Cout] give a fresh [N, H, W, Cin] tensor the caller owns, where
 * the forward convolution had input [N, H, W, Cin] padded by `pads` (OH = H
 * + top + bottom - 2, OW likewise).
 *
 * The forward pass computes each output tile as Aᵀ·[U ⊙ (Bᵀ·d·B)]·A; its
 * adjoint takes each m×m tile of `dy` to D[k] = A·e·Aᵀ (as the filter
 * gradient does), forms the a² products P[k] = D[k]·U[k]ᵀ ([tiles, Cin])
 * and adds B·P·Bᵀ into the input patch the tile read. The tiles are those
 * of the forward output, so `dy` is never padded: conv2's 24×24 `dy` has
 * 36 tiles an image, where the convolution of `dy` padded by 2 with the
 * flipped filter has 49.
 *
 * @throws {RangeError} when {@link canUseWinograd} rejects the forward
 * shapes or `dy` does not fit them.
 * @throws {TypeError} when the inputs are not float32, or `simdAvailable` is
 * false.
 */
export function winogradBackpropInput3x3(
  backend: BackendWasm,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  inShape: readonly number[],
  pads: Pads,
  options: WinogradOptions = {},
): tf.TensorInfo {
  if (filter.shape.length !== 4 || filter.shape[3] !== dy.shape[3]) {
    throw new RangeError(
      `winogradBackpropInput3x3: filter ${filter.shape} does not fit dy ` +
        `${dy.shape}`,
    );
  }
  checkBackward("winogradBackpropInput3x3", inShape, dy, pads, filter);
  const { dx } = backward(backend, dy, inShape, pads, options, {
    filter,
    chunk: DEFAULT_CHUNK_TILES,
    tile: DEFAULT_TILE.conv,
  });
  return dx!;
}

/**
 * Default tiles per chunk of {@link winogradBackpropFilter3x3}, per tile
 * side.
 */
export const DEFAULT_GRAD_CHUNK_TILES: Readonly<Record<2 | 4 | 6, number>> = {
  2: 128,
  4: 64,
  6: 48,
};

/**
 * The filter gradient of a stride-1, dilation-1 3x3 convolution by Winograd
 * F(m×m,3×3) (`options.tile`, default {@link DEFAULT_TILE}`.filterGrad`):
 * `x` [N, H, W, Cin] and `dy` [N, OH, OW, Cout] (NHWC, float32, OH = H +
 * top + bottom - 2, OW likewise) give a fresh [3, 3, Cin, Cout] tensor the
 * caller owns, the `Conv2DBackpropFilter` of that convolution to float32
 * rounding.
 *
 * With V[k] the input tiles transformed as in the forward pass (Bᵀ·d·B) and
 * D[k] the m×m `dy` tiles transformed by A·e·Aᵀ ((m+2)², zero past the
 * output's edge), the (m+2)² products Gw[k] = Σ_tiles D[k]ᵀ·V[k] ([Cout,
 * Cin]) give dW[:, :, ci, co] = Gᵀ·Gw[ci, co]·G. Tiles go through in chunks
 * (V and D stay in cache); the products are a WASM SIMD kernel
 * (`gradProducts`, register-blocked, accumulating in place) rather than
 * XNNPACK, whose packing of the tall per-chunk operand cost more than the
 * product itself.
 *
 * @throws {RangeError} when {@link canUseWinograd} rejects the shapes or
 * `dy` does not fit them.
 * @throws {TypeError} when the inputs are not float32, or `simdAvailable` is
 * false.
 */
export function winogradBackpropFilter3x3(
  backend: BackendWasm,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  pads: Pads,
  options: WinogradOptions = {},
): tf.TensorInfo {
  checkBackward("winogradBackpropFilter3x3", x.shape, dy, pads, x);
  const { dw } = backward(backend, dy, x.shape, pads, options, {
    x,
    chunk: DEFAULT_GRAD_CHUNK_TILES,
    tile: DEFAULT_TILE.filterGrad,
  });
  return dw!;
}

/**
 * Both gradients of a stride-1, dilation-1 3x3 convolution in one pass over
 * `dy`'s tiles: its input gradient as {@link winogradBackpropInput3x3} and
 * its filter gradient as {@link winogradBackpropFilter3x3}, which transform
 * the same `dy` tiles (D = A·e·Aᵀ): transformed once here, each chunk's D
 * feeds both products while it is in cache. `x` [N, H, W, Cin], `dy` [N,
 * OH, OW, Cout], `filter` [3, 3, Cin, Cout]; returns fresh tensors the
 * caller owns.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
 * import { assert } from "@std/assert";
 * import { initBackend } from "../backend.ts";
 * import { winogradBackprop3x3 } from "./winograd.ts";
 * await initBackend();
 * const backend = tf.backend() as BackendWasm;
 * const x = tf.randomNormal([2, 6, 6, 16]) as tf.Tensor4D;
 * const dy = tf.randomNormal([2, 4, 4, 16]) as tf.Tensor4D;
 * const f = tf.randomNormal([3, 3, 16, 16]) as tf.Tensor4D;
 * const pads = { top: 0, bottom: 0, left: 0, right: 0 };
 * const got = winogradBackprop3x3(backend, x, dy, f, pads);
 * // Against tfjs's own gradients of the convolution, on the same backend.
 * const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
 *   tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, "valid"), dy))
 * )([x, f]);
 * for (const [want, info] of [[dx, got.dx], [dw, got.filter]] as const) {
 *   const have = tf.engine().makeTensorFromTensorInfo(info);
 *   const err = tf.max(tf.abs(tf.sub(want, have))).dataSync()[0];
 *   assert(err < 1e-4 * tf.max(tf.abs(want)).dataSync()[0]);
 * }
 * ```
 *
 * @throws {RangeError} when {@link canUseWinograd} rejects the shapes or
 * `dy` or `filter` does not fit them.
 * @throws {TypeError} when the inputs are not float32, or `simdAvailable` is
 * false.
 */
export function winogradBackprop3x3(
  backend: BackendWasm,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  pads: Pads,
  options: WinogradOptions = {},
): { dx: tf.TensorInfo; filter: tf.TensorInfo } {
  const fits = filter.shape.length === 4 && filter.shape[2] === x.shape[3] &&
    filter.shape[3] === dy.shape[3];
  if (!fits) {
    throw new RangeError(
      `winogradBackprop3x3: filter ${filter.shape} does not fit x ${x.shape} ` +
        `and dy ${dy.shape}`,
    );
  }
  checkBackward("winogradBackprop3x3", x.shape, dy, pads, x, filter);
  const { dx, dw } = backward(backend, dy, x.shape, pads, options, {
    x,
    filter,
    chunk: DEFAULT_GRAD_CHUNK_TILES,
    tile: DEFAULT_TILE.filterGrad,
  });
  return { dx: dx!, filter: dw! };
}

/** Throws unless `mask` is absent, or float32 of `shape` with `codes`. */
function checkMask(
  name: string,
  mask: tf.TensorInfo | undefined,
  shape: readonly number[],
  codes: tf.TensorInfo | undefined,
): void {
  if (mask === undefined) return;
  if (
    codes === undefined || mask.dtype !== "float32" ||
    !tf.util.arraysEqual(mask.shape, [...shape])
  ) {
    throw new RangeError(
      `${name}: a mask ${mask.shape} (${mask.dtype}) needs codes and a ` +
        `float32 [${shape}]`,
    );
  }
}

/**
 * Whether a convolution's pooled training pass can run on codes: {@link
 * winogradConv3x3} with `pool`, `relu` and `codes`, then {@link
 * winogradBackpropPooled3x3}. Shapes as {@link canUseWinograd} takes them,
 * more than one input channel (F(6×6), whose 6×6 tiles hold whole pool
 * windows) and an output of at least 2×2.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { canPoolCodes } from "./winograd.ts";
 * const pads = { top: 0, bottom: 0, left: 0, right: 0 };
 * assert(canPoolCodes([128, 26, 26, 32], [3, 3, 32, 64], pads)); // conv2
 * assert(!canPoolCodes([128, 28, 28, 1], [3, 3, 1, 32], pads)); // conv1
 * ```
 */
export function canPoolCodes(
  xShape: readonly number[],
  filterShape: readonly number[],
  pads: Pads,
): boolean {
  if (!canUseWinograd(xShape, filterShape, 1, 1, pads)) return false;
  const oh = xShape[1] + pads.top + pads.bottom - 2;
  const ow = xShape[2] + pads.left + pads.right - 2;
  return xShape[3] > 1 && oh >= 2 && ow >= 2;
}

/**
 * The three gradients of a 3x3 convolution (stride 1) with bias, whose ReLU
 * output was max-pooled 2x2 (stride 2) by {@link winogradConv3x3} with
 * `codes`: from the pooled gradient `dyp` [N, ⌊OH/2⌋, ⌊OW/2⌋, Cout] and
 * those codes, the input's, the filter's and the bias's, in one pass over
 * the tiles (F(6×6)). Equal to the pool's and the ReLU's gradients
 * (`MnistCnnPoolReluGrad`) then {@link winogradBackprop3x3}, the bias's
 * float64 sums added in another order; the convolution's output gradient
 * is never formed. Returns fresh tensors the caller owns.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
 * import { assert } from "@std/assert";
 * import { initBackend } from "../backend.ts";
 * import { winogradBackpropPooled3x3, winogradConv3x3 } from "./winograd.ts";
 * await initBackend();
 * const backend = tf.backend() as BackendWasm;
 * const x = tf.randomNormal([2, 8, 8, 8], 0, 1, "float32", 1);
 * const f = tf.randomNormal([3, 3, 8, 4], 0, 1, "float32", 2);
 * const b = tf.randomNormal([4], 0, 1, "float32", 3);
 * const dyp = tf.randomNormal([2, 3, 3, 4], 0, 1, "float32", 4);
 * const pads = { top: 0, bottom: 0, left: 0, right: 0 };
 * const codes = backend.makeOutput([2, 3, 3, 4], "int32");
 * const z = winogradConv3x3(backend, x, f, pads, { bias: b, relu: true, pool: true, codes });
 * const got = winogradBackpropPooled3x3(backend, x, dyp, codes, f, pads);
 * // Against tfjs's own gradients of conv, bias, ReLU and pool.
 * const want = tf.grads((a: tf.Tensor, w: tf.Tensor, c: tf.Tensor) => {
 *   const y = tf.relu(tf.add(tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, 1, "valid"), c));
 *   return tf.sum(tf.mul(tf.maxPool(y as tf.Tensor4D, 2, 2, "valid"), dyp));
 * })([x, f, b]);
 * [got.dx, got.filter, got.bias].forEach((info, i) => {
 *   const have = tf.engine().makeTensorFromTensorInfo(info);
 *   const err = tf.max(tf.abs(tf.sub(want[i], have))).dataSync()[0];
 *   assert(err < 1e-4 * tf.max(tf.abs(want[i])).dataSync()[0], `gradient ${i}`);
 * });
 * backend.disposeData(codes.dataId);
 * backend.disposeData(z.dataId);
 * ```
 *
 * @throws {RangeError} when {@link canPoolCodes} rejects the shapes or
 * `dyp`, `codes` or `filter` does not fit them.
 * @throws {TypeError} when the inputs are not float32 (codes int32), or
 * `simdAvailable` is false.
 */
export function winogradBackpropPooled3x3(
  backend: BackendWasm,
  x: tf.TensorInfo | ChunkedInput,
  dyp: tf.TensorInfo,
  codes: tf.TensorInfo,
  filter: tf.TensorInfo,
  pads: Pads,
  options?: WinogradOptions & { after?: undefined },
): { dx: tf.TensorInfo; filter: tf.TensorInfo; bias: tf.TensorInfo };
/** With `options.after`, which receives dx a chunk at a time: no dx. */
export function winogradBackpropPooled3x3(
  backend: BackendWasm,
  x: tf.TensorInfo | ChunkedInput,
  dyp: tf.TensorInfo,
  codes: tf.TensorInfo,
  filter: tf.TensorInfo,
  pads: Pads,
  options: WinogradOptions,
): { dx?: undefined; filter: tf.TensorInfo; bias: tf.TensorInfo };
export function winogradBackpropPooled3x3(
  backend: BackendWasm,
  x: tf.TensorInfo | ChunkedInput,
  dyp: tf.TensorInfo,
  codes: tf.TensorInfo,
  filter: tf.TensorInfo,
  pads: Pads,
  options: WinogradOptions = {},
): { dx?: tf.TensorInfo; filter: tf.TensorInfo; bias: tf.TensorInfo } {
  const [n, h, w, cin] = x.shape;
  const cout = filter.shape[3];
  const oh = h + pads.top + pads.bottom - 2,
    ow = w + pads.left + pads.right - 2;
  const pooledShape = [n, oh >> 1, ow >> 1, cout];
  if (
    filter.shape.length !== 4 || !canPoolCodes(x.shape, filter.shape, pads) ||
    filter.shape[2] !== cin || !tf.util.arraysEqual(dyp.shape, pooledShape) ||
    !tf.util.arraysEqual(codes.shape, pooledShape)
  ) {
    throw new RangeError(
      `winogradBackpropPooled3x3: x ${x.shape}, filter ${filter.shape}, ` +
        `dy ${dyp.shape} and codes ${codes.shape} do not fit`,
    );
  }
  checkMask("winogradBackpropPooled3x3", options.mask, pooledShape, codes);
  if (
    [x, dyp, filter].some((t) => t.dtype !== "float32") ||
    codes.dtype !== "int32"
  ) {
    throw new TypeError(
      "winogradBackpropPooled3x3 supports float32 (codes int32) only",
    );
  }
  // The bias's float64 sums (2 floats each, 8-byte aligned).
  const acc = backend.makeOutput([2 * cout + 1], "float32");
  try {
    const at = (heapIndex(backend, acc) + 1) & ~1;
    heapF32(backend).fill(0, at, at + 2 * cout);
    const { dx, dw } = backward(backend, dyp, x.shape, pads, {
      ...options,
      tile: 6,
    }, {
      x,
      filter,
      chunk: DEFAULT_GRAD_CHUNK_TILES,
      tile: 6,
      pooled: { codes, mask: options.mask, oh, ow, bsum: at * 4 },
    });
    const bias = backend.makeOutput([cout], "float32");
    const heap = heapF32(backend);
    heap.set(
      new Float64Array(heap.buffer, at * 4, cout),
      heapIndex(backend, bias),
    );
    return { dx, filter: dw!, bias };
  } finally {
    disposeAll(backend, acc);
  }
}

/**
 * Throws unless `dy` is the output of a stride-1 3x3 convolution of an
 * input of shape `inShape` padded by `pads`, and the given tensors are
 * float32.
 */
function checkBackward(
  name: string,
  inShape: readonly number[],
  dy: tf.TensorInfo,
  pads: Pads,
  ...inputs: tf.TensorInfo[]
): void {
  const cout = dy.shape[3];
  const filterShape = [3, 3, inShape[3], cout];
  const oh = inShape[1] + pads.top + pads.bottom - 2;
  const ow = inShape[2] + pads.left + pads.right - 2;
  if (
    dy.shape.length !== 4 ||
    !canUseWinograd(inShape, filterShape, 1, 1, pads) ||
    dy.shape[0] !== inShape[0] || dy.shape[1] !== oh || dy.shape[2] !== ow
  ) {
    throw new RangeError(
      `${name}: dy ${dy.shape} does not fit input ${inShape} with pads ` +
        JSON.stringify(pads),
    );
  }
  if ([dy, ...inputs].some((t) => t.dtype !== "float32")) {
    throw new TypeError(`${name} supports float32 only`);
  }
}

/** What one {@link backward} pass computes, and how. */
interface BackwardPlan {
  /** The forward input: its filter gradient is computed when given. */
  x?: tf.TensorInfo | ChunkedInput;
  /** The filter: the input gradient is computed when given. */
  filter?: tf.TensorInfo;
  /** Default tiles per chunk, per tile side. */
  chunk: Readonly<Record<2 | 4 | 6, number>>;
  /** Default tile side. */
  tile: 2 | 4 | 6;
  /**
   * `dy` is a pooled gradient with its codes (F(6×6) only): the
   * convolution's output side and the byte address of the bias's float64
   * sums.
   */
  pooled?: {
    codes: tf.TensorInfo;
    mask?: tf.TensorInfo;
    oh: number;
    ow: number;
    bsum: number;
  };
}

/**
 * The chunked pass of the two gradients over `dy`'s tiles (arguments
 * checked by the callers): per chunk, D = A·e·Aᵀ of the `dy` tiles; with
 * `plan.x`, V = Bᵀ·d·B of its tiles and Gw[k] += D[k]ᵀ·V[k]; with
 * `plan.filter`, P[k] = D[k]·U[k]ᵀ and B·P·Bᵀ added into dx.
 */
function backward(
  backend: BackendWasm,
  dy: tf.TensorInfo,
  inShape: readonly number[],
  pads: Pads,
  options: WinogradOptions,
  plan: BackwardPlan,
): { dx?: tf.TensorInfo; dw?: tf.TensorInfo } {
  const [n, h, w, cin] = inShape;
  const { x, filter, pooled } = plan;
  const cout = dy.shape[3];
  const oh = pooled?.oh ?? dy.shape[1], ow = pooled?.ow ?? dy.shape[2];
  const tile = tileOf(options, plan.tile);
  const planes = (tile.m + 2) ** 2;
  const [th, tw] = tileGrid(oh, ow, tile.m);
  const tiles = n * th * tw;
  const imageTiles = th * tw, imageSize = h * w * cin;
  const chunk = chunkFor(
    x,
    imageTiles,
    tiles,
    options.chunkTiles ?? plan.chunk[tile.m],
  );
  const all = simdKernels(backend, options.fma);
  const t = tileKernels(all, tile.m);
  const { rows } = gemmTuning(backend, options.fma).chosen;
  // With `after` and chunks of whole images, dx is one chunk's images.
  const ring = filter !== undefined && options.after !== undefined &&
    chunk % imageTiles === 0;
  const dx = filter &&
    backend.makeOutput([ring ? chunk / imageTiles : n, h, w, cin], "float32");
  const dw = x && backend.makeOutput([3, 3, cin, cout], "float32");
  let planeBuf: tf.TensorInfo | undefined;
  let acc: tf.TensorInfo | undefined;
  let table: tf.TensorInfo | undefined;
  let scratch: tf.TensorInfo | undefined;
  try {
    const uAddr = filter &&
      transformedFilter(backend, filter, tile, cin, cout, "transposed", all);
    // Planes D[k] ([chunk, cout]), then V[k] ([chunk, cin]) for the filter
    // gradient and P[k] ([chunk, cin]) for the input gradient, skewed as in
    // winogradConv3x3; the table holds D's, V's, P's addresses.
    const skew = options.planeSkew ?? PLANE_SKEW;
    const dStride = align(chunk * cout * 4 + skew, 16);
    const cStride = align(chunk * cin * 4 + skew, 16);
    const sets = 1 + (x ? 1 : 0) + (filter ? 1 : 0);
    planeBuf = backend.makeOutput(
      [(planes * (dStride + (sets - 1) * cStride) + 64) / 4],
      "float32",
    );
    const base = align(heapIndex(backend, planeBuf) << 2, 64);
    table = backend.makeOutput([3 * planes], "int32");
    const tableView = backend.typedArrayFromHeap(table) as Int32Array;
    for (let k = 0; k < planes; k++) {
      tableView[k] = base + k * dStride;
      for (let set = 1; set < sets; set++) {
        tableView[set * planes + k] = base + planes * dStride +
          (set - 1) * planes * cStride + k * cStride;
      }
    }
    // Zeros past the inputs' edges, a sink for dx's points past its, a block
    // of D's rows packed for the input gradient's products, then cout ones.
    const width = Math.max(4, cin, cout);
    scratch = backend.makeOutput([2 * width + 9 * cout], "float32");
    backend.typedArrayFromHeap(scratch).fill(0).fill(1, 2 * width + 8 * cout);
    const zeroAddr = heapIndex(backend, scratch) << 2;
    const sinkAddr = zeroAddr + 4 * width;
    const dTable = heapIndex(backend, table) << 2;
    const vTable = dTable + 4 * planes;
    const pTable = dTable + 4 * planes * (sets - 1);
    if (dw) {
      acc = backend.makeOutput([planes, cout, cin], "float32"); // Gw[k]ᵀ
      backend.typedArrayFromHeap(acc).fill(0);
    }
    // dx is zeroed an image at a time, as the chunks first reach it: in
    // cache when the input gradient adds to it.
    let zeroed = 0;
    const dyAddr = heapIndex(backend, dy) << 2;
    const addr = (t: tf.TensorInfo | undefined) =>
      t === undefined ? 0 : heapIndex(backend, t) << 2;
    const [accAddr, dxAddr] = [acc, dx].map(addr);
    const xAddr = x === undefined || "images" in x ? 0 : addr(x);
    for (let t0 = 0; t0 < tiles; t0 += chunk) {
      const count = Math.min(chunk, tiles - t0);
      if (pooled) {
        t.dyPool!(
          dyAddr,
          heapIndex(backend, pooled.codes) << 2,
          pooled.mask ? heapIndex(backend, pooled.mask) << 2 : 0,
          zeroAddr + 4 * (2 * width + 8 * cout), // cout ones
          dTable,
          zeroAddr,
          pooled.bsum,
          oh,
          ow,
          cout,
          th,
          tw,
          t0,
          count,
        );
      } else {
        t.dy(dyAddr, dTable, zeroAddr, oh, ow, cout, th, tw, t0, count);
      }
      if (x) {
        const [from, first] = source(x, xAddr, imageTiles, t0, count);
        t.input(
          from,
          vTable,
          zeroAddr,
          h,
          w,
          cin,
          pads.top,
          pads.left,
          th,
          tw,
          t0 - first * imageTiles,
          count,
        );
        all.gradProducts(
          vTable,
          dTable,
          accAddr,
          cin,
          cout,
          count,
          planes,
        );
      }
      if (filter) {
        all.planeProducts(
          dTable,
          uAddr!,
          pTable,
          count,
          cout,
          cin,
          planes,
          rows,
          sinkAddr + 4 * width,
        );
        const reached = Math.ceil((t0 + count) / imageTiles);
        // In the ring, image t0 / imageTiles is at dx's start: the kernel's
        // address of image i, dx + i·size, wraps modulo 2³² onto it.
        const first = ring ? t0 / imageTiles : 0;
        if (ring) zeroed = first;
        if (reached > zeroed) {
          const at = heapIndex(backend, dx!) - first * imageSize;
          heapF32(backend).fill(
            0,
            at + zeroed * imageSize,
            at + reached * imageSize,
          );
          zeroed = reached;
        }
        t.inputGrad(
          pTable,
          (dxAddr - first * imageSize * 4) | 0,
          sinkAddr,
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
        if (options.after) {
          options.after(dx!, first, Math.floor((t0 + count) / imageTiles));
        }
      }
    }
    if (dw) filterGradTransform(backend, acc!, dw, tile, cin, cout, all);
    if (options.after) {
      disposeAll(backend, dx);
      return { dw };
    }
    return { dx, dw };
  } catch (error) {
    disposeAll(backend, dx, dw);
    throw error;
  } finally {
    disposeAll(backend, planeBuf, acc, table, scratch);
  }
}

/**
 * out[i][j][ci][co] = (Gᵀ·m·G)[i][j] with m[p][q] = acc[a·p + q][co][ci]
 * (a = m + 2): by `kernels`' SIMD transform (float32) when Cin is a multiple
 * of 4, else here in float64.
 */
function filterGradTransform(
  backend: BackendWasm,
  acc: tf.TensorInfo,
  out: tf.TensorInfo,
  tile: WinogradTile,
  cin: number,
  cout: number,
  kernels: SimdKernels,
): void {
  const G = tile.g;
  const a = G.length;
  if (cin % 4 === 0) {
    withG(backend, tile, (g) =>
      kernels.filterGradTransform(
        4 * heapIndex(backend, acc),
        4 * heapIndex(backend, out),
        g,
        a,
        cin,
        cout,
      ));
    return;
  }
  const heap = heapF32(backend);
  const src = heapIndex(backend, acc);
  const dst = heapIndex(backend, out);
  const plane = cin * cout;
  const mv = new Float64Array(a * a);
  const tt = new Float64Array(3 * a); // Gᵀ·m: 3×a
  for (let co = 0; co < cout; co++) {
    for (let ci = 0; ci < cin; ci++) {
      const e = src + co * cin + ci;
      for (let k = 0; k < a * a; k++) mv[k] = heap[e + k * plane];
      for (let i = 0; i < 3; i++) {
        for (let q = 0; q < a; q++) {
          let sum = 0;
          for (let p = 0; p < a; p++) sum += G[p][i] * mv[a * p + q];
          tt[a * i + q] = sum;
        }
      }
      const o = dst + ci * cout + co;
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 3; j++) {
          let sum = 0;
          for (let q = 0; q < a; q++) sum += tt[a * i + q] * G[q][j];
          heap[o + (3 * i + j) * plane] = sum;
        }
      }
    }
  }
}

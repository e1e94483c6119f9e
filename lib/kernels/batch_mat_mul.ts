/**
 * `BatchMatMul` for the wasm backend, keeping every case on XNNPACK.
 *
 * The stock kernel reaches XNNPACK's fully-connected GEMM only for a single,
 * non-transposed product; with `transposeA`/`transposeB`, or a batch, it runs
 * a scalar loop. This kernel transposes operands explicitly (a cache-blocked
 * heap transpose, 3-4× faster here than the wasm `Transpose` kernel), or for
 * a single product computes `(op(B)ᵀ·op(A)ᵀ)ᵀ` when that moves less data,
 * folds a shared right operand into one tall product, and otherwise runs one
 * fast product per batch entry (with broadcasting).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import {
  assertFloat32,
  copyRun,
  disposeAll,
  heapF32,
  heapIndex,
  type KernelArgs,
  reshaped,
  swapLastAxes,
  type WasmKernelFunc,
} from "./wasm_util.ts";
import { simdAvailable, simdKernels } from "./simd/simd.ts";
import { gemmTuning } from "./tuning.ts";

/** `a·b` for 2-D float32 operands on the fast XNNPACK path. */
export type MatMulFunc = (
  backend: BackendWasm,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
) => tf.TensorInfo;

/**
 * The `[k, n]` shape each right operand's data was packed with by XNNPACK.
 *
 * The stock kernel hands a single non-transposed product to XNNPACK's
 * fully-connected operator and caches that operator, with the right operand
 * packed into it, by the operand's tensor id alone (neither its shape nor
 * anything else). A reshape shares the tensor id, so the same data under
 * another shape would hit the entry packed for the first shape: wrong numbers
 * or an out-of-bounds trap. The entry is deleted only when the data is
 * disposed. Tensor contents never change while they live (tfjs tensors are
 * immutable; a variable's update gets new data, hence a new id), so the shape
 * is the one thing the key misses: a product whose right operand was packed
 * with another shape runs on a fresh copy instead (a new id, freed at once,
 * which deletes its cache entry).
 */
const packedShapes = new WeakMap<object, string>();

/**
 * Runs `product(b)` where `b` (shape `[k, n]` as the product reads it) is the
 * right operand XNNPACK packs and caches by tensor id; on a copy of `b` when
 * its data was packed with another shape.
 */
export function withPackableOperand(
  backend: BackendWasm,
  b: tf.TensorInfo,
  k: number,
  n: number,
  product: (b: tf.TensorInfo) => tf.TensorInfo,
): tf.TensorInfo {
  const shape = `${k}x${n}`;
  const packed = packedShapes.get(b.dataId);
  if (packed === undefined) packedShapes.set(b.dataId, shape);
  if (packed === undefined || packed === shape) return product(b);
  const copy = backend.makeOutput(b.shape, "float32");
  try {
    copyRun(
      heapF32(backend),
      heapIndex(backend, copy),
      heapIndex(backend, b),
      k * n,
    );
    return product(copy);
  } finally {
    disposeAll(backend, copy);
  }
}

/**
 * Right operands seen once, by data id, with the shape they were read as.
 * XNNPACK packs a right operand (into a layout of its own) on its first
 * product and reuses the packing while the data lives; packing costs about
 * as much as a product with few rows. Training's weights are new data every
 * step, each used once (as read: `W` forward, `Wᵀ` for the input gradient),
 * so a right operand's first product runs on the SIMD module's own product
 * ({@linkcode streamedMatMul}), which packs one L2-sized block at a time and
 * reads transposed operands in place; one used again the same way (a
 * model's weights at inference) is packed by XNNPACK from its second product.
 */
const seenRight = new WeakMap<object, string>();

/**
 * Whether `b` (read as `[k, n]`, transposed or not) is a right operand's
 * first use that way, `n` suits the SIMD product, the product is not tiny,
 * and the SIMD module runs here.
 */
function streams(
  backend: BackendWasm,
  b: tf.TensorInfo,
  m: number,
  k: number,
  n: number,
  transposeB = false,
): boolean {
  if (n % 8 !== 0 || m * k * n < SMALL_PRODUCT) return false;
  const shape = `${k}x${n}${transposeB ? "T" : ""}`;
  const seen = seenRight.get(b.dataId);
  seenRight.set(b.dataId, shape);
  return seen !== shape && simdAvailable(backend);
}

/**
 * `op(a)·op(b)` for 2-D float32 operands with the SIMD module's `gemm`
 * (`n` a multiple of 8): `a` is `[m, k]`, or `[k, m]` with `transposeA`;
 * `b` is `[k, n]`, or `[n, k]` with `transposeB`. The right operand is
 * packed block by block into a scratch buffer; the variant (register block,
 * block size) is the one {@linkcode gemmTuning} chose for this machine.
 */
export function streamedMatMul(
  backend: BackendWasm,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  { transposeA = false, transposeB = false } = {},
): tf.TensorInfo {
  const [m, k] = transposeA ? [a.shape[1], a.shape[0]] : a.shape;
  const n = transposeB ? b.shape[0] : b.shape[1];
  const { chosen } = gemmTuning(backend);
  const scratch = backend.makeOutput(
    [Math.min(k, chosen.kc) * (n + 8)],
    "float32",
  );
  try {
    const out = backend.makeOutput([m, n], "float32");
    simdKernels(backend).gemm(
      heapIndex(backend, a) * 4,
      heapIndex(backend, b) * 4,
      heapIndex(backend, out) * 4,
      m,
      k,
      n,
      transposeA ? 1 : 0,
      transposeB ? 1 : 0,
      heapIndex(backend, scratch) * 4,
      chosen.kc,
      chosen.rows,
    );
    return out;
  } finally {
    disposeAll(backend, scratch);
  }
}

/**
 * Wraps the stock wasm `BatchMatMul` kernel function as a 2-D non-transposed
 * product on XNNPACK only (the right operand packed once, keyed safely, see
 * {@linkcode withPackableOperand}).
 */
export function packedMatMul(stock: WasmKernelFunc): MatMulFunc {
  return (backend, a, b) =>
    withPackableOperand(backend, b, b.shape[0], b.shape[1], (right) =>
      stock({
        inputs: { a, b: right },
        backend,
        attrs: { transposeA: false, transposeB: false },
      }));
}

/**
 * Wraps the stock wasm `BatchMatMul` kernel function as a 2-D non-transposed
 * product: a right operand's first product streams it in place
 * ({@linkcode streamedMatMul}); later ones run on XNNPACK, which packs the
 * right operand once ({@linkcode packedMatMul}).
 */
export function stockMatMul(stock: WasmKernelFunc): MatMulFunc {
  const packed = packedMatMul(stock);
  return (backend, a, b) =>
    streams(backend, b, a.shape[0], a.shape[1], b.shape[1])
      ? streamedMatMul(backend, a, b)
      : packed(backend, a, b);
}

/** Rows from which a fused Dense product runs on the SIMD product. */
const FUSED_ROWS = 64;

/**
 * Builds the `_FusedMatMul` kernel function (product, bias, activation, as
 * tfjs-layers runs `Dense` layers at inference) around the stock one: a
 * single non-transposed product of at least {@link FUSED_ROWS} rows with no
 * or ReLU activation runs on the SIMD product with bias and ReLU in place;
 * other single non-transposed products on the stock kernel, which caches its
 * right operand by tensor id like `BatchMatMul`, with the packing keyed
 * safely (see {@linkcode withPackableOperand}); everything else as before.
 */
export function makeFusedMatMul(stock: WasmKernelFunc): WasmKernelFunc {
  return (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as {
      a: tf.TensorInfo;
      b: tf.TensorInfo;
      bias?: tf.TensorInfo;
      preluActivationWeights?: tf.TensorInfo;
    };
    const { transposeA, transposeB, activation } = args.attrs as unknown as {
      transposeA: boolean;
      transposeB: boolean;
      activation: string;
    };
    const single = tf.util.sizeFromShape(a.shape.slice(0, -2)) === 1 &&
      tf.util.sizeFromShape(b.shape.slice(0, -2)) === 1;
    if (!single || transposeA || transposeB) return stock(args);
    const [k, n] = b.shape.slice(-2);
    const m = a.shape[a.shape.length - 2];
    const backend = args.backend;
    if (
      m >= FUSED_ROWS && n % 8 === 0 &&
      (activation === "linear" || activation === "relu") &&
      preluActivationWeights === undefined &&
      (bias === undefined ||
        (bias.shape.length === 1 && bias.shape[0] === n)) &&
      a.dtype === "float32" && b.dtype === "float32" &&
      simdAvailable(backend)
    ) {
      // A Dense layer on a batch: the packed SIMD product, then bias and
      // ReLU in place. Re-packing the weights each call costs nothing
      // measurable: weights packed once and kept ran as fast (8.4 ms for
      // [128, 9216]·[9216, 128] either way; packing a block brings into L2
      // what the product would otherwise stream from L3).
      const out = streamedMatMul(
        backend,
        reshaped(a, [m, k]),
        reshaped(b, [k, n]),
      );
      simdKernels(backend).biasActivation(
        heapIndex(backend, out) * 4,
        bias === undefined ? 0 : heapIndex(backend, bias) * 4,
        m,
        n,
        activation === "relu" ? 1 : 0,
      );
      return reshaped(out, [...a.shape.slice(0, -2), m, n]);
    }
    return withPackableOperand(
      args.backend,
      b,
      k,
      n,
      (right) => stock({ ...args, inputs: { ...args.inputs, b: right } }),
    );
  };
}

/**
 * Below this many multiply-adds per batch entry, a batch of products without
 * broadcasting stays on the stock kernel: its loop beats one XNNPACK call
 * (operator creation and weight packing) per entry there.
 */
const SMALL_PRODUCT = 16384;

/**
 * Builds the `BatchMatMul` kernel function around the stock wasm one
 * (`stock`), which it calls for plain single products and tiny batches.
 */
export function makeBatchMatMul(
  stock: WasmKernelFunc,
): (args: KernelArgs) => tf.TensorInfo {
  const matMul = stockMatMul(stock);
  return (args) => batchMatMul(args, stock, matMul);
}

function batchMatMul(
  args: KernelArgs,
  stock: WasmKernelFunc,
  matMul: MatMulFunc,
): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
  assertFloat32("BatchMatMul", a, b);
  const aRank = a.shape.length;
  const bRank = b.shape.length;
  const m = transposeA ? a.shape[aRank - 1] : a.shape[aRank - 2];
  const kA = transposeA ? a.shape[aRank - 2] : a.shape[aRank - 1];
  const kB = transposeB ? b.shape[bRank - 1] : b.shape[bRank - 2];
  const n = transposeB ? b.shape[bRank - 2] : b.shape[bRank - 1];
  tf.util.assert(
    kA === kB,
    () =>
      `Error in matMul: inner shapes (${kA}) and (${kB}) of Tensors with ` +
      `shapes ${a.shape} and ${b.shape} and transposeA=${transposeA} and ` +
      `transposeB=${transposeB} must match.`,
  );
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  const outShape = [...outer, m, n];
  const batch = tf.util.sizeFromShape(outer);
  const batchA = tf.util.sizeFromShape(outerA);
  const batchB = tf.util.sizeFromShape(outerB);
  const k = kA;

  if (batch * m * n === 0 || k === 0) {
    const zeros = backend.makeOutput(outShape, "float32");
    backend.typedArrayFromHeap(zeros).fill(0);
    return zeros;
  }

  if (batch === 1 && streams(backend, b, m, k, n, transposeB)) {
    // A single product whose right operand is new (training): the SIMD
    // product, transposes read in place.
    return reshaped(
      streamedMatMul(
        backend,
        reshaped(a, transposeA ? [k, m] : [m, k]),
        reshaped(b, transposeB ? [n, k] : [k, n]),
        { transposeA, transposeB },
      ),
      outShape,
    );
  }
  if (
    batchA === batchB &&
    (m * k * n < SMALL_PRODUCT || (batch === 1 && !transposeA && !transposeB))
  ) {
    // A single non-transposed product: streamed, or on XNNPACK, which
    // caches `b`.
    if (batch === 1 && !transposeA && !transposeB) {
      return withPackableOperand(
        backend,
        b,
        k,
        n,
        (right) => stock({ ...args, inputs: { a, b: right } }),
      );
    }
    return stock(args);
  }
  if (batch === 1 && preferSwapped(transposeA, transposeB, m, k, n)) {
    return reshaped(
      swappedProduct(backend, matMul, a, b, {
        transposeA,
        transposeB,
        m,
        k,
        n,
      }),
      outShape,
    );
  }

  // Operands as [batch, rows, cols] in the layout the product needs.
  let a3: tf.TensorInfo | undefined;
  let b3: tf.TensorInfo | undefined;
  try {
    a3 = transposeA
      ? swapLastAxes(backend, reshaped(a, [batchA, k, m]))
      : reshaped(a, [batchA, m, k]);
    b3 = transposeB
      ? swapLastAxes(backend, reshaped(b, [batchB, n, k]))
      : reshaped(b, [batchB, k, n]);

    if (batchB === 1) {
      // One shared right operand (so batchA === batch): a single
      // [batch·m, k] × [k, n] product.
      const out = matMul(
        backend,
        reshaped(a3, [batchA * m, k]),
        reshaped(b3, [k, n]),
      );
      return reshaped(out, outShape);
    }
    return batchedProducts(backend, matMul, a3, b3, {
      outerA,
      outerB,
      outer,
      outShape,
    });
  } finally {
    if (a3 !== undefined && a3.dataId !== a.dataId) disposeAll(backend, a3);
    if (b3 !== undefined && b3.dataId !== b.dataId) disposeAll(backend, b3);
  }
}

/** Rough cost, per element, of {@link swapLastAxes}. */
const TRANSPOSE_COST = 1;
/** Rough cost, per element, of XNNPACK packing fresh weights. */
const PACK_COST = 2;

/**
 * Whether computing `C = op(A)·op(B)` as `(op(B)ᵀ·op(A)ᵀ)ᵀ` moves less data
 * than transposing the operands themselves: the product's right operand
 * (packed by XNNPACK) is then `op(A)ᵀ` instead of `op(B)`, and the result
 * needs one transpose. For `dy·Wᵀ` with a tall `W` it avoids transposing
 * and packing `W`.
 */
function preferSwapped(
  transposeA: boolean,
  transposeB: boolean,
  m: number,
  k: number,
  n: number,
): boolean {
  if (!transposeA && !transposeB) return false;
  const direct = (transposeA ? TRANSPOSE_COST * k * m : 0) +
    (transposeB ? TRANSPOSE_COST * k * n : 0) + PACK_COST * k * n;
  const swapped = (transposeB ? 0 : TRANSPOSE_COST * k * n) +
    (transposeA ? 0 : TRANSPOSE_COST * k * m) + PACK_COST * k * m +
    TRANSPOSE_COST * m * n;
  return swapped < direct;
}

/**
 * A single (unbatched) product computed as `(op(B)ᵀ·op(A)ᵀ)ᵀ`; returns a
 * fresh `[m, n]` tensor.
 */
function swappedProduct(
  backend: BackendWasm,
  matMul: MatMulFunc,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  { transposeA, transposeB, m, k, n }: {
    transposeA: boolean;
    transposeB: boolean;
    m: number;
    k: number;
    n: number;
  },
): tf.TensorInfo {
  let left: tf.TensorInfo | undefined; // op(B)ᵀ: [n, k]
  let right: tf.TensorInfo | undefined; // op(A)ᵀ: [k, m]
  let outT: tf.TensorInfo | undefined; // Cᵀ: [n, m]
  try {
    left = transposeB
      ? reshaped(b, [n, k])
      : swapLastAxes(backend, reshaped(b, [k, n]));
    right = transposeA
      ? reshaped(a, [k, m])
      : swapLastAxes(backend, reshaped(a, [m, k]));
    outT = matMul(backend, left, right);
    return swapLastAxes(backend, reshaped(outT, [n, m]));
  } finally {
    if (left !== undefined && left.dataId !== b.dataId) {
      disposeAll(backend, left);
    }
    if (right !== undefined && right.dataId !== a.dataId) {
      disposeAll(backend, right);
    }
    disposeAll(backend, outT);
  }
}

/**
 * One XNNPACK product per output batch entry, for a right operand that
 * differs along the batch. Each `b` slice is copied into a fresh tensor
 * (XNNPACK packs weights per tensor id) and freed after use.
 */
function batchedProducts(
  backend: BackendWasm,
  matMul: MatMulFunc,
  a3: tf.TensorInfo,
  b3: tf.TensorInfo,
  shapes: {
    outerA: number[];
    outerB: number[];
    outer: number[];
    outShape: number[];
  },
): tf.TensorInfo {
  const [, m, k] = a3.shape;
  const n = b3.shape[2];
  const batch = tf.util.sizeFromShape(shapes.outer);
  const out = backend.makeOutput(shapes.outShape, "float32");
  const sizeA = m * k;
  const sizeB = k * n;
  const sizeOut = m * n;
  let sliceA: tf.TensorInfo | undefined;
  let lastA = -1;
  try {
    // XNNPACK keeps nothing of the left operand: one buffer serves all.
    sliceA = backend.makeOutput([m, k], "float32");
    for (let i = 0; i < batch; i++) {
      const index = broadcastIndices(
        i,
        shapes.outer,
        shapes.outerA,
        shapes.outerB,
      );
      if (index.a !== lastA) {
        copyRun(
          heapF32(backend),
          heapIndex(backend, sliceA),
          heapIndex(backend, a3) + index.a * sizeA,
          sizeA,
        );
        lastA = index.a;
      }
      const sliceB = backend.makeOutput([k, n], "float32");
      let part: tf.TensorInfo | undefined;
      try {
        copyRun(
          heapF32(backend),
          heapIndex(backend, sliceB),
          heapIndex(backend, b3) + index.b * sizeB,
          sizeB,
        );
        part = matMul(backend, sliceA, sliceB);
        copyRun(
          heapF32(backend),
          heapIndex(backend, out) + i * sizeOut,
          heapIndex(backend, part),
          sizeOut,
        );
      } finally {
        disposeAll(backend, sliceB, part);
      }
    }
    return out;
  } catch (error) {
    disposeAll(backend, out);
    throw error;
  } finally {
    disposeAll(backend, sliceA);
  }
}

/**
 * Maps flat index `i` of the broadcast outer shape to the flat outer indices
 * of `a` and `b` (numpy broadcasting, shapes aligned on the right).
 */
function broadcastIndices(
  i: number,
  outer: number[],
  outerA: number[],
  outerB: number[],
): { a: number; b: number } {
  let a = 0, b = 0, strideA = 1, strideB = 1, rest = i;
  for (let d = outer.length - 1; d >= 0; d--) {
    const coord = rest % outer[d];
    rest = Math.floor(rest / outer[d]);
    const dA = d - (outer.length - outerA.length);
    const dB = d - (outer.length - outerB.length);
    if (dA >= 0) {
      if (outerA[dA] !== 1) a += coord * strideA;
      strideA *= outerA[dA];
    }
    if (dB >= 0) {
      if (outerB[dB] !== 1) b += coord * strideB;
      strideB *= outerB[dB];
    }
  }
  return { a, b };
}

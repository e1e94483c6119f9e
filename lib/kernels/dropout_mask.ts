/**
 * Dropout keep-masks on the wasm backend, written by the SIMD module
 * (`simd/dropout.as.ts`) straight into a new tensor: the same numbers as
 * `lib/engine/dropout.ts` draws in JS from `lib/engine/random.ts` (tested
 * element for element), several times faster.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { disposeAll, heapIndex } from "./wasm_util.ts";
import { simdAvailable, simdKernels } from "./simd/simd.ts";

/**
 * The smallest 32-bit `h` with `Math.fround(h / 2^32) >= rate`: the JS
 * stream drops an element when its float32 uniform is below `rate`, which
 * is exactly `h < dropThreshold(rate)` on the integer it came from.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { dropThreshold } from "./dropout_mask.ts";
 * // 0.5 − 2⁻²⁶ already rounds up to 0.5 in float32:
 * assertEquals(dropThreshold(0.5), 2147483584);
 * assertEquals(Math.fround(2147483584 / 2 ** 32), 0.5);
 * ```
 */
export function dropThreshold(rate: number): number {
  let lo = 0, hi = 2 ** 32;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (Math.fround(mid / 2 ** 32) < rate) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A float32 tensor of `keys.length` rows of `perRow` values: 0 where the
 * stream of the row's key draws below `rate`, else `scale`. Returns
 * `undefined` where the SIMD module cannot run (the caller draws in JS).
 */
export function dropoutMaskWasm(
  backend: BackendWasm,
  shape: number[],
  keys: Uint32Array,
  rate: number,
  scale: number,
): tf.TensorInfo | undefined {
  if (!simdAvailable(backend)) return undefined;
  const rows = keys.length;
  const perRow = shape.slice(1).reduce((a, b) => a * b, 1);
  const table = backend.makeOutput([Math.max(1, rows)], "int32");
  const out = backend.makeOutput(shape, "float32");
  try {
    (backend.typedArrayFromHeap(table) as Int32Array).set(
      new Int32Array(keys.buffer, keys.byteOffset, rows),
    );
    const threshold = dropThreshold(rate);
    simdKernels(backend).dropoutMask(
      heapIndex(backend, out) * 4,
      heapIndex(backend, table) * 4,
      rows,
      perRow,
      threshold >= 2 ** 32 ? 0xffffffff : threshold,
      scale,
    );
    return out;
  } catch (error) {
    disposeAll(backend, out);
    throw error;
  } finally {
    disposeAll(backend, table);
  }
}

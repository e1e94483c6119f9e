/**
 * Operands packed from tensors that stay the same from call to call (a
 * model's weights at inference), kept for the next call: Winograd's
 * transformed filters (`winograd.ts`).
 *
 * An entry is keyed by the tensor's data id (the object itself, never a
 * number that could come back) and a string naming the layout (shape,
 * block size, tile). tfjs tensors are immutable, and this project never
 * writes a tensor in place (a weight update assigns new data, a new id:
 * `readFlat`, the optimizers), so an id seen again holds the same values;
 * a changed weight is a miss and is packed afresh. The packed data lives in
 * the backend's heap outside tfjs's bookkeeping (`_malloc`), so it counts
 * in no tensor total; each cache holds a few entries and a bounded number of
 * bytes per backend, the least recently used freed first.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
 * import { assertEquals } from "@std/assert";
 * import { initBackend } from "../backend.ts";
 * import { PackedCache } from "./packed_cache.ts";
 * await initBackend();
 * const backend = tf.backend() as BackendWasm;
 * const cache = new PackedCache(1 << 20);
 * const w = tf.ones([4]);
 * let packs = 0;
 * const pack = () => packs++;
 * const at = cache.get(backend, w.dataId, "4", 16, pack);
 * assertEquals(cache.get(backend, w.dataId, "4", 16, pack), at);
 * assertEquals(packs, 1); // packed once
 * cache.get(backend, w.dataId, "2x2", 16, pack); // another layout: packed
 * assertEquals(packs, 2);
 * cache.clear(backend);
 * ```
 *
 * @module
 */
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";

interface Entry {
  dataId: object;
  layout: string;
  /** Byte address in the heap. */
  address: number;
  bytes: number;
}

interface Allocator {
  _malloc(bytes: number): number;
  _free(address: number): void;
}

/**
 * A least-recently-used cache of packed operands, per backend.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
 * import { assertEquals } from "@std/assert";
 * import { initBackend } from "../backend.ts";
 * import { PackedCache } from "./packed_cache.ts";
 * await initBackend();
 * const backend = tf.backend() as BackendWasm;
 * const cache = new PackedCache(1 << 20, 1);
 * const [a, b] = [tf.ones([4]), tf.ones([4])];
 * const fill = () => {};
 * cache.get(backend, a.dataId, "4", 16, fill);
 * cache.get(backend, b.dataId, "4", 16, fill); // evicts a's (one entry)
 * let packed = false;
 * cache.get(backend, a.dataId, "4", 16, () => (packed = true));
 * assertEquals(packed, true);
 * cache.clear(backend);
 * ```
 */
export class PackedCache {
  #entries = new WeakMap<BackendWasm, Entry[]>();

  /**
   * @param maxBytes most bytes held per backend (a larger operand is packed
   * anew each call into an entry freed at the next miss).
   * @param maxEntries most entries per backend.
   */
  constructor(readonly maxBytes: number, readonly maxEntries = 4) {}

  /**
   * The byte address of `bytes` bytes holding the packing of the tensor
   * with data id `dataId` in `layout`: cached, or filled now by
   * `pack(address)`. Valid until the next call on this cache.
   */
  get(
    backend: BackendWasm,
    dataId: object,
    layout: string,
    bytes: number,
    pack: (address: number) => void,
  ): number {
    let entries = this.#entries.get(backend);
    if (entries === undefined) this.#entries.set(backend, entries = []);
    const i = entries.findIndex((e) =>
      e.dataId === dataId && e.layout === layout
    );
    if (i >= 0) {
      const [hit] = entries.splice(i, 1);
      entries.push(hit);
      return hit.address;
    }
    const heap = backend.wasm as unknown as Allocator;
    let held = entries.reduce((n, e) => n + e.bytes, 0);
    while (
      entries.length > 0 &&
      (entries.length >= this.maxEntries || held + bytes > this.maxBytes)
    ) {
      const old = entries.shift()!;
      heap._free(old.address);
      held -= old.bytes;
    }
    const address = heap._malloc(bytes) >>> 0;
    if (address === 0) throw new RangeError(`out of wasm memory (${bytes} B)`);
    try {
      pack(address);
    } catch (error) {
      heap._free(address);
      throw error;
    }
    entries.push({ dataId, layout, address, bytes });
    return address;
  }

  /** Frees every entry of `backend`. */
  clear(backend: BackendWasm): void {
    const heap = backend.wasm as unknown as Allocator;
    for (const e of this.#entries.get(backend) ?? []) heap._free(e.address);
    this.#entries.delete(backend);
  }
}

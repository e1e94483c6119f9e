/**
 * Counter-based random streams keyed by integers, as JAX keys its PRNG: the
 * numbers drawn for (seed, epoch, sample) never depend on how many steps ran
 * before, so a seeded run is reproducible, resumable and independent of how a
 * batch is split between threads.
 *
 * @module
 */

/** Mixes 32 bits thoroughly (the `lowbias32` finaliser by Chris Wellons). */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x21f0aaad);
  x ^= x >>> 15;
  x = Math.imul(x, 0x735a2d97);
  x ^= x >>> 15;
  return x >>> 0;
}

/**
 * Derives one 32-bit key from a list of integers (a seed, then counters).
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { deriveKey } from "./random.ts";
 * const key = deriveKey(42, 0, 7); // seed 42, epoch 0, stream 7
 * assertEquals(deriveKey(42, 0, 7), key); // a function of its parts
 * assert(deriveKey(42, 1, 7) !== key);
 * assert(Number.isInteger(key) && key >= 0 && key < 2 ** 32);
 * ```
 */
export function deriveKey(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) h = mix32(h ^ mix32((part | 0) + 0x6a09e667));
  return h;
}

/**
 * Fills `out` with uniform floats in [0, 1) from the stream named by `key`.
 * Element `i` depends only on `key` and `i`.
 */
export function fillUniform(key: number, out: Float32Array): Float32Array {
  for (let i = 0; i < out.length; i++) {
    out[i] = mix32(key ^ Math.imul(i + 1, 0x9e3779b9)) / 4294967296;
  }
  return out;
}

/**
 * Returns a random permutation of `0 .. n-1` (Fisher–Yates) drawn from the
 * stream named by `key`, as Keras shuffles the training set each epoch.
 */
export function permutation(n: number, key: number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let state = key;
  for (let i = n - 1; i > 0; i--) {
    state = mix32(state + 0x9e3779b9);
    const j = Math.floor((state / 4294967296) * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/** Returns a fresh random 31-bit seed, for runs the user did not seed. */
export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0] >>> 1;
}

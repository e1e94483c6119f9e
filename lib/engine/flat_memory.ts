/**
 * The shared memory of data-parallel training: the flat weights every thread
 * reads, one row of flat gradients per thread and the flat optimizer's state
 * arrays, all in one shared `WebAssembly.Memory`, so that the flat update's
 * SIMD kernel (`../kernels/adadelta.ts`) works on them in place. Every thread
 * derives the same views from the memory and its {@link FlatLayout}.
 *
 * @module
 */
import { adadeltaKernel } from "../kernels/adadelta.ts";
import type { AdadeltaHyper } from "./optimizer.ts";

/** What the memory holds, in floats and rows. */
export interface FlatLayout {
  /** Flat weights, trainable first (`flatSizes(model).total`). */
  total: number;
  /** Trainable weights: the length of a gradient row and a state array. */
  trainable: number;
  /** Threads: gradient rows. */
  threads: number;
  /** Optimizer state arrays (`stateArrays(rule)`). */
  states: number;
}

/** A shared memory and its layout: what a worker needs to share it. */
export interface FlatMemory {
  memory: WebAssembly.Memory;
  layout: FlatLayout;
}

/** Views of a {@link FlatMemory}. */
export interface FlatViews {
  weights: Float32Array;
  grads: Float32Array[];
  state: Float32Array[];
}

const PAGE = 65536;
const ALIGN = 64;

/** Byte offsets: each thread's kernel tables, then the arrays. */
function offsets(layout: FlatLayout) {
  const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;
  // Per thread: an i32 table of gradient row addresses and an f32 table of
  // their weights, `threads` entries each.
  const tableBytes = align(8 * layout.threads);
  let at = layout.threads * tableBytes;
  const take = (floats: number) => {
    const start = at;
    at = align(at + 4 * floats);
    return start;
  };
  const weights = take(layout.total);
  const grads = Array.from(
    { length: layout.threads },
    () => take(layout.trainable),
  );
  const state = Array.from(
    { length: layout.states },
    () => take(layout.trainable),
  );
  return { tableBytes, weights, grads, state, bytes: at };
}

/**
 * A zeroed shared memory for `layout`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { flatViews, makeFlatMemory } from "./flat_memory.ts";
 * const flat = makeFlatMemory({ total: 10, trainable: 8, threads: 2, states: 2 });
 * const views = flatViews(flat);
 * assertEquals(views.weights.length, 10);
 * assertEquals(views.grads.map((g) => g.length), [8, 8]);
 * assertEquals(views.state.length, 2);
 * ```
 */
export function makeFlatMemory(layout: FlatLayout): FlatMemory {
  const pages = Math.max(1, Math.ceil(offsets(layout).bytes / PAGE));
  const memory = new WebAssembly.Memory({
    initial: pages,
    maximum: pages,
    shared: true,
  });
  return { memory, layout };
}

/** The arrays of `flat`, as views of its memory. */
export function flatViews({ memory, layout }: FlatMemory): FlatViews {
  const o = offsets(layout);
  const view = (at: number, n: number) =>
    new Float32Array(memory.buffer, at, n);
  return {
    weights: view(o.weights, layout.total),
    grads: o.grads.map((at) => view(at, layout.trainable)),
    state: o.state.map((at) => view(at, layout.trainable)),
  };
}

/**
 * Keras's Adadelta on weights [from, to) of `flat` (its two state arrays:
 * accumulated g² and accumulated updates²), from every thread's gradient row
 * weighted by `scales`, by the SIMD kernel; `thread` picks the kernel
 * tables this call writes (threads update their slices at once).
 *
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { adadeltaUpdate } from "./optimizer.ts";
 * import { flatAdadelta, flatViews, makeFlatMemory } from "./flat_memory.ts";
 * const flat = makeFlatMemory({ total: 7, trainable: 7, threads: 2, states: 2 });
 * const v = flatViews(flat);
 * v.weights.set([1, 2, 3, 4, 5, 6, 7]);
 * v.grads[0].set([0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7]);
 * v.grads[1].set([0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]);
 * const hyper = { learningRate: 1, rho: 0.95, epsilon: 1e-7 };
 * const js = { w: v.weights.slice(), a: new Float32Array(7), u: new Float32Array(7) };
 * flatAdadelta(flat, 0, [0.25, 0.75], hyper, 0, 7);
 * adadeltaUpdate(js.w, v.grads, [0.25, 0.75], { accumGrad: js.a, accumVar: js.u }, hyper, 0, 7);
 * v.weights.forEach((w, i) => assertAlmostEquals(w, js.w[i], 1e-6));
 * ```
 */
export function flatAdadelta(
  flat: FlatMemory,
  thread: number,
  scales: readonly number[],
  hyper: AdadeltaHyper,
  from: number,
  to: number,
): void {
  const { memory, layout } = flat;
  const o = offsets(layout);
  const table = thread * o.tableBytes;
  const rows = new Int32Array(memory.buffer, table, layout.threads);
  const weights = new Float32Array(
    memory.buffer,
    table + 4 * layout.threads,
    layout.threads,
  );
  rows.set(o.grads);
  weights.set(scales);
  adadeltaKernel(memory)(
    o.weights,
    table,
    table + 4 * layout.threads,
    layout.threads,
    o.state[0],
    o.state[1],
    from,
    to,
    hyper.learningRate,
    hyper.rho,
    hyper.epsilon,
  );
}

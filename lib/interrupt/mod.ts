/**
 * Interrupts of long library operations: Jupyter's Stop button (■, "Kernel →
 * Interrupt", VS Code's Interrupt) in a Deno kernel, and Ctrl-C in the tasks
 * that ask for it.
 *
 * Jupyter interrupts a Deno kernel with SIGINT, and Deno 2.9.6's kernel dies
 * on a SIGINT that no listener takes (denoland/deno#24491): every variable is
 * lost. Imported in a kernel, this module starts one small worker thread that
 * listens for SIGINT for the kernel's whole life and counts each one in
 * shared memory. So an interrupt never kills the kernel, and a long
 * operation (training, evaluation, `classify`, prediction) reads the counter
 * between two of its steps — even in a synchronous loop, where a listener on
 * the main thread would only run after the loop — and stops there with a
 * typed error. An interrupt while no library operation runs is counted and
 * ignored (Deno cannot stop a running cell of your own; see docs/jupyter.md).
 *
 * Outside a kernel nothing is started and SIGINT keeps Deno's default
 * (the process ends) unless an operation asks for `ctrlC`, which listens on
 * the main thread for that operation only.
 *
 * @module
 */
import { isJupyterKernel } from "../jupyter/mod.ts";

/** Counts SIGINTs seen by the watcher thread; undefined outside a kernel. */
let counter: Int32Array | undefined;

/** Starts the watcher thread (in a kernel's main thread only). */
async function startWatcher(): Promise<void> {
  const shared = new SharedArrayBuffer(4);
  const worker = new Worker(new URL("./watcher.ts", import.meta.url), {
    type: "module",
    name: "interrupt watcher",
  });
  await new Promise<void>((resolve, reject) => {
    worker.onmessage = () => resolve();
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(`the interrupt watcher did not start: ${e.message}`));
    };
    worker.postMessage(shared);
  });
  counter = new Int32Array(shared);
}

// Pool worker threads import lib too; only the kernel's main thread watches.
const mainThread = typeof (globalThis as { WorkerGlobalScope?: unknown })
  .WorkerGlobalScope === "undefined";
if (mainThread && isJupyterKernel()) await startWatcher();

/** True when interrupts are being watched (in a Deno Jupyter kernel). */
export function watchingInterrupts(): boolean {
  return counter !== undefined;
}

/** Options of {@linkcode watchInterrupts}. */
export interface WatchOptions {
  /** Also stop on Ctrl-C outside a kernel (a SIGINT listener for this watch). */
  ctrlC?: boolean;
  /** Also stop when this signal aborts. */
  signal?: AbortSignal;
}

/** One operation's view of interrupts: has one arrived since it began? */
export interface InterruptWatch {
  /** True once an interrupt (or an abort of the signal) arrived. */
  readonly requested: boolean;
  /** Ends the watch (removes its Ctrl-C listener, if any). */
  close(): void;
}

/**
 * Begins watching for an interrupt during one operation. Interrupts that
 * arrived before the call do not count. Call `close()` when the operation
 * ends (in a `finally`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { watchInterrupts } from "./mod.ts";
 * const controller = new AbortController();
 * const watch = watchInterrupts({ signal: controller.signal });
 * assertEquals(watch.requested, false);
 * controller.abort();
 * assertEquals(watch.requested, true);
 * watch.close();
 * ```
 */
export function watchInterrupts(options: WatchOptions = {}): InterruptWatch {
  const start = counter ? Atomics.load(counter, 0) : 0;
  let ctrlC = false;
  const onSigint = () => ctrlC = true;
  const listening = options.ctrlC === true && counter === undefined;
  if (listening) Deno.addSignalListener("SIGINT", onSigint);
  return {
    get requested() {
      return ctrlC || options.signal?.aborted === true ||
        (counter !== undefined && Atomics.load(counter, 0) !== start);
    },
    close() {
      if (listening) Deno.removeSignalListener("SIGINT", onSigint);
    },
  };
}

/**
 * The interrupt watcher's thread (see `mod.ts`): counts every SIGINT into a
 * shared counter. Its own event loop is always free, so it sees an interrupt
 * at once even while the main thread runs a long synchronous loop, and its
 * listener keeps Deno's kernel from dying on an interrupt.
 *
 * @module
 */
/// <reference lib="deno.worker" />

self.onmessage = (event: MessageEvent<SharedArrayBuffer>) => {
  const count = new Int32Array(event.data);
  Deno.addSignalListener("SIGINT", () => {
    Atomics.add(count, 0, 1);
  });
  self.postMessage("ready");
};

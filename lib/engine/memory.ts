/**
 * Peak memory of this process (every thread, WASM heaps included).
 *
 * @module
 */

/**
 * Returns the peak resident set size of this process in bytes (`VmHWM` from
 * `/proc/self/status` on Linux), or the current RSS where that is not
 * available.
 */
export function peakRss(): number {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
    if (kb) return Number(kb) * 1024;
  } catch {
    // Not Linux, or no permission: fall back to the current RSS.
  }
  return Deno.memoryUsage().rss;
}

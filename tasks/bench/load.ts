/**
 * A bounded load test of the app over loopback: a fixed number of requests,
 * a fixed number in flight, every answer checked; it stops by itself.
 *
 * @module
 */

/** Options of {@linkcode runLoad}. */
export interface LoadOptions {
  /** The URL to POST to (a loopback address). */
  url: string;
  /** The request body. */
  body: Uint8Array<ArrayBuffer>;
  /** Its content type. */
  contentType: string;
  /** Requests in all (default 2,000). */
  requests?: number;
  /** Requests in flight at once (default 32). */
  concurrency?: number;
  /** Checks an answer; returns why it is wrong, or undefined when right. */
  check?: (status: number, body: string) => string | undefined;
}

/** What {@linkcode runLoad} measured. */
export interface LoadResult {
  /** Requests sent. */
  requests: number;
  /** Answers that failed the check (or the connection). */
  failures: number;
  /** The first failure, if any. */
  firstFailure?: string;
  /** Requests per second over the whole run. */
  perSecond: number;
  /** Median latency in milliseconds. */
  p50Ms: number;
  /** 99th-percentile latency in milliseconds. */
  p99Ms: number;
}

/**
 * Sends `requests` POSTs, `concurrency` at a time, and measures them.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { runLoad } from "./load.ts";
 * const server = Deno.serve(
 *   { hostname: "127.0.0.1", port: 0, onListen() {} },
 *   () => new Response("7"),
 * );
 * const result = await runLoad({
 *   url: `http://127.0.0.1:${server.addr.port}/api/predict`,
 *   body: new Uint8Array([1, 2, 3]),
 *   contentType: "image/png",
 *   requests: 50,
 *   concurrency: 4,
 * });
 * await server.shutdown();
 * assertEquals([result.requests, result.failures], [50, 0]);
 * ```
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const total = options.requests ?? 2000;
  const concurrency = options.concurrency ?? 32;
  const latencies: number[] = [];
  let failures = 0, firstFailure: string | undefined, next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < total) {
      next++;
      const t0 = performance.now();
      let problem: string | undefined;
      try {
        const response = await fetch(options.url, {
          method: "POST",
          body: options.body,
          headers: { "content-type": options.contentType },
        });
        const text = await response.text();
        problem = options.check?.(response.status, text) ??
          (response.ok ? undefined : `status ${response.status}: ${text}`);
      } catch (error) {
        problem = String(error);
      }
      latencies.push(performance.now() - t0);
      if (problem !== undefined) {
        failures++;
        firstFailure ??= problem;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return {
    requests: total,
    failures,
    firstFailure,
    perSecond: total / seconds,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
  };
}

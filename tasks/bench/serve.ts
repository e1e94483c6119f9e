/**
 * `deno task bench-serve`: a bounded load test of the drawing page's API on
 * loopback — the app on a free port, 2,000 pictures POSTed 32 at a time,
 * every answer checked — printing requests/s and p50/p99 latency.
 *
 * @module
 */
import { initBackend, loadModel } from "../../lib/mod.ts";
import { createHandler } from "../../lib/server/mod.ts";
import { runLoad } from "./load.ts";
import {
  MODEL_DIR_FLAG,
  modelDir,
  parseFlags,
  runTask,
  usage,
} from "../flags.ts";

/**
 * The flags of `deno task bench-serve`, as `parseFlags` reads them.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseFlags } from "../flags.ts";
 * import { SPEC } from "./serve.ts";
 * assertEquals(parseFlags(["--help"], SPEC), "help");
 * ```
 */
export const SPEC = {
  requests: {
    type: "int",
    min: 1,
    max: 100000,
    default: 2000,
    help: "requests in all",
  },
  concurrency: {
    type: "int",
    min: 1,
    max: 256,
    default: 32,
    help: "requests in flight",
  },
  "model-dir": MODEL_DIR_FLAG,
} as const;
/**
 * What `deno task bench-serve --help` prints.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { USAGE } from "./serve.ts";
 * assert(USAGE.startsWith("Usage: deno task bench-serve [flags]"));
 * ```
 */
export const USAGE = usage(
  "bench-serve",
  "Load-tests POST /api/predict on loopback with the sample digit 7.",
  SPEC,
);

async function main(): Promise<void> {
  const flags = parseFlags(Deno.args, SPEC);
  if (flags === "help") return console.log(USAGE);
  const dir = modelDir(flags["model-dir"]);
  await initBackend();
  const model = await loadModel(dir);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    createHandler({ model }),
  );
  const body = await Deno.readFile(
    new URL("../../notebooks/sample_digits/digit_7.png", import.meta.url),
  );
  const result = await runLoad({
    url: `http://127.0.0.1:${server.addr.port}/api/predict`,
    body,
    contentType: "image/png",
    requests: flags.requests,
    concurrency: flags.concurrency,
    check: (status, text) =>
      status === 200 && JSON.parse(text).classes[0] === 7
        ? undefined
        : `status ${status}: ${text}`,
  });
  await server.shutdown();
  console.log(
    `${result.requests} requests, ${flags.concurrency} in flight: ` +
      `${result.perSecond.toFixed(0)} requests/s, p50 ${
        result.p50Ms.toFixed(1)
      } ms, ` +
      `p99 ${result.p99Ms.toFixed(1)} ms, ${result.failures} failed`,
  );
  console.log(JSON.stringify(result));
}

if (import.meta.main) await runTask(main, USAGE);

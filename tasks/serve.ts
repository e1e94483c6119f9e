/**
 * `deno task serve`: the drawing page on http://127.0.0.1:8000 — draw a
 * digit, or upload a picture, and see what the saved model reads. Ctrl-C
 * stops it cleanly.
 *
 * @module
 */
import { initBackend, loadModel } from "../lib/mod.ts";
import { createHandler } from "../lib/server/mod.ts";
import {
  MODEL_DIR_FLAG,
  modelDir,
  parseFlags,
  runTask,
  usage,
} from "./flags.ts";

/**
 * The flags of `deno task serve`, as `parseFlags` reads them.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseFlags } from "./flags.ts";
 * import { SPEC } from "./serve.ts";
 * assertEquals(parseFlags(["--help"], SPEC), "help");
 * ```
 */
export const SPEC = {
  port: {
    type: "int",
    min: 0,
    max: 65535,
    default: 8000,
    help: "port (0: any free one)",
  },
  host: {
    type: "string",
    default: "127.0.0.1",
    help: "address to listen on (0.0.0.0 serves other machines too)",
  },
  "model-dir": MODEL_DIR_FLAG,
} as const;
/**
 * What `deno task serve --help` prints.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { USAGE } from "./serve.ts";
 * assert(USAGE.startsWith("Usage: deno task serve [flags]"));
 * ```
 */
export const USAGE = usage(
  "serve",
  "Serves the drawing page: draw a digit and see what the model reads.",
  SPEC,
);

async function main(): Promise<void> {
  const flags = parseFlags(Deno.args, SPEC);
  if (flags === "help") return console.log(USAGE);
  const dir = modelDir(flags["model-dir"]);
  await initBackend();
  const model = await loadModel(dir);
  const stop = new AbortController();
  const server = Deno.serve({
    hostname: flags.host,
    port: flags.port,
    signal: stop.signal,
    onListen: ({ hostname, port }) =>
      console.log(
        `Serving the drawing page at http://${hostname}:${port}/ (Ctrl-C stops)`,
      ),
  }, createHandler({ model }));
  Deno.addSignalListener("SIGINT", () => {
    console.log("stopping…");
    stop.abort();
  });
  await server.finished;
  console.log("stopped");
}

if (import.meta.main) await runTask(main, USAGE);

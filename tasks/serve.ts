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

const SPEC = {
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
const USAGE = usage(
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

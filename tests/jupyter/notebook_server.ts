/**
 * Debian's Jupyter Notebook (the classic 6.x page) serving a scratch copy of
 * `notebooks/` on a free loopback port with a random token, for the tests
 * that open the notebooks in Chromium. The copy's `lib/`, `deno.json` and
 * `node_modules/` are links to the repository's, so the cells' imports
 * resolve as in `notebooks/`, and running or saving from the page never
 * touches the committed notebooks.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const JUPYTER = Deno.env.get("JUPYTER") ?? "/usr/bin/jupyter";

/** Why no notebook server can start here, or undefined. */
export async function missingNotebookServer(): Promise<string | undefined> {
  const out = await new Deno.Command(JUPYTER, {
    args: ["notebook", "--version"],
    stdout: "piped",
    stderr: "piped",
  }).output().catch(() => undefined);
  return out?.success
    ? undefined
    : `${JUPYTER} notebook not found: install Debian's jupyter-notebook`;
}

/** A running notebook server. */
export interface NotebookServer {
  /** `http://127.0.0.1:PORT`. */
  base: string;
  /** The token to open pages with. */
  token: string;
  /** The scratch directory it serves (`<dir>/notebooks/`). */
  dir: string;
  /** The URL of a notebook's page. */
  url(name: string): string;
  /** Stops the server and removes the scratch directory. */
  close(): Promise<void>;
}

/** A free loopback port. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Starts a server on a scratch copy of the notebooks; `env` goes to the kernels. */
export async function startNotebookServer(
  env: Record<string, string> = {},
): Promise<NotebookServer> {
  const dir = await Deno.makeTempDir({ prefix: "notebook_page_" });
  const notebooks = join(dir, "notebooks");
  await Deno.mkdir(notebooks);
  for await (const entry of Deno.readDir(join(ROOT, "notebooks"))) {
    if (entry.name.endsWith(".ipynb")) {
      await Deno.copyFile(
        join(ROOT, "notebooks", entry.name),
        join(notebooks, entry.name),
      );
    } else if (entry.isDirectory && !entry.name.startsWith(".")) {
      await Deno.symlink(
        join(ROOT, "notebooks", entry.name),
        join(notebooks, entry.name),
      );
    }
  }
  for (const name of ["lib", "deno.json", "deno.lock", "node_modules"]) {
    await Deno.symlink(join(ROOT, name), join(dir, name));
  }
  const token = crypto.randomUUID().replaceAll("-", "");
  const port = freePort();
  const child = new Deno.Command(JUPYTER, {
    args: [
      "notebook",
      "--no-browser",
      "--ip=127.0.0.1",
      `--port=${port}`,
      "--port-retries=0",
      `--NotebookApp.token=${token}`,
      `--notebook-dir=${notebooks}`,
      "--allow-root",
    ],
    cwd: notebooks,
    env: {
      NO_COLOR: "1",
      PYDEVD_DISABLE_FILE_VALIDATION: "1",
      JUPYTER_RUNTIME_DIR: join(dir, "runtime"),
      ...env,
    },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log = new Response(child.stderr).text();
  const base = `http://127.0.0.1:${port}`;
  const close = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already ended.
    }
    await child.status;
    await log;
    await Deno.remove(dir, { recursive: true });
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const res = await fetch(`${base}/api/status?token=${token}`);
      await res.body?.cancel();
      if (res.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await close();
      throw new Error(
        `jupyter notebook did not start on ${base}:\n${await log}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return {
    base,
    token,
    dir,
    url: (name) => `${base}/notebooks/${name}?token=${token}`,
    close,
  };
}

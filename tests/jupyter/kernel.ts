/**
 * A real Deno Jupyter kernel driven as a front end drives it (through
 * `kernel_driver.py` and `jupyter_client`), for the tests of interrupts and
 * of the protocol behaviours VS Code relies on.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { missingJupyter, NOTEBOOKS } from "../../tasks/notebook_runner/mod.ts";

const DRIVER = fileURLToPath(new URL("./kernel_driver.py", import.meta.url));
const PYTHON = Deno.env.get("JUPYTER_PYTHON") ?? "/usr/bin/python3";

/** Test images the kernel tests evaluate: {@linkcode LOAD_MNIST} cuts the test split to them. */
export const KERNEL_TEST_IMAGES = 512;

/**
 * Kernel code that loads MNIST as `mnist` with its test split cut to its
 * first {@linkcode KERNEL_TEST_IMAGES} images (`smallTest`, tests/helpers.ts):
 * the kernel tests check messages, outputs and interrupts, not accuracy, and
 * each pass over 10,000 test images (validation, a confusion matrix) takes
 * seconds. The kernel runs in `notebooks/`.
 */
export const LOAD_MNIST = `import { smallTest } from "../tests/helpers.ts";
const mnist = smallTest(await loadMnist(), ${KERNEL_TEST_IMAGES});`;

/** One IOPub message of a cell. */
export interface Message {
  /** `stream`, `display_data`, `update_display_data`, `execute_result`, `error`… */
  msg_type: string;
  /** Its content, as the protocol has it. */
  content: {
    name?: string;
    text?: string;
    data?: Record<string, unknown>;
    transient?: { display_id?: string };
    ename?: string;
    evalue?: string;
    traceback?: string[];
  };
  /** Published after the cell's `idle` (denoland/deno#24737). */
  late: boolean;
}

/** What one cell did. */
export interface CellRun {
  /** Its IOPub messages, in order. */
  messages: Message[];
  /** The `execute_reply` content. */
  reply: { status: string; ename?: string; evalue?: string } | null;
  /** Whether the cell ended (`idle`). */
  idle: boolean;
  /** Whether the kernel process is alive afterwards. */
  alive: boolean;
  /** Seconds after the cell's start at which interrupts were sent. */
  interrupts: number[];
}

/** One IOPub message of a Run All, as {@linkcode KernelSession.runAll} reports it. */
export interface RunAllMessage {
  /** The index of the cell whose request it names as parent (-1: none). */
  cell: number;
  /** `stream`, `display_data`, `update_display_data`, `execute_result`, `error`… */
  msg_type: string;
  /** The MIME types of a display or result. */
  mime: string[];
  /** Its text: stream text, `text/plain`, or the error's message. */
  text: string;
  /** The display id of a live output. */
  display_id: string | null;
  /** Published after that cell's `idle`. */
  late: boolean;
}

/** What a Run All did. */
export interface RunAll {
  /** Every message but the statuses, in order of arrival. */
  messages: RunAllMessage[];
  /** Each cell's `execute_reply` status (`ok`, `error`), null when none came. */
  replies: (string | null)[];
}

/** When to interrupt: at a message whose text matches, or after seconds. */
export type InterruptAt = { when: string } | { after_s: number };

/** The text of a message: stream text, error, text MIME types. */
export function messageText(m: Message): string {
  const c = m.content;
  return [
    c.text ?? "",
    c.ename ? `${c.ename}: ${c.evalue}` : "",
    ...Object.entries(c.data ?? {})
      .filter(([k, v]) => k.startsWith("text/") && typeof v === "string")
      .map(([, v]) => v as string),
  ].join("\n");
}

/** The stdout of a cell, joined. */
export function stdoutOf(run: CellRun): string {
  return run.messages.filter((m) =>
    m.msg_type === "stream" && m.content.name === "stdout"
  ).map((m) => m.content.text).join("");
}

/** The cell's error message, if it ended with one. */
export function errorOf(run: CellRun): Message | undefined {
  return run.messages.find((m) => m.msg_type === "error");
}

/** A Deno kernel started in `notebooks/` (so `../lib/mod.ts` resolves). */
export class KernelSession {
  #child: Deno.ChildProcess;
  #lines: AsyncIterator<string>;
  #stderr: Promise<string>;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#lines = lines(child.stdout);
    this.#stderr = new Response(child.stderr).text();
  }

  /** Why no kernel can start here, or undefined. */
  static missing(): Promise<string | undefined> {
    return missingJupyter();
  }

  /** Starts a kernel with `env` added to its environment. */
  static async start(env: Record<string, string> = {}): Promise<KernelSession> {
    const child = new Deno.Command(PYTHON, {
      args: [DRIVER, NOTEBOOKS],
      cwd: NOTEBOOKS,
      env: { NO_COLOR: "1", PYDEVD_DISABLE_FILE_VALIDATION: "1", ...env },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const session = new KernelSession(child);
    await session.#read();
    return session;
  }

  async #read(): Promise<Record<string, unknown>> {
    const next = await this.#lines.next();
    if (next.done) {
      throw new Error(`the kernel driver ended:\n${await this.#stderr}`);
    }
    return JSON.parse(next.value);
  }

  async #send(command: Record<string, unknown>): Promise<void> {
    const writer = this.#child.stdin.getWriter();
    await writer.write(
      new TextEncoder().encode(JSON.stringify(command) + "\n"),
    );
    writer.releaseLock();
  }

  /** Runs `code` as a cell, interrupting it as asked. */
  async execute(
    code: string,
    options: { interrupt?: InterruptAt[]; timeoutS?: number } = {},
  ): Promise<CellRun> {
    await this.#send({
      op: "execute",
      code,
      interrupt: options.interrupt ?? [],
      timeout_s: options.timeoutS ?? 600,
    });
    return await this.#read() as unknown as CellRun;
  }

  /**
   * Sends every cell's execute request at once, as Cell → Run All does, and
   * reports every message by the cell it names as its parent.
   */
  async runAll(cells: string[], timeoutS = 600): Promise<RunAll> {
    await this.#send({ op: "run_all", cells, timeout_s: timeoutS });
    return await this.#read() as unknown as RunAll;
  }

  /** Runs `code` and fails unless it ends without an error; returns its run. */
  async ok(code: string, timeoutS?: number): Promise<CellRun> {
    const run = await this.execute(code, { timeoutS });
    const error = errorOf(run);
    if (!run.idle || error || run.reply?.status !== "ok") {
      throw new Error(
        `cell failed (idle ${run.idle}, alive ${run.alive}):\n${code}\n${
          error ? messageText(error) : JSON.stringify(run).slice(0, 2000)
        }`,
      );
    }
    return run;
  }

  /** Interrupts the kernel between cells; true if it is alive `waitS` later. */
  async interruptIdle(waitS = 0.5): Promise<boolean> {
    await this.#send({ op: "interrupt", wait_s: waitS });
    return (await this.#read()).alive as boolean;
  }

  /** The kernel's process id. */
  async pid(): Promise<number> {
    await this.#send({ op: "pid" });
    return (await this.#read()).pid as number;
  }

  /** Shuts the kernel down and waits for the driver to end. */
  async close(): Promise<void> {
    try {
      await this.#send({ op: "shutdown" });
      await this.#child.stdin.close();
    } catch {
      // Already closed.
    }
    await this.#child.status;
    for (;;) if ((await this.#lines.next()).done) break;
    await this.#stderr;
  }
}

/** The lines of a byte stream. */
async function* lines(stream: ReadableStream<Uint8Array>) {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let at;
    while ((at = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, at);
      buffer = buffer.slice(at + 1);
    }
  }
  if (buffer) yield buffer;
}

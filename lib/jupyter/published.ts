/**
 * Waiting until the Deno kernel has published a cell's outputs.
 *
 * Deno 2.9.6's kernel queues every output of a cell (`Deno.jupyter.display`,
 * `console.log`, the cell's result) on a channel that another task drains,
 * and that task stamps each message with the parent header of the request
 * current *when it takes the message*, not when the cell made it. A cell
 * can end (and the kernel answer `idle`) while outputs are still queued;
 * when the front end has already sent the next execute request (Cell → Run
 * All sends them all at once), the queued outputs go out under the next
 * cell (denoland/deno#24737). Awaiting `Deno.jupyter.display` does not help:
 * it resolves as soon as the message is queued.
 *
 * {@linkcode published} waits for the one thing that proves the queue has
 * been drained: it subscribes to the kernel's own IOPub socket (the port
 * named in the kernel's connection file), queues a marker, an
 * `update_display_data` for a display id that no output has (front ends
 * ignore it), and waits until the marker comes back on IOPub. The queue is
 * first in, first out and drained by one task, so every output queued before
 * the marker has then been sent, stamped with the cell that is still running.
 *
 * @module
 */

/** Where the kernel's IOPub socket listens. */
interface IopubAddress {
  hostname: string;
  port: number;
}

let address: Promise<IopubAddress | undefined> | undefined;

/** The kernel's command line: `deno jupyter --kernel --conn FILE`. */
async function commandLine(): Promise<string[]> {
  try {
    const raw = await Deno.readTextFile("/proc/self/cmdline");
    return raw.split("\0");
  } catch {
    // Not Linux: ask ps (macOS, BSD).
    const out = await new Deno.Command("ps", {
      args: ["-o", "command=", "-p", String(Deno.pid)],
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(out.stdout).trim().split(/\s+/);
  }
}

/** Reads the IOPub address from the connection file this kernel was started with. */
async function findAddress(): Promise<IopubAddress | undefined> {
  try {
    const args = await commandLine();
    const at = args.findIndex((a) => a === "--conn" || a.startsWith("--conn="));
    if (at < 0) return undefined;
    const file = args[at].startsWith("--conn=")
      ? args[at].slice("--conn=".length)
      : args[at + 1];
    const info = JSON.parse(await Deno.readTextFile(file));
    if (info.transport && info.transport !== "tcp") return undefined;
    const ip = String(info.ip ?? "127.0.0.1");
    return {
      hostname: ip === "0.0.0.0" || ip === "*" ? "127.0.0.1" : ip,
      port: Number(info.iopub_port),
    };
  } catch {
    return undefined;
  }
}

/** The ZMTP 3.0 greeting of a NULL-mechanism peer, as libzmq sends it. */
function greeting(): Uint8Array {
  const buf = new Uint8Array(64);
  buf[0] = 0xff;
  buf[9] = 0x7f;
  buf[10] = 3;
  buf.set(new TextEncoder().encode("NULL"), 12);
  return buf;
}

/** The READY command of a SUB socket. */
function ready(): Uint8Array {
  const enc = new TextEncoder();
  const name = enc.encode("READY"), key = enc.encode("Socket-Type");
  const value = enc.encode("SUB");
  const body = new Uint8Array(
    1 + name.length + 1 + key.length + 4 + value.length,
  );
  let o = 0;
  body[o++] = name.length;
  body.set(name, o);
  o += name.length;
  body[o++] = key.length;
  body.set(key, o);
  o += key.length;
  new DataView(body.buffer).setUint32(o, value.length);
  body.set(value, o + 4);
  return Uint8Array.of(0x04, body.length, ...body);
}

/** True when `needle` occurs in `hay`. */
function includes(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (hay[i + j] !== needle[j]) continue outer;
    }
    return true;
  }
  return false;
}

/** Options of {@linkcode published}. */
export interface PublishedOptions {
  /** Give up after this many milliseconds (default 120000). */
  timeoutMs?: number;
}

/** The part of `Deno.jupyter` used here. */
interface Broadcaster {
  broadcast(type: string, content: Record<string, unknown>): unknown;
}

/** `Deno.jupyter`, or `undefined` outside the kernel. */
function kernelApi(): Broadcaster | undefined {
  try {
    const api = (Deno as unknown as { jupyter?: Partial<Broadcaster> }).jupyter;
    return typeof api?.broadcast === "function"
      ? api as Broadcaster
      : undefined;
  } catch {
    return undefined;
  }
}

/** The display ids of the markers start so. */
export const MARKER_PREFIX = "mnist-cnn-published-";

/**
 * Resolves once the kernel has published every output this cell made so far
 * (`console.log` lines included), under this cell. Resolves at once outside
 * a kernel, and after `timeoutMs` when it cannot tell (no connection file,
 * nothing came back); never throws. Its value is `undefined`, so a cell that
 * ends with `await published();` shows no result of its own.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { published } from "./published.ts";
 * // Under `deno test` there is no kernel: nothing to wait for.
 * assertEquals(await published(), undefined);
 * ```
 */
export async function published(
  options: PublishedOptions = {},
): Promise<void> {
  await drained(options);
}

/** {@linkcode published}: true when a marker came back. */
async function drained(options: PublishedOptions): Promise<boolean> {
  const api = kernelApi();
  if (!api) return false;
  address ??= findAddress();
  const at = await address;
  if (!at) return false;
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ ...at, transport: "tcp" });
  } catch {
    return false;
  }
  const token = `${MARKER_PREFIX}${crypto.randomUUID()}`;
  const needle = new TextEncoder().encode(token);
  const deadline = performance.now() + (options.timeoutMs ?? 120_000);
  const started = performance.now();
  let seen = false, closed = false, heard = false;
  try {
    conn.setNoDelay(true);
    // Greeting, READY and the subscription (a message whose first byte is 1,
    // an empty topic: everything) at once; the kernel reads them in turn.
    const subscribe = Uint8Array.of(0x00, 1, 1);
    const hello = new Uint8Array(64 + ready().length + subscribe.length);
    hello.set(greeting());
    hello.set(ready(), 64);
    hello.set(subscribe, 64 + ready().length);
    for (let at = 0; at < hello.length;) {
      at += await conn.write(hello.subarray(at));
    }
    // Read everything the kernel sends, looking for a marker.
    let wake = () => {};
    const reading = (async () => {
      const chunk = new Uint8Array(1 << 16);
      let tail = new Uint8Array(0);
      while (!seen) {
        const n = await conn.read(chunk);
        if (n === null) break;
        heard = true;
        const window = new Uint8Array(tail.length + n);
        window.set(tail);
        window.set(chunk.subarray(0, n), tail.length);
        if (includes(window, needle)) {
          seen = true;
          wake();
        }
        tail = window.slice(Math.max(0, window.length - needle.length + 1));
      }
    })().catch(() => {}).finally(() => {
      closed = true;
      wake();
    });
    // A marker sent before the kernel counts this subscriber is not seen:
    // send another after a while, less and less often. Any marker seen
    // proves the same.
    let wait = 50, count = 0;
    while (!seen && !closed && performance.now() < deadline) {
      // Not even the kernel's greeting: not a Deno kernel's IOPub.
      if (!heard && performance.now() - started > 10_000) break;
      api.broadcast("update_display_data", {
        data: { "text/plain": "" },
        metadata: {},
        transient: { display_id: `${token}-${count++}` },
      });
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, wait);
      });
      clearTimeout(timer);
      wait = Math.min(2000, wait * 2);
    }
    try {
      conn.close();
    } catch {
      // Already closed.
    }
    await reading;
    return seen;
  } catch {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
    return seen;
  }
}

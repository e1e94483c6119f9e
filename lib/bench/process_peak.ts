/**
 * Peak memory of a command as the operating system sees it: the command runs
 * as a child process and this process polls the resident set of the child
 * and of every process below it (`deno task train` starts `deno run` as its
 * own child) from `/proc` until the last one ends.
 *
 * A process's own read of its `VmHWM` is not that figure: it comes before the
 * process's last allocations, and on Linux `VmHWM` is only brought up to date
 * at some events (an unmap, a `madvise`), so pages freed another way are
 * never counted (see docs/speed.md, "Memory measured from outside").
 *
 * @module
 */
import { UsageError } from "../errors.ts";

/** Options of {@linkcode runWithPeak}. */
export interface PeakOptions {
  /** Arguments of the command. */
  args?: string[];
  /** Working directory of the command. */
  cwd?: string;
  /** Environment variables added to this process's. */
  env?: Record<string, string>;
  /** Milliseconds between two samples of `/proc`; default 10. */
  intervalMs?: number;
}

/** What {@linkcode runWithPeak} measured. */
export interface PeakResult {
  /** Exit code of the command. */
  code: number;
  /** Its standard output and error, decoded. */
  stdout: string;
  stderr: string;
  /** Wall time from start to exit, in seconds. */
  wallSeconds: number;
  /**
   * Largest sum of the resident sets of the command and all its descendants
   * at one sample: the memory the whole command held at once.
   */
  treeBytes: number;
  /**
   * Largest resident set of one process of the tree: the larger of its
   * sampled `VmRSS` and its last `VmHWM` read while it ran (what
   * `/usr/bin/time` reports as maximum resident set size).
   */
  processBytes: number;
  /** Samples taken. */
  samples: number;
}

/** `VmRSS` and `VmHWM` of a process in bytes, or undefined once it is gone. */
function statusOf(pid: number): { rss: number; hwm: number } | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch {
    return undefined;
  }
  const kb = (key: string) =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0) *
    1024;
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
}

/** `pid` and every process below it, from each thread's `children` list. */
function treeOf(pid: number): number[] {
  const found = [pid];
  for (let i = 0; i < found.length; i++) {
    let tasks: Deno.DirEntry[];
    try {
      tasks = [...Deno.readDirSync(`/proc/${found[i]}/task`)];
    } catch {
      continue;
    }
    for (const task of tasks) {
      try {
        const children = Deno.readTextFileSync(
          `/proc/${found[i]}/task/${task.name}/children`,
        );
        for (const c of children.split(" ")) if (c.trim()) found.push(+c);
      } catch {
        // The thread ended between the listing and the read.
      }
    }
  }
  return found;
}

/**
 * Runs `command` to its end and measures its peak memory from outside,
 * sampling `/proc` every `intervalMs` (Linux only; Deno 2.9 lets a program
 * read another process's `/proc` files only under `--allow-all`).
 *
 * @throws {UsageError} where `/proc` cannot be read (not Linux).
 * @example
 * ```ts ignore
 * // ignore: reading /proc needs --allow-all, which `deno test --doc` lacks.
 * import { assert, assertEquals } from "@std/assert";
 * import { runWithPeak } from "./process_peak.ts";
 * // A child that holds 64 MiB for a moment, then exits.
 * const run = await runWithPeak("python3", {
 *   args: ["-c", "import time; b = bytearray(64 << 20); time.sleep(0.3)"],
 * });
 * assertEquals(run.code, 0);
 * assert(run.treeBytes >= 64 * 2 ** 20 && run.processBytes >= 64 * 2 ** 20);
 * ```
 */
export async function runWithPeak(
  command: string,
  options: PeakOptions = {},
): Promise<PeakResult> {
  try {
    Deno.readTextFileSync(`/proc/${Deno.pid}/status`);
  } catch (cause) {
    throw new UsageError(
      cause instanceof Deno.errors.NotCapable
        ? "measuring a command's memory reads /proc, which Deno 2.9 allows only with --allow-all"
        : "measuring a command's memory needs Linux's /proc (not found)",
      { cause },
    );
  }
  const intervalMs = options.intervalMs ?? 10;
  const started = performance.now();
  const child = new Deno.Command(command, {
    args: options.args ?? [],
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let done = false;
  const output = child.output().finally(() => done = true);
  let treeBytes = 0, processBytes = 0, samples = 0;
  while (!done) {
    let sum = 0;
    for (const pid of treeOf(child.pid)) {
      const s = statusOf(pid);
      if (!s) continue;
      sum += s.rss;
      processBytes = Math.max(processBytes, s.rss, s.hwm);
    }
    treeBytes = Math.max(treeBytes, sum);
    samples++;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  const out = await output;
  const text = new TextDecoder();
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
    wallSeconds: (performance.now() - started) / 1000,
    treeBytes,
    processBytes,
    samples,
  };
}

/**
 * Peak memory of a command as the operating system sees it: the command runs
 * as a child process and this process polls the resident set of the child
 * and of every process below it (`deno task train` starts `deno run` as its
 * own child) from `/proc` until the last one ends.
 *
 * The polling runs in a small bash loop around the command (builtins only,
 * so it reads `/proc` without starting a process per sample): Deno 2.9 lets
 * a program read `/proc` itself only under `--allow-all`, which no task gets,
 * while starting a subprocess needs `--allow-run` only. A task's own read of
 * its memory was wrong for the same reason: refused `/proc/self/status`, it
 * fell back to its current RSS (docs/speed.md, "Memory measured from
 * outside").
 *
 * @module
 */

/** Options of {@linkcode runWithPeak}. */
export interface PeakOptions {
  /** Arguments of the command. */
  args?: string[];
  /** Working directory of the command. */
  cwd?: string;
  /** Environment variables added to this process's. */
  env?: Record<string, string>;
  /** Milliseconds between two samples of `/proc`; default 20. */
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
  /**
   * CPU seconds the poller itself used (user and system): what measuring
   * took from the command's cores.
   */
  pollerCpuSeconds: number;
}

/**
 * The poller: runs "$@" in the background and, every interval, sums the RSS
 * over the command and every process below it, keeping the largest sum and
 * the largest RSS or VmHWM of one process; when the command ends it prints
 * `@@peak <tree kB> <process kB> <samples> <its own CPU ticks>` as the last
 * line of stderr and exits with the command's code.
 *
 * It must cost the command next to nothing, or it slows what it measures: a
 * first version walked every thread's `children` list and started
 * `/usr/bin/sleep` at every sample (about 20 ms of CPU each) and made a
 * two-thread `deno task train` epoch 38% slower on two cores. Now the sleep
 * is a `read -t` on a pipe that never has data (no process); each sample
 * reads one line per process (`/proc/PID/statm`: its resident pages); after
 * the first 50 samples only every 50th looks for the processes below the
 * command again (a `deno task` starts its `deno run` once, at its start) and
 * reads each one's `VmHWM` from `/proc/PID/status`. At a sample every 20 ms
 * it takes about 2% of one core (0.43 s of CPU in a 19 s training run).
 */
const POLLER = String.raw`
interval=$1; shift
"$@" &
root=$!
exec {nap}<> <(:)
page=$(($(getconf PAGESIZE) / 1024))
tree=0; proc=0; n=0; running=1; pids=($root)
while [ $running = 1 ]; do
  full=$((n < 50 || n % 50 == 0))
  if [ $full = 1 ]; then
    pids=($root); i=0
    while [ $i -lt ${"${#pids[@]}"} ]; do
      for f in /proc/${"${pids[$i]}"}/task/*/children; do
        # No newline at the end of the list: read then answers 1 with kids set.
        kids=()
        read -r -a kids 2>/dev/null < "$f"
        pids+=("${"${kids[@]}"}")
      done
      i=$((i + 1))
    done
  fi
  sum=0
  for p in "${"${pids[@]}"}"; do
    # statm: size and resident set in pages (all 0 once the process ended).
    size=0; res=0
    read -r size res _ 2>/dev/null < /proc/$p/statm
    [ $p = $root ] && [ "$size" = 0 ] && running=0
    rss=$((res * page))
    sum=$((sum + rss))
    [ $rss -gt $proc ] && proc=$rss
    if [ $full = 1 ] && mapfile -t -n 32 status 2>/dev/null < /proc/$p/status; then
      for line in "${"${status[@]}"}"; do
        case $line in VmHWM:*) hwm=${"${line//[!0-9]/}"}; [ $hwm -gt $proc ] && proc=$hwm ;; esac
      done
    fi
  done
  [ $sum -gt $tree ] && tree=$sum
  n=$((n + 1))
  [ $running = 1 ] && read -r -t "$interval" -u $nap _
done
wait $root
code=$?
read -r -a self < /proc/$$/stat
echo "@@peak $tree $proc $n $((self[13] + self[14]))" >&2
exit $code
`;

/**
 * Runs `command` to its end and measures its peak memory from outside,
 * sampling `/proc` every `intervalMs` (Linux, with bash).
 *
 * @example
 * ```ts ignore
 * // ignore: starts a subprocess, which `deno test --doc` does not allow.
 * import { assert, assertEquals } from "@std/assert";
 * import { runWithPeak } from "./process_peak.ts";
 * // A child that holds 64 MiB for a moment, then exits.
 * const run = await runWithPeak("python3", {
 *   args: ["-c", "import time; b = b'x' * (64 << 20); time.sleep(0.3)"],
 * });
 * assertEquals(run.code, 0);
 * assert(run.treeBytes >= 64 * 2 ** 20 && run.processBytes >= 64 * 2 ** 20);
 * ```
 */
export async function runWithPeak(
  command: string,
  options: PeakOptions = {},
): Promise<PeakResult> {
  const interval = ((options.intervalMs ?? 20) / 1000).toFixed(3);
  const started = performance.now();
  const out = await new Deno.Command("bash", {
    args: ["-c", POLLER, "poller", interval, command, ...(options.args ?? [])],
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  const stderr = text.decode(out.stderr);
  const last = /@@peak (\d+) (\d+) (\d+) (\d+)\n$/.exec(stderr);
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: last ? stderr.slice(0, last.index) : stderr,
    wallSeconds: (performance.now() - started) / 1000,
    treeBytes: Number(last?.[1] ?? 0) * 1024,
    processBytes: Number(last?.[2] ?? 0) * 1024,
    samples: Number(last?.[3] ?? 0),
    // Clock ticks of /proc/PID/stat: 100 a second on Linux.
    pollerCpuSeconds: Number(last?.[4] ?? 0) / 100,
  };
}

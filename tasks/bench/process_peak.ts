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
 * The largest single process is exact where GNU `time` is installed
 * (Debian's `time`, `/usr/bin/time`): the command runs under it, and it
 * reports the kernel's `ru_maxrss` of every process it waited for
 * (`getrusage(RUSAGE_CHILDREN)`), so a peak between two samples, or a child
 * that ends before the first, is not missed whatever the machine's load. The
 * tree's sum has no such kernel figure: it stays a sampled one.
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
   * Largest resident set of one process of the tree: the kernel's
   * `ru_maxrss` of the command's processes as GNU `time` reports it (where
   * `/usr/bin/time` is installed: {@linkcode PeakResult.exactProcessPeak}),
   * or else the larger of the sampled `VmRSS` and the last `VmHWM` read
   * while a process ran.
   */
  processBytes: number;
  /** Whether `processBytes` is the kernel's exact figure, not a sampled one. */
  exactProcessPeak: boolean;
  /** Samples taken. */
  samples: number;
  /**
   * CPU seconds the poller itself used (user and system): what measuring
   * took from the command's cores.
   */
  pollerCpuSeconds: number;
}

/**
 * The poller: runs "$@" in the background (under `/usr/bin/time -q -f %M`
 * where that exists, which writes the kernel's peak of one process to a
 * file when the command ends) and, every interval, sums the RSS over the
 * command and every process below it, keeping the largest sum and the
 * largest RSS or VmHWM of one process; when the command ends it prints
 * `@@peak <tree kB> <process kB> <samples> <its own CPU ticks> <exact 0|1>`
 * as the last line of stderr and exits with the command's code.
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
maxrss=
if [ -x /usr/bin/time ] && maxrss=$(mktemp 2>/dev/null); then
  /usr/bin/time -q -f %M -o "$maxrss" "$@" &
else
  maxrss=
  "$@" &
fi
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
    # time itself (a megabyte or two) is not the command.
    [ $p = $root ] && [ -n "$maxrss" ] && continue
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
exact=0
if [ -n "$maxrss" ]; then
  while read -r line; do
    case $line in '' | *[!0-9]*) ;; *) [ $line -gt $proc ] && proc=$line; exact=1 ;; esac
  done < "$maxrss"
  rm -f "$maxrss"
fi
read -r -a self < /proc/$$/stat
echo "@@peak $tree $proc $n $((self[13] + self[14])) $exact" >&2
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
  const last = /@@peak (\d+) (\d+) (\d+) (\d+) ([01])\n$/.exec(stderr);
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: last ? stderr.slice(0, last.index) : stderr,
    wallSeconds: (performance.now() - started) / 1000,
    treeBytes: Number(last?.[1] ?? 0) * 1024,
    processBytes: Number(last?.[2] ?? 0) * 1024,
    exactProcessPeak: last?.[5] === "1",
    samples: Number(last?.[3] ?? 0),
    // Clock ticks of /proc/PID/stat: 100 a second on Linux.
    pollerCpuSeconds: Number(last?.[4] ?? 0) / 100,
  };
}

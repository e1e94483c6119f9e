/**
 * `runWithPeak` against children whose memory is known: Python processes
 * that hold a given number of bytes, alone, below a shell, and at the very
 * end of their run.
 *
 * Run: `deno test --allow-read --allow-write --allow-run tests/bench/process_peak_test.ts`
 */
import { assert, assertEquals } from "@std/assert";
import { runWithPeak } from "../../tasks/bench/process_peak.ts";

const MODULE =
  new URL("../../tasks/bench/process_peak.ts", import.meta.url).href;
const PYTHON = "/usr/bin/python3";
const MiB = 2 ** 20;

/**
 * Python code that fills `mib` MiB, marks `ready` (a file), waits for the
 * file `other` (another such process), holds its memory one more second and
 * exits: so two of them hold their memory at the same time however slow the
 * machine.
 */
const hold = (mib: number, ready: string, other = ready) =>
  "import os, time\n" +
  `b = b"x" * (${mib} << 20)\n` +
  `open("${ready}", "w").close()\n` +
  `while not os.path.exists("${other}"): time.sleep(0.05)\n` +
  "time.sleep(1)\n";

Deno.test("runWithPeak: a child's peak, from outside", async () => {
  const dir = await Deno.makeTempDir();
  const run = await runWithPeak(PYTHON, {
    args: ["-c", hold(120, `${dir}/a`)],
  });
  await Deno.remove(dir, { recursive: true });
  assertEquals(run.code, 0);
  assertEquals(run.exactProcessPeak, GNU_TIME);
  // The 120 MiB plus the interpreter (about 10 MiB), not much more.
  assert(run.processBytes >= 120 * MiB, `${run.processBytes}`);
  assert(run.processBytes < 200 * MiB, `${run.processBytes}`);
  assert(run.treeBytes >= 120 * MiB && run.samples > 5);
});

Deno.test("runWithPeak: the processes below the child count", async () => {
  // A shell starts two Pythons at once (as deno task starts deno run): the
  // tree holds both, the largest process one of them.
  const dir = await Deno.makeTempDir();
  const [a, b] = [`${dir}/a`, `${dir}/b`];
  await Deno.writeTextFile(`${dir}/a.py`, hold(100, a, b));
  await Deno.writeTextFile(`${dir}/b.py`, hold(60, b, a));
  const run = await runWithPeak("bash", {
    args: ["-c", `${PYTHON} ${dir}/a.py & ${PYTHON} ${dir}/b.py; wait`],
  });
  await Deno.remove(dir, { recursive: true });
  assertEquals(run.code, 0);
  assert(run.treeBytes >= 160 * MiB, `tree ${run.treeBytes}`);
  assert(run.processBytes >= 100 * MiB, `process ${run.processBytes}`);
  assert(run.processBytes < 160 * MiB, `process ${run.processBytes}`);
});

Deno.test("runWithPeak: the poller costs the command next to nothing", async () => {
  // Three seconds of a child that does nothing: every CPU tick is the
  // poller's. A poller that starts a process per sample, or walks every
  // thread at every sample, takes far more and slows what it measures.
  const run = await runWithPeak("bash", { args: ["-c", "sleep 3 & wait"] });
  assertEquals(run.code, 0);
  assert(run.samples > 100, `${run.samples} samples`);
  assert(
    run.pollerCpuSeconds < 0.1 * run.wallSeconds,
    `the poller used ${run.pollerCpuSeconds} s of CPU in ${run.wallSeconds} s`,
  );
});

Deno.test("runWithPeak: output and exit code come back", async () => {
  const run = await runWithPeak("bash", {
    args: ["-c", "echo out; echo err >&2; exit 3"],
  });
  assertEquals([run.code, run.stdout, run.stderr], [3, "out\n", "err\n"]);
});

Deno.test("runWithPeak: a missing command exits 127, as in a shell", async () => {
  const run = await runWithPeak("/nonexistent/command");
  assertEquals(run.code, 127);
  assert(run.stderr.includes("/nonexistent/command"), run.stderr);
});

/** Whether GNU time is installed (`.ci/run` installs Debian's `time`). */
const GNU_TIME = await Deno.stat("/usr/bin/time").then(() => true, () => false);

Deno.test({
  name:
    "runWithPeak: a peak between two samples is still the exact peak (GNU time's ru_maxrss)",
  ignore: !GNU_TIME,
  async fn() {
    // A child that fills 100 MiB and exits at once, with a sample a second:
    // the first sample comes before the child has filled anything, the next
    // after it ended. Only the kernel's figure can see it.
    const run = await runWithPeak(PYTHON, {
      args: ["-c", "b = b'x' * (100 << 20)"],
      intervalMs: 1000,
    });
    assertEquals(run.code, 0);
    assert(run.exactProcessPeak);
    assert(run.processBytes >= 100 * MiB, `${run.processBytes}`);
    assert(run.processBytes < 160 * MiB, `${run.processBytes}`);
  },
});

Deno.test("runWithPeak: needs --allow-run only, not --allow-all", async () => {
  // Deno 2.9 refuses /proc to a program without --allow-all; the poller is
  // a subprocess, so a child Deno with --allow-run alone still measures.
  const code = `import { runWithPeak } from "${MODULE}";
const r = await runWithPeak("${PYTHON}", { args: ["-c", "b = b'x' * (50 << 20)"] });
console.log(r.code, r.processBytes >= (50 << 20));`;
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(file, code);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-config", "--allow-read", "--allow-run", file],
    env: { NO_COLOR: "1" },
  }).output();
  await Deno.remove(file);
  const text = new TextDecoder().decode(out.stdout);
  assertEquals(text, "0 true\n", new TextDecoder().decode(out.stderr));
});

/**
 * Interrupts (Jupyter's Stop: SIGINT to the kernel) against the real Deno
 * kernel, driven with `jupyter_client` as Jupyter and VS Code drive it:
 * training stops at a step with a one-line `TrainingInterrupted`, the kernel
 * lives with its variables, the next cell predicts with the half-trained
 * model and training continues to exactly the weights of an uninterrupted
 * run; two interrupts at once; `classify` and `evaluate` stop too; an
 * interrupt between cells does nothing; no worker thread keeps running.
 *
 * Needs Jupyter (`jupyter-client`) and the Deno kernelspec; under CI=true
 * their absence fails the test.
 *
 * Run: deno test --allow-read --allow-write --allow-env --allow-run tests/interrupt/interrupt_test.ts
 */
import {
  assert,
  assertEquals,
  assertGreater,
  assertLess,
  assertMatch,
} from "@std/assert";
import {
  type CellRun,
  KERNEL_TEST_IMAGES,
  KernelSession,
  LOAD_MNIST,
  messageText,
  stdoutOf,
} from "../jupyter/kernel.ts";

const CI = Deno.env.get("CI") === "true";
const missing = await KernelSession.missing();
if (missing) {
  console.warn(
    `interrupt_test: ${missing}; ${CI ? "failing (CI=true)" : "ignoring"}`,
  );
}

/** Training samples of each run: 32 steps of 128. */
const LIMIT = 4096;
/** The progress bar once it shows 512 samples or more. */
const MID_TRAINING = `(?:[5-9]\\d\\d|[1-3]\\d{3})/${LIMIT} \\[`;

/** Asserts the cell ended with exactly one error, of `ename`; returns it. */
function assertStopped(run: CellRun, ename: string) {
  assert(run.alive, "the kernel died");
  assert(run.idle, "the cell never ended");
  const errors = run.messages.filter((m) => m.msg_type === "error");
  assertEquals(errors.length, 1, JSON.stringify(run.messages).slice(0, 3000));
  const { content } = errors[0];
  assertEquals(content.ename, ename, messageText(errors[0]));
  assertEquals(run.reply?.status, "error");
  // One line: the error itself, no stack of lib internals.
  assertEquals(content.traceback, [`${ename}: ${content.evalue}`]);
  return content;
}

/** The worker threads (Deno names them `worker-N`) of process `pid`. */
async function workerThreads(pid: number): Promise<number> {
  const out = await new Deno.Command("ps", {
    args: ["-T", "-o", "comm=", "-p", String(pid)],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n")
    .filter((name) => name.startsWith("worker-")).length;
}

/** The last value of a cell (its `execute_result` text). */
function resultOf(run: CellRun): string {
  const result = run.messages.find((m) => m.msg_type === "execute_result");
  return result ? messageText(result).trim() : "";
}

Deno.test({
  name:
    "Stop in a Deno kernel: training, classify and evaluate stop at a step; the kernel, model and data live on",
  ignore: missing !== undefined && !CI,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    if (missing) throw new Error(`cannot start a Deno kernel: ${missing}`);
    const kernel = await KernelSession.start();
    try {
      await kernel.ok(`import {
  buildModel, classify, evaluate, initBackend, loadMnist, predictClasses, train,
} from "../lib/mod.ts";
await initBackend();
${LOAD_MNIST}
const model = buildModel({ seed: 2 });
const options = { epochs: 1, limit: ${LIMIT}, seed: 2, threads: 2 };`);
      const pid = await kernel.pid();
      const workers = await workerThreads(pid);
      assertGreater(workers, 0, "the interrupt watcher's thread");
      let step = 0;

      await t.step("training stops at a step, naming it", async () => {
        const run = await kernel.execute(
          `await train(model, mnist, options);`,
          {
            interrupt: [{ when: MID_TRAINING }],
          },
        );
        const error = assertStopped(run, "TrainingInterrupted");
        const match = error.evalue!.match(
          /^stopped in epoch 1 at step (\d+) of 32; the model keeps the weights of step (\d+)$/,
        );
        if (!match) throw new Error(`unexpected message: ${error.evalue}`);
        step = Number(match[1]);
        assertEquals(match[2], match[1]);
        assertGreater(step, 3, "the bar showed 512 samples before the Stop");
        assertLess(step, 32);
        console.log(
          `interrupted ${run.interrupts[0]} s into the cell: ${error.evalue}`,
        );
      });

      await t.step("the pool's worker threads are gone", async () => {
        // As before training: the interrupt watcher's thread, no pool.
        let now = await workerThreads(pid);
        for (let i = 0; i < 40 && now > workers; i++) {
          await new Promise((resolve) => setTimeout(resolve, 250));
          now = await workerThreads(pid);
        }
        assertEquals(now, workers, "worker threads left after the interrupt");
      });

      await t.step(
        "the next cell sees model and mnist and predicts",
        async () => {
          const run = await kernel.ok(
            `[model.countParams(), mnist.train.count, (await predictClasses(model, mnist.train, { count: 10 })).join(" ")]`,
          );
          const value = resultOf(run);
          assertMatch(value, /1199882, 60000, "\d( \d){9}"/);
          console.log(
            `the next cell, with the model of step ${step}: ${value}`,
          );
        },
      );

      await t.step(
        "training continues from that step to the weights of an uninterrupted run",
        async () => {
          const run = await kernel.ok(
            `
const resumed = await train(model, mnist, { ...options, initialStep: ${step}, verbose: false });
const reference = buildModel({ seed: 2 });
await train(reference, mnist, { ...options, verbose: false });
const diff = Math.max(...model.getWeights().map((w, i) => {
  const a = w.dataSync(), b = reference.getWeights()[i].dataSync();
  return a.reduce((m, v, j) => Math.max(m, Math.abs(v - b[j])), 0);
}));
console.log(\`max |Δw| \${diff}; test accuracy \${resumed.test.acc.toFixed(4)}\`);
console.log((await predictClasses(model, mnist.train, { count: 10 })).join(" "));`,
            900,
          );
          const out = stdoutOf(run);
          const diff = Number(out.match(/max \|Δw\| (\S+);/)?.[1]);
          assertEquals(diff, 0, out);
          console.log(`continued from step ${step}: ${out.trim()}`);
        },
      );

      await t.step(
        "two interrupts at once: one error, the kernel lives",
        async () => {
          const run = await kernel.execute(
            `await train(model, mnist, options);`,
            {
              interrupt: [{ when: MID_TRAINING }, { after_s: 0 }],
            },
          );
          assertEquals(run.interrupts.length, 2);
          assertStopped(run, "TrainingInterrupted");
          // A later operation is not stopped by the interrupts before it.
          const next = await kernel.ok(
            `(await predictClasses(model, mnist.train, { count: 10 })).length`,
          );
          assertEquals(resultOf(next), "10");
        },
      );

      // The operation is called before the line that triggers the Stop is
      // printed: it watches for interrupts from its call (synchronously,
      // before its first await), so the Stop lands during it however loaded
      // the machine is. Printed before the call, a Stop could arrive between
      // the two and count as one before the operation.
      await t.step("classify stops between batches", async () => {
        const run = await kernel.execute(
          `const classifying = classify(model, mnist.train);
console.log("classifying");
(await classifying).classes.length`,
          { interrupt: [{ when: "classifying" }] },
        );
        const error = assertStopped(run, "Interrupted");
        assertMatch(
          error.evalue!,
          /^classify stopped after \d+ of 60000 images; nothing was kept$/,
        );
      });

      await t.step("evaluate stops between batches", async () => {
        const run = await kernel.execute(
          `const evaluating = evaluate(model, mnist.train);
console.log("evaluating");
await evaluating`,
          { interrupt: [{ when: "evaluating" }] },
        );
        const error = assertStopped(run, "Interrupted");
        assertMatch(
          error.evalue!,
          /^evaluate stopped after \d+ of 60000 samples; the model is unchanged$/,
        );
      });

      await t.step(
        "an interrupt between cells leaves the kernel alive",
        async () => {
          assert(await kernel.interruptIdle(), "the kernel died");
          const run = await kernel.ok(`mnist.test.count`);
          assertEquals(resultOf(run), String(KERNEL_TEST_IMAGES));
        },
      );
    } finally {
      await kernel.close();
    }
  },
});

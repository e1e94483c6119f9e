/**
 * The Jupyter protocol behaviours front ends rely on (VS Code's known
 * troubles with Deno's kernel: denoland/deno#24437, #22689, #28505), checked
 * on the real Deno kernel through `jupyter_client`: every line of a
 * multi-line `console.log` arrives; an async cell's result is its final
 * value; several displays from one cell all arrive, in order; the live
 * training chart and the progress bar are each one `display_data` followed
 * by `update_display_data` for the same `display_id`. And Cell → Run All of
 * `mnist_cnn.ipynb` (every execute request sent at once, `MNIST_LIMIT=256`)
 * in three fresh kernels puts every output under the cell that made it
 * (denoland/deno#24737: Deno's kernel stamps an output with the request
 * current when it sends it, not when the cell made it).
 *
 * Needs Jupyter (`jupyter-client`) and the Deno kernelspec; under CI=true
 * their absence fails the test.
 *
 * Run: deno test --allow-read --allow-write --allow-env --allow-run tests/jupyter/protocol_test.ts
 */
import { assert, assertEquals, assertGreater } from "@std/assert";
import { join } from "node:path";
import { NOTEBOOKS, readNotebook } from "../../tasks/notebook_runner/mod.ts";
import { MARKER_PREFIX } from "../../lib/jupyter/mod.ts";
import {
  KernelSession,
  LOAD_MNIST,
  messageText,
  type RunAll,
  stdoutOf,
} from "./kernel.ts";
import { misplaced } from "./outputs.ts";

const CI = Deno.env.get("CI") === "true";
const missing = await KernelSession.missing();
if (missing) {
  console.warn(
    `protocol_test: ${missing}; ${CI ? "failing (CI=true)" : "ignoring"}`,
  );
}

/**
 * mnist_cnn.ipynb's code cells, run with a small limit and test set
 * ({@linkcode LOAD_MNIST}) into a scratch model directory.
 */
async function mnistCells(modelDir: string): Promise<string[]> {
  const nb = await readNotebook(join(NOTEBOOKS, "mnist_cnn.ipynb"));
  const code = nb.cells.filter((c) => c.cell_type === "code")
    .map((c) => [c.source].flat().join(""));
  const edits: [RegExp | string, string][] = [
    [/^const limit = .*$/m, "const limit = 256;"],
    ["const mnist = await loadMnist();", LOAD_MNIST],
  ];
  for (const [from] of edits) {
    const found = code.some((c) =>
      typeof from === "string" ? c.includes(from) : from.test(c)
    );
    assert(found, `no ${from} in the notebook`);
  }
  return code.map((c) =>
    edits.reduce((text, [from, to]) => text.replace(from, to), c)
      .replaceAll("../models/mnist_cnn", modelDir)
  );
}

/**
 * Checks that every output of a Run All names the cell that made it as its
 * parent ({@linkcode misplaced}), that every cell ran, and that nothing came
 * after its cell's idle or named no cell.
 */
function assertEachUnderItsCell(cells: string[], run: RunAll): void {
  assertEquals(run.replies, cells.map(() => "ok"), "every cell ran");
  const late = run.messages.filter((m) => m.late);
  assertEquals(late.map((m) => `${m.cell}: ${m.msg_type}`), [], "late");
  const orphans = run.messages.filter((m) => m.cell < 0);
  assertEquals(orphans.length, 0, "messages of no cell");
  assertEquals(
    misplaced(cells.map((source, i) => ({
      source,
      outputs: run.messages.filter((m) => m.cell === i).map((m) => ({
        type: m.msg_type,
        displayId: m.display_id,
        text: m.text,
      })),
    }))),
    [],
  );
}

Deno.test({
  name: "the Deno kernel's messages, as VS Code and Jupyter read them",
  ignore: missing !== undefined && !CI,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    if (missing) throw new Error(`cannot start a Deno kernel: ${missing}`);
    const modelDir = await Deno.makeTempDir({ prefix: "protocol_model_" });
    const kernel = await KernelSession.start();
    try {
      // A fresh kernel: Cell → Run All of mnist_cnn.ipynb first (the other
      // fresh-kernel runs are in the test below).
      await t.step(
        "Run All of mnist_cnn.ipynb: every output under its own cell",
        async () => {
          const cells = await mnistCells(modelDir);
          assertEachUnderItsCell(cells, await kernel.runAll(cells));
        },
      );

      await kernel.ok(`import {
  buildModel, initBackend, liveTrainingChart, loadMnist, showMetrics, train,
} from "../lib/mod.ts";
import { displayLive } from "../lib/jupyter/mod.ts";
await initBackend();`);

      await t.step(
        "every line of a multi-line console.log arrives",
        async () => {
          const run = await kernel.ok(
            `console.log("one\\ntwo\\nthree"); console.log("four"); console.log(["five", "six"].join("\\n"));`,
          );
          assertEquals(stdoutOf(run), "one\ntwo\nthree\nfour\nfive\nsix\n");
        },
      );

      await t.step("an async cell's result is its final value", async () => {
        const run = await kernel.ok(
          `await new Promise((resolve) => setTimeout(resolve, 300));
const answer = await Promise.resolve(6);
answer * 7`,
        );
        const results = run.messages.filter((m) =>
          m.msg_type === "execute_result"
        );
        assertEquals(results.length, 1);
        assertEquals(messageText(results[0]).trim(), "42");
      });

      await t.step(
        "several displays from one cell arrive, in order",
        async () => {
          const run = await kernel.ok(
            `await displayLive({ "text/plain": "first" }, { id: "p-1" });
console.log("between");
await displayLive({ "text/plain": "second" }, { id: "p-2" });
await showMetrics({ third: 3 });`,
          );
          const shown = run.messages
            .filter((m) =>
              m.msg_type !== "execute_input" &&
              !m.content.transient?.display_id?.startsWith(MARKER_PREFIX)
            )
            .map((m) =>
              `${m.msg_type}: ${messageText(m).trim().split("\n")[0]}`
            );
          assertEquals(shown, [
            "display_data: first",
            "stream: between",
            "display_data: second",
            "display_data: metric  value",
          ]);
        },
      );

      await t.step(
        "the live chart and the progress bar: one display each, updated by display_id",
        async () => {
          const run = await kernel.ok(`${LOAD_MNIST}
await train(buildModel({ seed: 1 }), mnist, {
  limit: 1024, seed: 1, threads: 1, ...liveTrainingChart({ intervalMs: 0 }),
});`);
          const ids = new Map<string, string[]>();
          for (const m of run.messages) {
            const id = m.content.transient?.display_id;
            if (id) ids.set(id, [...ids.get(id) ?? [], m.msg_type]);
          }
          const chart = [...ids].find(([id]) =>
            id.startsWith("mnist-cnn-chart-")
          );
          const bar = [...ids].find(([id]) =>
            id.startsWith("mnist-cnn-progress-")
          );
          if (!chart || !bar) {
            throw new Error(`display ids: ${[...ids.keys()]}`);
          }
          for (const [id, types] of [chart, bar]) {
            assertEquals(types[0], "display_data", id);
            assertGreater(types.length, 1, `${id} was never updated`);
            assert(
              types.slice(1).every((t) => t === "update_display_data"),
              `${id}: ${types}`,
            );
          }
          const last = run.messages.filter((m) =>
            m.content.transient?.display_id === bar[0]
          ).at(-1)!;
          assert(
            /1024\/1024 \[=+\]/.test(messageText(last)),
            `the bar ends full: ${messageText(last)}`,
          );
        },
      );
    } finally {
      await kernel.close();
      await Deno.remove(modelDir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "Run All of mnist_cnn.ipynb in two more fresh kernels: every output under its own cell",
  ignore: missing !== undefined && !CI,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    if (missing) throw new Error(`cannot start a Deno kernel: ${missing}`);
    const modelDir = await Deno.makeTempDir({ prefix: "protocol_model_" });
    try {
      const cells = await mnistCells(modelDir);
      for (let run = 0; run < 2; run++) {
        const kernel = await KernelSession.start();
        try {
          assertEachUnderItsCell(cells, await kernel.runAll(cells));
        } finally {
          await kernel.close();
        }
      }
    } finally {
      await Deno.remove(modelDir, { recursive: true });
    }
  },
});

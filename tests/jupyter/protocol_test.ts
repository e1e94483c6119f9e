/**
 * The Jupyter protocol behaviours front ends rely on (VS Code's known
 * troubles with Deno's kernel: denoland/deno#24437, #22689, #28505), checked
 * on the real Deno kernel through `jupyter_client`: every line of a
 * multi-line `console.log` arrives; an async cell's result is its final
 * value; several displays from one cell all arrive, in order; the live
 * training chart and the progress bar are each one `display_data` followed
 * by `update_display_data` for the same `display_id`.
 *
 * Needs Jupyter (`jupyter-client`) and the Deno kernelspec; under CI=true
 * their absence fails the test.
 *
 * Run: deno test --allow-read --allow-write --allow-env --allow-run tests/jupyter/protocol_test.ts
 */
import { assert, assertEquals, assertGreater } from "@std/assert";
import { KernelSession, messageText, stdoutOf } from "./kernel.ts";

const CI = Deno.env.get("CI") === "true";
const missing = await KernelSession.missing();
if (missing) {
  console.warn(
    `protocol_test: ${missing}; ${CI ? "failing (CI=true)" : "ignoring"}`,
  );
}

Deno.test({
  name: "the Deno kernel's messages, as VS Code and Jupyter read them",
  ignore: missing !== undefined && !CI,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    if (missing) throw new Error(`cannot start a Deno kernel: ${missing}`);
    const kernel = await KernelSession.start();
    try {
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
showMetrics({ third: 3 })`,
          );
          const shown = run.messages
            .filter((m) => m.msg_type !== "execute_input")
            .map((m) =>
              `${m.msg_type}: ${messageText(m).trim().split("\n")[0]}`
            );
          assertEquals(shown, [
            "display_data: first",
            "stream: between",
            "display_data: second",
            "execute_result: metric  value",
          ]);
        },
      );

      await t.step(
        "the live chart and the progress bar: one display each, updated by display_id",
        async () => {
          const run = await kernel.ok(`const mnist = await loadMnist();
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
    }
  },
});

import { assertEquals, assertMatch } from "@std/assert";
import {
  formatEta,
  logSink,
  ProgressBar,
  type ProgressSink,
} from "../../lib/jupyter/progress.ts";

function recorder(
  intervalMs: number,
): ProgressSink & { lines: [string, boolean][] } {
  const lines: [string, boolean][] = [];
  return {
    intervalMs,
    lines,
    write: (line, final) => void lines.push([line, final]),
  };
}

Deno.test("ProgressBar: Keras's final line format", () => {
  let now = 0;
  const sink = recorder(0);
  const bar = new ProgressBar({ total: 60000, sink, now: () => now });
  now = 189_000;
  const line = bar.finish({
    loss: 0.26544,
    acc: 0.91843,
    val_loss: 0.0592,
    val_acc: 0.9812,
  }, 469);
  assertEquals(
    line,
    "60000/60000 [==============================] - 189s 403ms/step - loss: 0.2654 - acc: 0.9184 - val_loss: 0.0592 - val_acc: 0.9812",
  );
  assertEquals(sink.lines, [[line, true]]);
});

Deno.test("ProgressBar: given the steps' own time, the final line agrees with it", () => {
  // 32 steps took 21.2 s; validation took 12 s more. The line says 21 s and
  // 663 ms a step, as the epoch time does, not 33 s and 1032 ms a step.
  let now = 0;
  const bar = new ProgressBar({
    total: 4096,
    sink: recorder(0),
    now: () => now,
  });
  now = 33_000;
  const line = bar.finish({ loss: 1, acc: 0.5 }, 32, 21.2);
  assertMatch(line, / - 21s 663ms\/step - loss: 1\.0000/);
});

Deno.test("ProgressBar: running lines show the arrow, ETA and metrics", () => {
  let now = 0;
  const sink = recorder(0);
  const bar = new ProgressBar({ total: 60000, sink, now: () => now });
  now = 10_000;
  bar.update(3840, { loss: 1.01512, acc: 0.67551 });
  assertEquals(
    sink.lines[0][0],
    " 3840/60000 [>" + ".".repeat(29) +
      "] - ETA: 2:26 - loss: 1.0151 - acc: 0.6755",
  );
  assertEquals(sink.lines[0][1], false);
});

Deno.test("ProgressBar: updates are throttled, never one line per step", () => {
  let now = 0;
  const sink = recorder(500);
  const bar = new ProgressBar({ total: 60000, sink, now: () => now });
  for (let seen = 128; seen < 60000; seen += 128) {
    now += 50; // 20 steps a second
    bar.update(seen, { loss: 1, acc: 0.5 });
  }
  bar.finish({ loss: 1, acc: 0.5 }, 469);
  // 469 steps over 23.4 s at one line per 500 ms: 47 lines, not 469.
  assertEquals(sink.lines.length <= 48, true, `${sink.lines.length} lines`);
});

Deno.test("logSink: prints whole lines; formatEta as Keras", () => {
  const printed: string[] = [];
  const sink = logSink((l) => printed.push(l), 0);
  sink.write("a", false);
  assertEquals(printed, ["a"]);
  assertEquals(formatEta(45), "45s");
  assertEquals(formatEta(155), "2:35");
  assertMatch(formatEta(3723), /^1:02:03$/);
});

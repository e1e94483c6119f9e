/**
 * The training chart places each step along the epoch by the samples the
 * whole epoch has (what `train` reports in each step's `samplesPerEpoch`):
 * after step 25 of 469 the curves end near 25/469 of the first epoch, not at
 * its end. A training stopped after one step still gets a labelled axis.
 *
 * Run: deno test --allow-read tests/charts/curves_test.ts
 */
import { assert, assertAlmostEquals } from "@std/assert";
import { trainingChart } from "../../lib/charts/mod.ts";
import type { StepLog } from "../../lib/mod.ts";

/** Steps 1..25 of an epoch of 469 batches of 128. */
const STEPS: StepLog[] = Array.from({ length: 25 }, (_, i) => ({
  epoch: 0,
  step: i + 1,
  samples: 128 * (i + 1),
  samplesPerEpoch: 60_000,
  loss: 2.3 - 0.02 * i,
  acc: 0.1 + 0.01 * i,
}));

/** The x of the first and the last point of the raw per-step loss line. */
function lossLine(svg: string) {
  const d = svg.match(/<g[^>]*stroke="#a5d8ff"[^>]*><path d="([^"]+)"/)?.[1];
  if (!d) throw new Error("no raw loss line");
  const xs = [...d.matchAll(/[ML]([\d.]+),/g)].map((m) => Number(m[1]));
  return { first: xs[0], last: xs.at(-1)! };
}

Deno.test("after step 25 of 469 the curves end near 25/469 of the epoch", () => {
  // The panel's x axis runs from 0 to 1 epoch; the line starts at 1/469.
  const live = lossLine(trainingChart({ epochs: [], steps: STEPS }));
  const whole = lossLine(
    trainingChart({ epochs: [], steps: STEPS }, { samplesPerEpoch: 128 * 25 }),
  );
  // With the epoch's true size the line spans 24/469 of what it spans when
  // the 25 steps are the whole epoch.
  assertAlmostEquals(
    (live.last - live.first) / (whole.last - whole.first),
    (24 * 128 / 60_000) / (24 / 25),
    0.01,
  );
  assert(live.last - live.first < 0.1 * (whole.last - whole.first));
});

/** The loss panel's tick labels and axis label (the chart's first panel). */
function lossAxis(svg: string) {
  const panel = svg.slice(0, svg.indexOf("↑ accuracy"));
  const labels = panel.match(/y-axis tick label"[^]*?<\/g>/)?.[0] ?? "";
  return {
    ticks: [...labels.matchAll(/>([^<]+)<\/text>/g)].map((m) => m[1]),
    label: panel.match(/↑ (loss[^<]*)</)?.[1],
  };
}

Deno.test("a training stopped after one step: its point, and a loss axis with labelled ticks", () => {
  const svg = trainingChart({ epochs: [], steps: STEPS.slice(0, 1) });
  const { ticks, label } = lossAxis(svg);
  // Plot's own log axis over one value: one tick labelled "2.3" to six digits
  // at most, or none; here a few evenly spaced, around the step's loss.
  assert(ticks.length >= 3, `ticks ${ticks}`);
  const values = ticks.map(Number);
  assert(values.every((v) => v > 0 && String(v).length <= 4), `${ticks}`);
  assert(values[0] < 2.3 && values.at(-1)! > 2.3, `${ticks}`);
  assert(label === "loss (cross-entropy)", label);
  // Its point is drawn (one point makes no line).
  assert(/<circle[^>]*fill="#1c7ed6"/.test(svg), "no point of the step");
  // Over a whole epoch's fall the axis is the log scale.
  const whole = lossAxis(
    trainingChart({
      epochs: [],
      steps: STEPS.map((s, i) => ({ ...s, loss: 2.3 * 0.9 ** i })),
    }),
  );
  assert(whole.label === "loss (cross-entropy, log scale)", whole.label);
});

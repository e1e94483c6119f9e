/**
 * The training chart places each step along the epoch by the samples the
 * whole epoch has (what `train` reports in each step's `samplesPerEpoch`):
 * after step 25 of 469 the curves end near 25/469 of the first epoch, not at
 * its end.
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

/**
 * Tests of lib/charts on a real training run and real predictions: the
 * history files (Keras's CSVLogger format, read back), the confusion matrix
 * (adds up to 10,000 and agrees with evaluate()), per-class metrics, the
 * mistakes (really wrong), the charts' SVG, and report.html opened in real
 * headless Chromium with every chart drawn and not blank.
 *
 * Run: deno test --allow-read --allow-write --allow-env --allow-run --allow-net=127.0.0.1 tests/charts/charts_test.ts
 */
import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertGreater,
  assertMatch,
} from "@std/assert";
import { join } from "node:path";
import {
  buildModel,
  classify,
  classMetrics,
  classMetricsBundle,
  confusionMatrix,
  confusionMatrixBundle,
  evaluate,
  type History,
  mistakesBundle,
  readHistory,
  reportHtml,
  saveHistory,
  train,
  trainingChartBundle,
  worstMistakes,
  writeReport,
} from "../../lib/mod.ts";
import { confusionChart, trainingChart } from "../../lib/charts/mod.ts";
import { historyCsv } from "../../lib/checkpoint/history.ts";
import { launchBrowser, skipBrowser } from "../browser.ts";
import { realMnist, silent, trainedModel } from "../helpers.ts";

const mnist = await realMnist();
const { model } = await trainedModel();
const results = await classify(model, mnist.test);

/** A short real run with its history, as the train task records it. */
async function shortRun(): Promise<History> {
  const history: History = { epochs: [], steps: [] };
  await train(buildModel({ seed: 5 }), mnist, {
    epochs: 2,
    limit: 1024,
    seed: 5,
    sink: silent,
    verbose: false,
    onStep: (log) => history.steps.push(log),
    onEpochEnd: ({ epoch, loss, acc, val_loss, val_acc }) => {
      history.epochs.push({ epoch, loss, acc, val_loss, val_acc });
    },
  });
  return history;
}
const history = await shortRun();

Deno.test("history.csv is Keras's CSVLogger format and reads back", async () => {
  const csv = historyCsv(history.epochs);
  const lines = csv.split("\r\n");
  assertEquals(lines[0], "epoch,acc,loss,val_acc,val_loss");
  assertEquals(lines.length, 4, "header, two epochs, and a final CRLF");
  assertMatch(lines[1], /^0,0\.\d+,\d+\.\d+,0\.\d+,\d+\.\d+$/);
  const dir = await Deno.makeTempDir();
  await saveHistory(dir, history);
  const back = await readHistory(dir);
  assertEquals(back.epochs, history.epochs);
  assertEquals(back.steps, history.steps);
  assertEquals(history.steps.length, 2 * 8, "8 steps of 128 per epoch");
  assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
    "history.csv",
    "steps.csv",
  ]);
  assertEquals(await readHistory(join(dir, "nowhere")), {
    epochs: [],
    steps: [],
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the confusion matrix adds up to 10,000 and agrees with evaluate()", async () => {
  const matrix = confusionMatrix(results);
  assertEquals(matrix.flat().reduce((a, b) => a + b, 0), 10_000);
  matrix.forEach((row, digit) =>
    assertEquals(
      row.reduce((a, b) => a + b, 0),
      mnist.test.labels.filter((l) => l === digit).length,
      `row ${digit} counts the test images of ${digit}`,
    )
  );
  const diagonal = matrix.reduce((a, row, i) => a + row[i], 0);
  assertAlmostEquals(
    diagonal / 10_000,
    (await evaluate(model, mnist.test)).acc,
    1e-9,
  );
  const metrics = classMetrics(matrix);
  assertEquals(
    metrics.map((m) => m.support).reduce((a, b) => a + b, 0),
    10_000,
  );
  for (const m of metrics) {
    assertAlmostEquals(m.recall, matrix[m.digit][m.digit] / m.support, 1e-12);
    assert(m.f1 <= Math.max(m.precision, m.recall) + 1e-12);
  }
});

Deno.test("the mistakes shown are really wrong, most confident first", () => {
  const mistakes = worstMistakes(results, 20);
  assertEquals(mistakes.length, 20);
  for (const m of mistakes) {
    assertEquals(mnist.test.labels[m.index], m.label);
    assert(m.predicted !== m.label, `#${m.index} is not a mistake`);
  }
  for (let i = 1; i < mistakes.length; i++) {
    assert(mistakes[i - 1].probability >= mistakes[i].probability);
  }
  const shown = mistakesBundle(mnist.test, results, 12);
  assertEquals(shown["text/html"]!.split("<img ").length - 1, 12);
  assertEquals(shown["text/plain"].split("\n").length, 12);
});

Deno.test("the charts are SVG with their marks; the notebook values render as charts", () => {
  const curves = trainingChart(history);
  assertMatch(curves, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assertGreater(curves.split("<path").length, 6, "lines drawn");
  assertGreater(curves.split("<circle").length, 2, "test-set points");
  const heat = confusionChart(confusionMatrix(results));
  assertEquals(heat.split("<rect").length - 1 >= 100, true, "100 cells");
  assert(trainingChartBundle(history)["image/svg+xml"]!.startsWith("<svg"));
  assert(confusionMatrixBundle(results)["image/svg+xml"]!.startsWith("<svg"));
  assertMatch(classMetricsBundle(results)["text/plain"], /precision/);
});

Deno.test({
  name:
    "report.html opens in headless Chromium with every chart drawn and not blank",
  ignore: await skipBrowser(),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const path = join(dir, "report.html");
    await writeReport(
      path,
      reportHtml({
        title: "test model",
        history,
        results,
        split: mnist.test,
        model,
        explained: 4,
      }),
    );
    const html = await Deno.readTextFile(path);
    assert(
      !/<script|https?:\/\//.test(
        html.replaceAll("http://www.w3.org/2000/svg", ""),
      ),
      "self-contained",
    );
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(`file://${path}`);
      const seen = await page.evaluate(`(() => {
        const size = (sel) => {
          const e = document.querySelector(sel);
          if (!e) return null;
          const r = e.getBoundingClientRect();
          return { w: r.width, h: r.height, marks: e.querySelectorAll("path, rect, circle, text").length };
        };
        const imgs = [...document.querySelectorAll("#mistakes img")];
        return {
          curves: size("#curves svg"),
          confusion: size("#confusion svg"),
          rows: document.querySelectorAll("#per-class tr").length,
          images: imgs.length,
          loaded: imgs.filter((i) => i.complete && i.naturalWidth === 84).length,
          explained: [...document.querySelectorAll("#explained img")]
            .filter((i) => i.complete && i.naturalWidth > 0).length,
          captions: [...document.querySelectorAll("#explained td span")]
            .map((s) => s.textContent),
        };
      })()`) as {
        curves: { w: number; h: number; marks: number };
        confusion: { w: number; h: number; marks: number };
        rows: number;
        images: number;
        loaded: number;
        explained: number;
        captions: string[];
      };
      for (const chart of [seen.curves, seen.confusion]) {
        assert(chart && chart.w > 300 && chart.h > 200, JSON.stringify(seen));
        assertGreater(chart.marks, 50, "marks drawn");
      }
      assertEquals(seen.rows, 11, "header and ten digits");
      assertEquals(seen.images, 24);
      assertEquals(seen.loaded, 24, "every mistake's image decoded");
      // Four mistakes explained: the digit and four maps each, three colour bars.
      assertEquals(seen.explained, 4 * 5 + 3, "every explanation decoded");
      assertEquals(seen.captions.length, 4);
      for (const caption of seen.captions) assertMatch(caption, / read as \d/);
      const shot = await page.screenshot({ type: "png" }) as Uint8Array;
      assertGreater(shot.length, 20_000, "a screenshot with something on it");
    } finally {
      await browser.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

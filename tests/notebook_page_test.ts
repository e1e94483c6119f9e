/**
 * The notebooks in a real Jupyter page: Debian's Jupyter Notebook (classic
 * 6.x) on a free loopback port with a random token, opened in headless
 * Chromium. Each notebook runs from the page (Cell → Run All) with the Deno
 * kernel; the test checks what a learner sees: no error output, every chart
 * and gallery visible with a size, the live training chart one output
 * updated in place, the prediction line; and the toolbar's Stop (■) during
 * training ends the cell with `TrainingInterrupted` while the kernel stays
 * connected with its variables. This is where `mnist_cnn.ipynb`,
 * `predict.ipynb` and `your_digits.ipynb` run in a test run: their outputs,
 * as the page holds them in nbformat, are checked here too
 * (`tests/jupyter/notebook_checks.ts`).
 *
 * `MNIST_LIMIT` keeps the training small. Set NOTEBOOK_PAGE_SCREENSHOTS=DIR
 * to save screenshots of the rendered notebooks there (docs/images/ holds
 * the README's). Needs jupyter-notebook, the Deno kernelspec and chromium;
 * under CI=true their absence fails the test.
 *
 * Run: deno test --allow-read --allow-write --allow-env --allow-run --allow-net=127.0.0.1 tests/notebook_page_test.ts
 */
import { assert, assertEquals, assertGreater, assertMatch } from "@std/assert";
import { join } from "node:path";
import type { Browser, Page } from "puppeteer-core";
import { launchBrowser, missingChromium } from "./browser.ts";
import { missingJupyter, type Notebook } from "../tasks/notebook_runner/mod.ts";
import {
  missingNotebookServer,
  startNotebookServer,
} from "./jupyter/notebook_server.ts";
import { misplaced, type SeenOutput } from "./jupyter/outputs.ts";
import {
  checkMnistCnn,
  checkPredict,
  checkYourDigits,
} from "./jupyter/notebook_checks.ts";

// The page functions below run in Chromium; Deno's types have no DOM.
// deno-lint-ignore no-explicit-any
declare const document: any;
// deno-lint-ignore no-explicit-any
type HTMLElement = any;
// deno-lint-ignore no-explicit-any
type Element = any;

const CI = Deno.env.get("CI") === "true";
const SCREENSHOTS = Deno.env.get("NOTEBOOK_PAGE_SCREENSHOTS");
/** Training samples of mnist_cnn.ipynb's run (seeded: the same model every run). */
const LIMIT = 4096;
const missing = await missingChromium() ?? await missingJupyter() ??
  await missingNotebookServer();
if (missing) {
  console.warn(
    `notebook_page_test: ${missing}; ${CI ? "failing (CI=true)" : "ignoring"}`,
  );
}

/** An element's size on the page, and for images their decoded width. */
interface Box {
  width: number;
  height: number;
  natural: number;
}

/** What the page shows once a notebook ran. */
interface PageState {
  /** Code cells, by their notebook cell id. */
  cells: {
    id: string;
    prompt: string | number | null;
    text: string;
    errors: string[];
    /** Charts: SVG, inline or as an image. */
    charts: Box[];
    /** Pictures: PNG images (digits, galleries). */
    pictures: Box[];
  }[];
  /** update_display_data messages per display_id, and display_data ones. */
  updates: Record<string, number>;
  displays: Record<string, number>;
  connected: boolean;
}

/** Counts display messages by display_id, from the page's own kernel object. */
async function countDisplays(page: Page): Promise<void> {
  await page.evaluate(() => {
    // deno-lint-ignore no-explicit-any
    const w = globalThis as any;
    const kernel = w.Jupyter.notebook.kernel;
    w.__updates = {};
    w.__displays = {};
    const original = kernel._handle_iopub_message.bind(kernel);
    // deno-lint-ignore no-explicit-any
    kernel._handle_iopub_message = (msg: any) => {
      const type = msg.header.msg_type;
      const id = msg.content?.transient?.display_id ?? "";
      if (type === "update_display_data") {
        w.__updates[id] = (w.__updates[id] ?? 0) + 1;
      } else if (type === "display_data" && id) {
        w.__displays[id] = (w.__displays[id] ?? 0) + 1;
      }
      return original(msg);
    };
  });
}

/** Reads the page's cells, outputs and the kernel's connection. */
function readPage(page: Page): Promise<PageState> {
  return page.evaluate(() => {
    // deno-lint-ignore no-explicit-any
    const w = globalThis as any;
    const box = (el: Element) => {
      const r = el.getBoundingClientRect();
      return {
        width: r.width,
        height: r.height,
        natural: el.naturalWidth ?? r.width,
      };
    };
    // deno-lint-ignore no-explicit-any
    const cells = w.Jupyter.notebook.get_cells().filter((c: any) =>
      c.cell_type === "code"
      // deno-lint-ignore no-explicit-any
    ).map((c: any) => {
      const el = c.element[0] as HTMLElement;
      const out = el.querySelector(".output") as HTMLElement;
      return {
        id: c.id ?? "",
        prompt: c.input_prompt_number ?? null,
        text: out?.innerText ?? "",
        errors: [...el.querySelectorAll(".output_error")].map((e) =>
          (e as HTMLElement).innerText
        ),
        charts: [
          ...el.querySelectorAll(".output_area svg"),
          ...el.querySelectorAll('.output_area img[src^="data:image/svg"]'),
        ].filter((s) => !s.parentElement?.closest("svg")).map(box),
        pictures: [
          ...el.querySelectorAll('.output_area img[src^="data:image/png"]'),
        ].map(box),
      };
    });
    return {
      cells,
      updates: w.__updates ?? {},
      displays: w.__displays ?? {},
      connected: w.Jupyter.notebook.kernel.is_connected(),
    };
  });
}

/** Each code cell's source and the outputs the page holds under it. */
export function pageOutputs(
  page: Page,
): Promise<{ source: string; outputs: SeenOutput[] }[]> {
  return page.evaluate(() => {
    // deno-lint-ignore no-explicit-any
    const nb = (globalThis as any).Jupyter.notebook;
    const text = (v: unknown) =>
      Array.isArray(v) ? v.join("") : String(v ?? "");
    // deno-lint-ignore no-explicit-any
    return nb.get_cells().filter((c: any) => c.cell_type === "code").map((
      // deno-lint-ignore no-explicit-any
      c: any,
    ) => ({
      source: c.get_text(),
      // deno-lint-ignore no-explicit-any
      outputs: c.output_area.outputs.map((o: any) => ({
        type: o.output_type,
        displayId: o.transient?.display_id ?? null,
        text: o.output_type === "stream"
          ? text(o.text)
          : text(o.data?.["text/plain"] ?? o.evalue),
      })),
    }));
  });
}

/** The notebook as the page holds it: nbformat JSON, outputs included. */
function notebookJson(page: Page): Promise<Notebook> {
  return page.evaluate(() =>
    // deno-lint-ignore no-explicit-any
    (globalThis as any).Jupyter.notebook.toJSON()
  );
}

/**
 * Polls `fn` in the page until it returns something truthy, and returns it.
 * Each poll is one short call: a long `waitForFunction` would run into
 * puppeteer's protocol timeout on a loaded machine.
 */
export async function waitUntil<T>(
  page: Page,
  fn: () => T | false | null | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await page.evaluate(fn) as T | false | null | undefined;
    if (value) return value;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs / 1000} s waiting for ${what}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Opens a notebook's page in a new tab and waits for its kernel. */
export async function openNotebook(
  browser: Browser,
  url: string,
): Promise<Page> {
  const page = await browser.newPage();
  page.setDefaultNavigationTimeout(120_000);
  await page.setViewport({ width: 1000, height: 900 });
  await page.goto(url, { waitUntil: "domcontentloaded" });
  await waitUntil(
    page,
    () => {
      // deno-lint-ignore no-explicit-any
      const kernel = (globalThis as any).Jupyter?.notebook?.kernel;
      return kernel?.is_connected?.() && kernel.info_reply?.status === "ok";
    },
    180_000,
    "the kernel",
  );
  // The page never saves: the committed notebooks stay as they are.
  await page.evaluate(() =>
    // deno-lint-ignore no-explicit-any
    (globalThis as any).Jupyter.notebook.set_autosave_interval(0)
  );
  await countDisplays(page);
  return page;
}

/** Cell → Run All from the menu, then waits until every cell ran and the kernel is idle. */
async function runAll(page: Page): Promise<void> {
  await page.click("#celllink");
  await page.click("#run_all_cells a");
  await waitUntil(
    page,
    () => {
      // deno-lint-ignore no-explicit-any
      const nb = (globalThis as any).Jupyter.notebook;
      // deno-lint-ignore no-explicit-any
      const code = nb.get_cells().filter((c: any) => c.cell_type === "code");
      const icon = document.querySelector("#kernel_indicator_icon");
      return !nb.kernel_busy && icon?.classList.contains("kernel_idle_icon") &&
        // deno-lint-ignore no-explicit-any
        code.every((c: any) => typeof c.input_prompt_number === "number");
    },
    900_000,
    "every cell to run",
  );
  // Deno 2.9's kernel can publish a cell's last outputs after its idle
  // (denoland/deno#24737): wait until the page has stopped changing.
  let last = "";
  for (let i = 0; i < 40; i++) {
    const now = await page.evaluate(() =>
      (document.querySelector("#notebook-container") as HTMLElement).innerText
    );
    if (now === last) break;
    last = now;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

const byId = (state: PageState, id: string) => {
  const cell = state.cells.find((c) => c.id === id);
  if (!cell) throw new Error(`no cell "${id}" on the page`);
  return cell;
};

function assertNoErrors(state: PageState, name: string): void {
  const errors = state.cells.flatMap((c) =>
    c.errors.map((e) => `${c.id}: ${e}`)
  );
  assertEquals(errors, [], `${name} shows errors`);
}

/** Every chart and picture of the page has a size. */
function assertVisible(state: PageState, name: string): void {
  for (const c of state.cells) {
    for (
      const [kind, boxes] of [
        ["chart", c.charts],
        ["picture", c.pictures],
      ] as const
    ) {
      for (const b of boxes) {
        assert(
          b.width > 0 && b.height > 0 && b.natural > 0,
          `${name}: a ${kind} of cell ${c.id} is ${b.width}x${b.height} (${b.natural} decoded)`,
        );
      }
    }
  }
}

const digitLine = (text: string) => text.match(/^\d( \d){9}$/m)?.[0];

/** Screenshot of the page from cell `id` (else the last) down, when asked for. */
async function screenshot(page: Page, id: string, file: string) {
  if (!SCREENSHOTS) return;
  await page.setViewport({ width: 1000, height: 900 });
  await page.evaluate((id) => {
    // deno-lint-ignore no-explicit-any
    const cells = (globalThis as any).Jupyter.notebook.get_cells();
    // deno-lint-ignore no-explicit-any
    const cell = cells.find((c: any) => c.id === id) ?? cells.at(-1);
    cell.element[0].scrollIntoView();
  }, id);
  await page.screenshot({ path: join(SCREENSHOTS, file), type: "png" });
}

Deno.test({
  name:
    "the notebooks run in Jupyter Notebook's page in Chromium; Stop interrupts training and keeps the kernel",
  ignore: missing !== undefined && !CI,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    if (missing) throw new Error(`cannot open the notebook page: ${missing}`);
    const modelDir = await Deno.makeTempDir({ prefix: "notebook_page_model_" });
    const real = await startNotebookServer({
      MNIST_LIMIT: String(LIMIT),
      MNIST_MODEL_DIR: modelDir,
    });
    const browser = await launchBrowser();
    try {
      let page: Page;
      let trained = "";

      await t.step(
        "mnist_cnn.ipynb: charts, live chart in place, predictions",
        async () => {
          page = await openNotebook(browser, real.url("mnist_cnn.ipynb"));
          await runAll(page);
          const state = await readPage(page);
          assertNoErrors(state, "mnist_cnn.ipynb");
          assertEquals(misplaced(await pageOutputs(page)), [], "outputs");
          assertVisible(state, "mnist_cnn.ipynb");
          const train = byId(state, "train");
          assertEquals(train.charts.length, 1, "one live training chart");
          const chartId = Object.keys(state.updates).find((id) =>
            id.startsWith("mnist-cnn-chart-")
          );
          if (!chartId) {
            throw new Error(`no update of the chart: ${JSON.stringify(state)}`);
          }
          assertEquals(state.displays[chartId], 1, "the chart is created once");
          assertGreater(state.updates[chartId], 0, "and updated in place");
          for (const id of ["confusion", "load"]) {
            assertGreater(
              byId(state, id).charts.length + byId(state, id).pictures.length,
              0,
              `cell ${id} shows nothing`,
            );
          }
          const barId = Object.keys(state.updates).find((id) =>
            id.startsWith("mnist-cnn-progress-")
          );
          assert(barId, "the progress bar was updated in place");
          assertMatch(train.text, /test accuracy\s+0\.\d+/);
          trained = checkMnistCnn(await notebookJson(page), {
            limit: LIMIT,
            modelDir,
          });
          assertEquals(digitLine(byId(state, "predict").text), trained);
          const right = "5 0 4 1 9 2 1 3 1 4".split(" ");
          const hits = trained.split(" ").filter((d, i) =>
            d === right[i]
          ).length;
          assertGreater(hits, 7, `predicted ${trained} after ${LIMIT} samples`);
          await screenshot(page, "train", "jupyter_training.png");
        },
      );

      await t.step(
        "Stop during training: TrainingInterrupted, the kernel stays connected",
        async () => {
          await page.evaluate(() => {
            // deno-lint-ignore no-explicit-any
            const nb = (globalThis as any).Jupyter.notebook;
            const cell = nb.insert_cell_at_bottom("code");
            cell.set_text(
              "await train(model, mnist, { seed: 3, ...liveTrainingChart() });",
            );
            nb.select(nb.ncells() - 1);
            cell.execute();
          });
          // Wait until the bar shows a step, then press the toolbar's Stop.
          await waitUntil(
            page,
            () =>
              /[1-9]\d*\/60000 \[/.test(
                // deno-lint-ignore no-explicit-any
                ((globalThis as any).Jupyter.notebook.get_cells().slice(-1)[0]
                  .element[0] as HTMLElement).innerText,
              ),
            300_000,
            "the first training steps",
          );
          await page.click(
            'button[data-jupyter-action="jupyter-notebook:interrupt-kernel"]',
          );
          const text = await waitUntil(
            page,
            () => {
              // deno-lint-ignore no-explicit-any
              const el = (globalThis as any).Jupyter.notebook.get_cells().slice(
                -1,
              )[0]
                .element[0] as HTMLElement;
              return el.querySelector(".output_error")?.textContent as string;
            },
            300_000,
            "the interrupted cell's error",
          );
          assertMatch(
            text,
            /TrainingInterrupted: stopped in epoch 1 at step \d+ of 469; the model keeps the weights of step \d+/,
          );
          assert(!/\bat .*lib\//.test(text), `a stack trace: ${text}`);
          console.log(`Stop from the page: ${text.trim()}`);
          await screenshot(page, "last", "jupyter_stop.png");
          // The next cell uses the model and the data.
          await page.evaluate(() => {
            // deno-lint-ignore no-explicit-any
            const nb = (globalThis as any).Jupyter.notebook;
            const cell = nb.insert_cell_at_bottom("code");
            cell.set_text(
              '(await predictClasses(model, mnist.train, { count: 10 })).join(" ")',
            );
            cell.execute();
          });
          const after = await waitUntil(
            page,
            () => {
              // deno-lint-ignore no-explicit-any
              const nb = (globalThis as any).Jupyter.notebook;
              const cell = nb.get_cells().slice(-1)[0];
              const text = (cell.element[0] as HTMLElement)
                .querySelector(".output")?.textContent ?? "";
              return /"\d( \d){9}"/.test(text) &&
                { text, connected: nb.kernel.is_connected() as boolean };
            },
            300_000,
            "the next cell's prediction",
          );
          assert(after.connected, "the kernel is still connected");
          assertMatch(after.text, /"\d( \d){9}"/);
          console.log(`the next cell predicted: ${after.text.trim()}`);
        },
      );

      await t.step(
        "conv1's kernels and feature maps render as grids, at their own size",
        async () => {
          await page.evaluate(() => {
            // deno-lint-ignore no-explicit-any
            const nb = (globalThis as any).Jupyter.notebook;
            const cell = nb.insert_cell_at_bottom("code");
            cell.set_text(`import {
  activations, convFilters, digitInputs, showFeatureMaps, showFilters,
} from "../lib/mod.ts";
await showFilters(convFilters(model));
await showFeatureMaps(activations(model, digitInputs(mnist.train, [0]))[0]);`);
            nb.select(nb.ncells() - 1);
            cell.execute();
          });
          const pictures = await waitUntil(
            page,
            () => {
              // deno-lint-ignore no-explicit-any
              const nb = (globalThis as any).Jupyter.notebook;
              const el = nb.get_cells().slice(-1)[0].element[0] as HTMLElement;
              const imgs = [
                ...el.querySelectorAll(
                  '.output_area img[src^="data:image/png"]',
                ),
              ] as Element[];
              if (
                imgs.length < 4 || imgs.some((i) => !i.complete)
              ) return false;
              return imgs.map((i) => {
                const r = i.getBoundingClientRect();
                return {
                  width: r.width,
                  height: r.height,
                  naturalWidth: i.naturalWidth as number,
                  naturalHeight: i.naturalHeight as number,
                };
              });
            },
            300_000,
            "the kernels and the feature maps",
          );
          // A grid, its colour bar; a grid, its colour bar: one picture each.
          assertEquals(pictures.length, 4, JSON.stringify(pictures));
          const [kernels, , maps] = pictures;
          for (const grid of [kernels, maps]) {
            assertEquals(
              [Math.round(grid.width), Math.round(grid.height)],
              [grid.naturalWidth, grid.naturalHeight],
              "drawn at its own size, not stretched",
            );
          }
          // 32 kernels of 36 px in two rows of 16; 32 maps of 52 px, 8 a row.
          assertEquals([kernels.naturalWidth, kernels.naturalHeight], [
            636,
            76,
          ]);
          assertEquals([maps.naturalWidth, maps.naturalHeight], [437, 217]);
          await screenshot(page, "last", "jupyter_grids.png");
        },
      );

      for (const name of ["predict.ipynb", "your_digits.ipynb"]) {
        await t.step(`${name} runs from the page`, async () => {
          page = await openNotebook(browser, real.url(name));
          await runAll(page);
          const state = await readPage(page);
          assertNoErrors(state, name);
          assertVisible(state, name);
          const predict = byId(state, "predict");
          assertGreater(predict.pictures.length, 9, "the pictures");
          const nb = await notebookJson(page);
          if (name === "predict.ipynb") {
            checkPredict(nb, { trained, modelDir });
            assertEquals(digitLine(predict.text), trained);
          } else {
            checkYourDigits(nb);
            await screenshot(page, "predict", "jupyter_your_digits.png");
          }
        });
      }
    } finally {
      await browser.close();
      await real.close();
      await Deno.remove(modelDir, { recursive: true });
    }
  },
});

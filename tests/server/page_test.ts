/**
 * The drawing page in real headless Chromium: digits drawn with the mouse on
 * #pad are read in #prediction while drawing, #clear clears, and an uploaded
 * picture is read. With UPDATE_SCREENSHOT=1 it saves the README's screenshot
 * (docs/images/drawing_page.png) and the page with its maps
 * (docs/images/inside_page.png). The maps the page shows lie on the strokes.
 *
 * Run: deno test --allow-read --allow-write --allow-env --allow-run --allow-net tests/server/page_test.ts
 */
import { assert, assertEquals } from "@std/assert";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "puppeteer-core";
import { createHandler } from "../../lib/server/mod.ts";
import { launchBrowser, skipBrowser } from "../browser.ts";
import { trainedModel } from "../helpers.ts";
import { DIGIT_STROKES } from "../image/strokes.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const skip = await skipBrowser();

/** Draws `digit`'s strokes with the mouse inside #pad's box. */
async function drawDigit(page: Page, digit: number): Promise<void> {
  const box = (await (await page.$("#pad"))!.boundingBox())!;
  const side = box.width * 0.7;
  const at = ([x, y]: [number, number]) =>
    [
      box.x + box.width * 0.15 + x * side,
      box.y + box.height * 0.15 + y * side,
    ] as const;
  for (const stroke of DIGIT_STROKES[digit]) {
    await page.mouse.move(...at(stroke[0]));
    await page.mouse.down();
    for (const point of stroke.slice(1)) {
      await page.mouse.move(...at(point), { steps: 3 });
    }
    await page.mouse.up();
  }
}

/**
 * Waits until the page has answered for the whole drawing (#pad's
 * `data-state` is "idle") with a digit; returns it.
 */
async function readPrediction(page: Page): Promise<string> {
  await page.waitForFunction(
    `document.getElementById("pad").dataset.state === "idle" &&
      /^\\d$/.test(document.getElementById("prediction").textContent)`,
    { timeout: 20_000 },
  );
  return await page.$eval("#prediction", (e) => e.textContent ?? "");
}

/**
 * Serves the drawing page with the tests' trained model on a free loopback
 * port and runs `fn` with a new Chromium page; closes both afterwards.
 */
async function withPage(
  fn: (page: Page, server: Deno.HttpServer<Deno.NetAddr>) => Promise<void>,
): Promise<void> {
  const { model } = await trainedModel();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    createHandler({ model }),
  );
  const browser = await launchBrowser();
  try {
    await fn(await browser.newPage(), server);
  } finally {
    await browser.close();
    await server.shutdown();
  }
}

Deno.test({
  name:
    "the drawing page reads digits drawn with the mouse and an uploaded picture",
  ignore: skip,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withPage(async (page, server) => {
      await page.setViewport({ width: 760, height: 620 });
      const missing: string[] = [];
      page.on("response", (r) => {
        if (r.status() === 404) missing.push(r.url());
      });
      await page.goto(`http://127.0.0.1:${server.addr.port}/`);
      assertEquals(await page.$eval("#prediction", (e) => e.textContent), "–");
      const read: string[] = [];
      for (const digit of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]) {
        await drawDigit(page, digit);
        read.push(await readPrediction(page));
        if (digit === 3 && Deno.env.get("UPDATE_SCREENSHOT") === "1") {
          const path = join(ROOT, "docs", "images", "drawing_page.png");
          await Deno.mkdir(join(ROOT, "docs", "images"), { recursive: true });
          await page.screenshot({ path: path as `${string}.png` });
          console.log(`saved ${path}`);
        }
        await page.click("#clear");
        assertEquals(
          await page.$eval("#prediction", (e) => e.textContent),
          "–",
        );
        const bars = await page.$$eval("#bars li", (items) => items.length);
        assertEquals(bars, 0, "clear empties the bars");
      }
      const right = read.filter((d, i) => d === String(i)).length;
      console.log(`drawn with the mouse: read ${read.join(" ")}`);
      assert(right >= 8, `read ${read.join(" ")} for 0 1 2 3 4 5 6 7 8 9`);

      const input = (await page.$("#file"))!;
      await (input as unknown as { uploadFile(path: string): Promise<void> })
        .uploadFile(join(ROOT, "notebooks", "sample_digits", "digit_4.jpg"));
      assertEquals(await readPrediction(page), "4");
      const bars = await page.$$eval("#bars li", (items) => items.length);
      assertEquals(bars, 10);
      // The uploaded picture is on the pad (a photo of paper: mostly light).
      assertEquals(await page.$eval("#pad", (e) => e.dataset.source), "upload");
      const light = await page.evaluate(`(() => {
        const pad = document.getElementById("pad");
        const data = pad.getContext("2d")
          .getImageData(0, 0, pad.width, pad.height).data;
        let light = 0;
        for (let i = 0; i < data.length; i += 4) if (data[i] > 128) light++;
        return light / (data.length / 4);
      })()`) as number;
      assert(light > 0.3, `${light} of the pad is light after the upload`);
      assertEquals(missing, [], "requests answered 404 (favicon included)");
    });
  },
});

/** The share of `map`'s hot pixels (≥ half its top) within `reach` pixels of ink. */
function hotOnStrokes(input: number[], map: number[], reach = 2): number {
  let hot = 0, near = 0;
  for (let p = 0; p < 784; p++) {
    if (map[p] < 128) continue;
    hot++;
    const [y, x] = [Math.floor(p / 28), p % 28];
    let inked = false;
    for (let dy = -reach; dy <= reach && !inked; dy++) {
      for (let dx = -reach; dx <= reach && !inked; dx++) {
        const [yy, xx] = [y + dy, x + dx];
        inked = yy >= 0 && yy < 28 && xx >= 0 && xx < 28 &&
          input[yy * 28 + xx] > 64;
      }
    }
    if (inked) near++;
  }
  return hot ? near / hot : 0;
}

Deno.test({
  name:
    "the drawing page shows the 28x28 input, conv1's maps and a Grad-CAM whose hot region lies on the strokes",
  ignore: skip,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withPage(async (page, server) => {
      await page.setViewport({ width: 760, height: 1000 });
      let last: Record<string, unknown> | undefined;
      page.on("response", async (response) => {
        if (response.url().endsWith("/api/explain") && response.ok()) {
          last = await response.json();
        }
      });
      await page.goto(`http://127.0.0.1:${server.addr.port}/`);
      assert(
        await page.$eval(
          "#inside",
          (e) => (e as unknown as { hidden: boolean }).hidden,
        ),
      );
      const figures: string[] = [];
      for (const digit of [3, 7, 0]) {
        await drawDigit(page, digit);
        const read = await readPrediction(page);
        await page.waitForFunction(
          "!document.getElementById('inside').hidden",
        );
        const answer = last as {
          input: number[];
          gradCam: number[];
          saliency: number[];
          classes: number[];
        };
        assertEquals(
          String(answer.classes[0]),
          read,
          "the maps are the shown digit's",
        );
        const cam = hotOnStrokes(answer.input, answer.gradCam);
        const sal = hotOnStrokes(answer.input, answer.saliency);
        figures.push(
          `${digit}: Grad-CAM ${cam.toFixed(2)}, saliency ${sal.toFixed(2)}`,
        );
        assert(
          cam >= 0.7,
          `digit ${digit}: ${cam} of Grad-CAM's hot pixels on the strokes`,
        );
        assert(
          sal >= 0.7,
          `digit ${digit}: ${sal} of saliency's hot pixels on the strokes`,
        );
        const painted = await page.evaluate(`(() => {
          const data = document.getElementById("gradcam").getContext("2d")
            .getImageData(0, 0, 28, 28).data;
          let bright = 0;
          for (let i = 0; i < data.length; i += 4) {
            if (data[i] + data[i + 1] > 300) bright++;
          }
          return bright;
        })()`) as number;
        assert(painted > 5, `the Grad-CAM canvas shows ${painted} hot pixels`);
        assertEquals(await page.$$eval("#maps canvas", (m) => m.length), 32);
        // The legend's ramp is the answer's palette, dark to light.
        const ramp = await page.evaluate(
          `getComputedStyle(document.querySelector("#inside .ramp")).backgroundImage`,
        ) as string;
        assert(
          ramp.startsWith("linear-gradient") && ramp.includes("rgb(0, 0, 4)") &&
            ramp.includes("rgb(252, 255, 164)"),
          ramp,
        );
        if (digit === 3 && Deno.env.get("UPDATE_SCREENSHOT") === "1") {
          const path = join(ROOT, "docs", "images", "inside_page.png");
          await page.screenshot({
            path: path as `${string}.png`,
            fullPage: true,
          });
          console.log(`saved ${path}`);
        }
        await page.click("#clear");
        assert(
          await page.$eval(
            "#inside",
            (e) => (e as unknown as { hidden: boolean }).hidden,
          ),
        );
      }
      console.log(`hot pixels within 2 px of ink: ${figures.join("; ")}`);
    });
  },
});

Deno.test({
  name:
    "on a 400-pixel-wide screen the page, its maps included, fits without scrolling sideways",
  ignore: skip,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withPage(async (page, server) => {
      await page.setViewport({ width: 400, height: 1400 });
      await page.goto(`http://127.0.0.1:${server.addr.port}/`);
      await drawDigit(page, 3);
      await readPrediction(page);
      await page.waitForFunction("!document.getElementById('inside').hidden");
      const layout = await page.evaluate(`(() => ({
        scrollWidth: document.documentElement.scrollWidth,
        mapsRight: document.getElementById("maps").getBoundingClientRect().right,
        lastMap: document.querySelector("#maps canvas:last-child")
          .getBoundingClientRect().right,
        title: document.getElementById("maps-title").textContent,
        cam: document.getElementById("cam-layer").textContent,
      }))()`) as {
        scrollWidth: number;
        mapsRight: number;
        lastMap: number;
        title: string;
        cam: string;
      };
      const shot = Deno.env.get("NARROW_SCREENSHOT");
      if (shot) await page.screenshot({ path: shot as `${string}.png` });
      assert(layout.scrollWidth <= 400, JSON.stringify(layout));
      assert(layout.lastMap <= 400, JSON.stringify(layout));
      // The layers as the notebooks name them.
      assert(layout.title.startsWith("conv1's 32 feature maps"), layout.title);
      assertEquals(layout.cam, "conv2");
    });
  },
});

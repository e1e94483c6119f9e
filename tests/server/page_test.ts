/**
 * The drawing page in real headless Chromium: digits drawn with the mouse on
 * #pad are read in #prediction while drawing, #clear clears, and an uploaded
 * picture is read. With UPDATE_SCREENSHOT=1 it saves the README's screenshot
 * (docs/images/drawing_page.png).
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

Deno.test({
  name:
    "the drawing page reads digits drawn with the mouse and an uploaded picture",
  ignore: skip,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { model } = await trainedModel();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      createHandler({ model }),
    );
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 760, height: 620 });
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
    } finally {
      await browser.close();
      await server.shutdown();
    }
  },
});

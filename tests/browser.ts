/**
 * Real headless Chromium for the tests: Debian's `chromium`, driven by
 * `puppeteer-core` (which never downloads a browser). Where Chromium is
 * absent the browser tests are skipped with a message, except under
 * `CI=true`, where that is a failure.
 *
 * @module
 */
import puppeteer, { type Browser } from "puppeteer-core";

/** Debian's Chromium (`CHROMIUM` overrides). */
export const CHROMIUM = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";
const CI = Deno.env.get("CI") === "true";

/** Why no browser can run here, or undefined when one can. */
export async function missingChromium(): Promise<string | undefined> {
  try {
    await Deno.stat(CHROMIUM);
    return undefined;
  } catch {
    return `${CHROMIUM} not found: install Debian's chromium (apt-get install chromium)`;
  }
}

/** True when browser tests must be skipped; throws under CI=true instead. */
export async function skipBrowser(): Promise<boolean> {
  const missing = await missingChromium();
  if (missing && CI) throw new Error(`browser tests cannot run: ${missing}`);
  if (missing) console.warn(`SKIPPED: browser tests: ${missing}`);
  return missing !== undefined;
}

/** Launches headless Chromium (no sandbox: CI runs as root). */
export function launchBrowser(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
}

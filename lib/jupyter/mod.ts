/**
 * Notebook output primitives for the Deno Jupyter kernel (`deno jupyter`):
 * MIME bundles, the value a cell renders as its result, and live outputs
 * that update in place. Everything here is a no-op outside a kernel, so
 * library code can call it from scripts and tests.
 *
 Every `show*` function of this project shows its output with
 * {@linkcode display}, which resolves once the kernel has published it under
 * the cell that made it ({@linkcode published}): Deno 2.9.6's kernel can
 * otherwise send a cell's last outputs after the cell ended, under the next
 * cell when the front end has already sent it (Run All; denoland/deno#24737).
 * A cell's own last value (`execute_result`) has no such guarantee, so the
 * notebooks end their cells with `await show…(…)`, whose value is
 * `undefined`. Outputs that change while a cell runs (the progress bar, live
 * charts) are sent with {@linkcode displayLive} and a `display_id`.
 *
 * @module
 */

/**
 * A Jupyter MIME bundle: output representations keyed by MIME type. Images
 * (`image/png`) are base64 strings, as the Jupyter protocol requires.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import type { MimeBundle } from "./mod.ts";
 * const bundle: MimeBundle = { "text/plain": "7", "text/html": "<b>7</b>" };
 * assertEquals(bundle["text/plain"], "7");
 * ```
 */
export interface MimeBundle {
  /** The plain-text fallback every bundle carries. */
  "text/plain": string;
  /** The rich HTML representation. */
  "text/html"?: string;
  /** Other representations, e.g. `image/png` (base64). */
  [mimeType: string]: string | undefined;
}

import { published } from "./published.ts";

export {
  MARKER_PREFIX,
  published,
  type PublishedOptions,
} from "./published.ts";

/** The part of `Deno.jupyter` this module uses. */
interface JupyterApi {
  display(
    obj: unknown,
    options?: { raw?: boolean; update?: boolean; display_id?: string },
  ): Promise<void>;
}

/** Returns `Deno.jupyter`, or `undefined` outside the Jupyter kernel. */
function jupyterApi(): JupyterApi | undefined {
  try {
    // Outside `deno jupyter` the property exists but its getter throws, so
    // `"jupyter" in Deno` and `typeof Deno.jupyter` cannot tell the two apart.
    const api = (Deno as unknown as { jupyter?: Partial<JupyterApi> }).jupyter;
    return typeof api?.display === "function" ? api as JupyterApi : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when this code runs inside the Deno Jupyter kernel (`deno jupyter`),
 * where `Deno.jupyter.display` exists; false in scripts and tests.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { isJupyterKernel } from "./mod.ts";
 * assertEquals(isJupyterKernel(), false); // under `deno test`
 * ```
 */
export function isJupyterKernel(): boolean {
  return jupyterApi() !== undefined;
}

const $display = Symbol.for("Jupyter.display");

/**
 * Marks `bundle` as the value a notebook cell renders: the Deno kernel calls
 * its `Symbol.for("Jupyter.display")` method and sends the bundle as the
 * cell's result (`execute_result`), before the cell ends. Outside a kernel the
 * bundle is a plain object. Returns `bundle` itself.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { displayable } from "./mod.ts";
 * const out = displayable({ "text/plain": "7", "text/html": "<b>7</b>" });
 * // As a cell's last expression, a notebook renders the bold 7:
 * const render = Reflect.get(out, Symbol.for("Jupyter.display")) as () => unknown;
 * assertEquals(render(), { "text/plain": "7", "text/html": "<b>7</b>" });
 * ```
 */
export function displayable<T extends MimeBundle>(bundle: T): T {
  Object.defineProperty(bundle, $display, {
    value: () => ({ ...bundle }),
    enumerable: false,
    configurable: true,
  });
  return bundle;
}

/** Options of {@linkcode displayLive}. */
export interface DisplayLiveOptions {
  /** The output to create or replace (a Jupyter `display_id`). */
  id: string;
  /** Replace the output shown under `id` instead of creating it. */
  update?: boolean;
}

/**
 * Shows `bundle` as a live output under `options.id` (creating it, or with
 * `update: true` replacing it in place), for outputs that change while a cell
 * runs: progress bars, training curves. Does nothing outside a kernel.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { displayLive } from "./mod.ts";
 * // In a notebook, one output that changes; elsewhere nothing is shown.
 * await displayLive({ "text/plain": "step 1" }, { id: "bar" });
 * const done = displayLive({ "text/plain": "step 2" }, { id: "bar", update: true });
 * assertEquals(await done, undefined);
 * ```
 */
export async function displayLive(
  bundle: MimeBundle,
  options: DisplayLiveOptions,
): Promise<void> {
  await jupyterApi()?.display({ ...bundle }, {
    raw: true,
    display_id: options.id,
    update: options.update,
  });
}

/**
 * Shows `bundle` as an output of the running cell (`display_data`) and
 * resolves once the kernel has published it, and every output the cell made
 * before it, under this cell ({@linkcode published}). Does nothing outside a
 * kernel.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { display } from "./mod.ts";
 * // In a notebook: `await display(...)` as a cell's last line shows it there.
 * assertEquals(await display({ "text/plain": "7" }), undefined);
 * ```
 */
export async function display(bundle: MimeBundle): Promise<void> {
  const api = jupyterApi();
  if (!api) return;
  await api.display({ ...bundle }, { raw: true });
  await published();
}

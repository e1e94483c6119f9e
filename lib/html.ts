/**
 * The helpers every HTML-writing module shares (notebook outputs, the
 * report, the charts): escaping text for HTML, and base64 for `data:` URLs.
 * Shared by every layer; imports nothing of the project's own.
 *
 * @module
 */

/**
 * Escapes text for HTML element content and attribute values (`&`, `<`,
 * `>`, `"` and `'`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { escapeHtml } from "./html.ts";
 * assertEquals(escapeHtml(`<b title="x">'&'</b>`), "&lt;b title=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/b&gt;");
 * ```
 */
export function escapeHtml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;").replaceAll('"', "&quot;").replaceAll("'", "&#39;");
}

/**
 * Standard base64 of `bytes` (or of a string's UTF-8), in slices so that
 * large pictures do not overflow the argument list.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { base64 } from "./html.ts";
 * assertEquals(base64(new Uint8Array([0, 1, 254, 255])), "AAH+/w==");
 * assertEquals(base64("<svg/>"), "PHN2Zy8+");
 * ```
 */
export function base64(bytes: Uint8Array | string): string {
  const data = typeof bytes === "string"
    ? new TextEncoder().encode(bytes)
    : bytes;
  let binary = "";
  for (let i = 0; i < data.length; i += 0x8000) {
    binary += String.fromCharCode(...data.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

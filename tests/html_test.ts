/**
 * Tests of lib/html.ts against independent references: escaped text parsed
 * back by an HTML parser (linkedom) gives the text again, in content and in
 * attributes; base64 agrees with node:buffer's on every length mod 3 and on a
 * buffer larger than one slice.
 *
 * Run: deno test tests/html_test.ts
 */
import { assertEquals } from "@std/assert";
import { Buffer } from "node:buffer";
import { parseHTML } from "linkedom";
import { base64, escapeHtml } from "../lib/html.ts";

/** The parts of linkedom's document used here. */
interface Doc {
  querySelectorAll(selector: string): { length: number };
  querySelector(selector: string): {
    textContent: string;
    getAttribute(name: string): string | null;
  } | null;
}

Deno.test("escapeHtml: a parser reads the text back, in content and attributes", () => {
  const texts = [
    `plain`,
    `<script>alert("x")</script>`,
    `a & b && c; &amp; &lt;`,
    `"double" 'single' \`back\``,
    `</p><p title='x'>`,
    `é ü 7 — ∞`,
  ];
  for (const text of texts) {
    const { document } = parseHTML(
      `<html><body><p title="${escapeHtml(text)}" data-x='${
        escapeHtml(text)
      }'>${escapeHtml(text)}</p></body></html>`,
    ) as unknown as { document: Doc };
    const p = document.querySelector("p")!;
    assertEquals(document.querySelectorAll("p").length, 1, text);
    assertEquals(p.textContent, text);
    assertEquals(p.getAttribute("title"), text);
    assertEquals(p.getAttribute("data-x"), text);
  }
});

Deno.test("base64 equals node:buffer's, for bytes and text", () => {
  for (const n of [0, 1, 2, 3, 4, 5, 100_000]) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 7919) & 255);
    assertEquals(base64(bytes), Buffer.from(bytes).toString("base64"), `${n}`);
  }
  const svg = `<svg><text>é ∞</text></svg>`;
  assertEquals(base64(svg), Buffer.from(svg, "utf8").toString("base64"));
});

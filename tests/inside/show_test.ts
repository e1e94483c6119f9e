/**
 * Grids of pictures are ONE picture: conv1's kernels and a layer's feature
 * maps, each drawn as a single PNG whose size is the grid's (so no page's CSS,
 * such as classic Notebook's `.rendered_html img {display: block}`, can
 * stack the tiles into a column), and each tile where the grid puts it.
 *
 * Run: deno test --allow-read tests/inside/show_test.ts
 */
import { assertEquals } from "@std/assert";
import { decode } from "fast-png";
import {
  buildModel,
  convFilters,
  featureMapsBundle,
  filtersBundle,
  initBackend,
} from "../../lib/mod.ts";

/** The PNGs of an HTML output: their size as the tag says and as decoded. */
function pngs(html: string) {
  return [
    ...html.matchAll(/<img src="data:image\/png;base64,([^"]+)"([^>]*)>/g),
  ]
    .map(([, b64, attrs]) => {
      const png = decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
      return {
        png,
        width: Number(attrs.match(/width="(\d+)"/)?.[1]),
        height: Number(attrs.match(/height="(\d+)"/)?.[1]),
      };
    });
}

Deno.test("conv1's 32 kernels are one picture: 16 a row, two rows", async () => {
  await initBackend();
  const filters = convFilters(buildModel({ seed: 1 }));
  const html = filtersBundle(filters)["text/html"]!;
  const [grid, bar, ...rest] = pngs(html);
  assertEquals(rest.length, 0, "one grid and one colour bar");
  // 3×3 kernels at 12×: 36 px tiles, 4 px apart.
  assertEquals([grid.png.width, grid.png.height], [
    16 * 36 + 15 * 4,
    2 * 36 + 4,
  ]);
  assertEquals([grid.width, grid.height], [grid.png.width, grid.png.height]);
  assertEquals(bar.png.height, 1 * 2);
  // Kernel 17 (row 1, column 1) is where the grid puts it: its top-left
  // weight's colour, the scale's (white at 0) and not the gap's.
  const at = (
    x: number,
    y: number,
  ) => [
    ...grid.png.data.subarray(
      (y * grid.png.width + x) * 3,
      (y * grid.png.width + x) * 3 + 3,
    ),
  ];
  assertEquals(at(36, 0), [255, 255, 255], "a gap");
  const k = filters.kernels[17][0][0];
  let max = 0;
  for (const o of filters.kernels) {
    for (const v of o[0]) max = Math.max(max, Math.abs(v));
  }
  const inside = at(40 + 1, 40 + 1);
  // Blue for a negative weight, red for a positive one.
  assertEquals(Math.sign(inside[0] - inside[2]), Math.sign(k) || 0);
});

Deno.test("a layer's 32 feature maps are one picture, 8 a row", () => {
  const [h, w, k] = [26, 26, 32];
  const data = new Float32Array(h * w * k).map((_, i) => i % k);
  const html = featureMapsBundle({
    name: "conv2d",
    className: "Conv2D",
    shape: [1, h, w, k],
    data,
  })["text/html"]!;
  const [grid, , ...rest] = pngs(html);
  assertEquals(rest.length, 0);
  assertEquals([grid.png.width, grid.png.height], [
    8 * 52 + 7 * 3,
    4 * 52 + 3 * 3,
  ]);
});

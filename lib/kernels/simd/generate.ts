/**
 * Writes `winograd.as.ts`, the unrolled WASM SIMD tile transforms of the
 * Winograd kernels, from the transform matrices in `tiles.ts`. Each transform
 * is a fixed matrix applied to every tile, so the generator spells it out as
 * straight-line code (no loops over matrix entries, no zero terms, ±1 as
 * add/sub) that the AssemblyScript compiler turns into one basic block per
 * channel group. The hand-written loops (the weight gradient's products) live
 * in `products.as.ts`, compiled into the same binary by `build.ts`.
 *
 * Run: `deno run --allow-read --allow-write --allow-run
 * lib/kernels/simd/generate.ts` (then `build.ts`); `tests/kernels/simd/simd_test.ts`
 * checks the committed file equals a fresh generation. The output is passed
 * through `deno fmt`, hence `--allow-run`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { GENERATED, generate } from "./generate.ts";
 * const source = await generate();
 * assertEquals(source, await Deno.readTextFile(GENERATED)); // the committed file
 * ```
 *
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";
import { writeFileAtomic } from "../../files.ts";
import { OUTER_TILES, TILES, type WinogradTile } from "./tiles.ts";

/** Path of the generated AssemblyScript source. */
export const GENERATED = fromFileUrl(
  new URL("./winograd.as.ts", import.meta.url),
);

/** The tile sizes whose transforms are generated. */
export const GENERATED_TILES: readonly (2 | 4 | 6)[] = [2, 4, 6];

/** How one kind of value (f32x4 vector or f32 scalar) is written. */
interface Ops {
  load(address: string): string;
  store(address: string, value: string): string;
  add(a: string, b: string): string;
  sub(a: string, b: string): string;
  neg(a: string): string;
  /** a·c for a constant c. */
  scale(a: string, c: number): string;
  /** acc + a·c for a constant c (fused where the build has relaxed SIMD). */
  madd(a: string, c: number, acc: string): string;
}

/** An f32 literal. */
function lit(c: number): string {
  const s = String(c);
  return s.includes(".") || s.includes("e") ? s : `${s}.0`;
}

/**
 * The vector constants a transform uses, declared once at its top (see
 * {@link withConstants}) rather than as `f32x4.splat(c)` at each use.
 */
const constants = new Set<number>();

/** The name of the hoisted vector constant c (`k4`, `km5`, `k0_25`). */
function constantName(c: number): string {
  constants.add(c);
  return `k${String(c).replace("-", "m").replace(".", "_")}`;
}

/**
 * Replaces the `CONSTANTS` line of a generated function with the vector
 * constants its body used, each splat once from a scalar that the compilers
 * cannot fold: V8 (13.5 and later, Deno 2.2+) rematerializes a constant
 * splat at every use inside a loop (docs/kernels.md); a value it cannot
 * prove constant is kept in a register or a stack slot instead.
 */
function withConstants(text: string): string {
  const lines = [...constants].sort((a, b) => a - b).map((c) =>
    `  const ${constantName(c)} = f32x4.splat(<f32> ${lit(c)} + opaque);`
  );
  constants.clear();
  return text.replace(
    "  CONSTANTS\n",
    lines.length === 0 ? "" : [
      "  // 0 at run time (count ≥ 0), unknown to the compilers: see generate.ts.",
      "  const opaque = <f32> (count >> 31);",
      ...lines,
      "",
    ].join("\n"),
  );
}

const SIMD: Ops = {
  load: (a) => `v128.load(${a})`,
  store: (a, v) => `v128.store(${a}, ${v});`,
  add: (a, b) => `f32x4.add(${a}, ${b})`,
  sub: (a, b) => `f32x4.sub(${a}, ${b})`,
  neg: (a) => `f32x4.neg(${a})`,
  scale: (a, c) => `f32x4.mul(${a}, f32x4.splat(${lit(c)}))`,
  madd: (a, c, acc) => `madd(${a}, f32x4.splat(${lit(c)}), ${acc})`,
};

/**
 * {@link SIMD} with the constants hoisted ({@link withConstants}): used by
 * the output transforms, 13% faster so on an Intel Xeon (the input
 * gradient's, 3%); the input and dy
 * transforms, bound by their 2·a² loads and stores per channel group, ran
 * 5-9% slower with them hoisted (the extra registers spill), so they keep
 * their splats (docs/kernels.md).
 */
const SIMD_HOISTED: Ops = {
  ...SIMD,
  scale: (a, c) => `f32x4.mul(${a}, ${constantName(c)})`,
  madd: (a, c, acc) => `madd(${a}, ${constantName(c)}, ${acc})`,
};

const SCALAR: Ops = {
  load: (a) => `load<f32>(${a})`,
  store: (a, v) => `store<f32>(${a}, ${v});`,
  add: (a, b) => `(${a} + ${b})`,
  sub: (a, b) => `(${a} - ${b})`,
  neg: (a) => `-${a}`,
  scale: (a, c) => `(${a} * <f32>(${lit(c)}))`,
  madd: (a, c, acc) => `(${acc} + ${a} * <f32>(${lit(c)}))`,
};

/** One term c·x of a linear combination. */
interface Term {
  c: number;
  x: string;
}

/**
 * Σ c·x over `terms` (all c ≠ 0) as one expression: a common factor comes
 * out, a +1 term starts the sum, ±1 terms are adds and subtracts, the others
 * multiply-adds.
 */
function combine(terms: Term[], ops: Ops): string {
  if (terms.length === 0) throw new RangeError("empty linear combination");
  const k = Math.abs(terms[0].c);
  if (k !== 1 && terms.every((t) => Math.abs(t.c) === k)) {
    return ops.scale(
      combine(terms.map((t) => ({ c: Math.sign(t.c), x: t.x })), ops),
      k,
    );
  }
  const first = terms.find((t) => t.c === 1) ?? terms[0];
  let sum = first.c === 1
    ? first.x
    : first.c === -1
    ? ops.neg(first.x)
    : ops.scale(first.x, first.c);
  for (const t of terms) {
    if (t === first) continue;
    sum = t.c === 1
      ? ops.add(sum, t.x)
      : t.c === -1
      ? ops.sub(sum, t.x)
      : ops.madd(t.x, t.c, sum);
  }
  return sum;
}

function termsOf(row: readonly number[], xs: readonly string[]): Term[] {
  return row.flatMap((c, k) => c === 0 ? [] : [{ c, x: xs[k] }]);
}

/**
 * `const out[i] = Σ_k M[i][k]·xs[k]` lines. Two rows that share their
 * "even" part and negate their "odd" part (r = e + o, s = e - o, as the
 * rows of the points ±p do) compute e and o once.
 */
function linear(
  M: readonly (readonly number[])[],
  xs: readonly string[],
  out: readonly string[],
  ops: Ops,
  after: (i: number) => string[] = () => [],
): string[] {
  const lines: string[] = [];
  const done = new Set<number>();
  for (let i = 0; i < M.length; i++) {
    if (done.has(i)) continue;
    const j = M.findIndex((s, j) =>
      j > i && !done.has(j) && s.some((c, k) => c !== 0 && c === M[i][k]) &&
      s.some((c, k) => c !== 0 && c === -M[i][k]) &&
      s.every((c, k) => c === M[i][k] || c === -M[i][k])
    );
    if (j < 0) {
      lines.push(`const ${out[i]} = ${combine(termsOf(M[i], xs), ops)};`);
      lines.push(...after(i));
      continue;
    }
    done.add(j);
    const even = M[i].map((c, k) => (c === M[j][k] ? c : 0));
    const odd = M[i].map((c, k) => (c === M[j][k] ? 0 : c));
    const e = `${out[i]}e`, o = `${out[i]}o`;
    lines.push(`const ${e} = ${combine(termsOf(even, xs), ops)};`);
    lines.push(`const ${o} = ${combine(termsOf(odd, xs), ops)};`);
    lines.push(`const ${out[i]} = ${ops.add(e, o)};`, ...after(i));
    lines.push(`const ${out[j]} = ${ops.sub(e, o)};`, ...after(j));
  }
  return lines;
}

/** Names `${prefix}${i}${j}` of a rows×cols block. */
function grid(prefix: string, rows: number, cols: number): string[][] {
  return Array.from(
    { length: rows },
    (_, i) => Array.from({ length: cols }, (_, j) => `${prefix}${i}${j}`),
  );
}

function transpose(M: readonly (readonly number[])[]): number[][] {
  return M[0].map((_, j) => M.map((row) => row[j]));
}

/**
 * Lines computing `out = M·x·Mᵀ` (x square, named by `x`), columns first;
 * `out` is named `${prefix}${i}${j}` and its intermediates `${prefix}t…`.
 * `use(i, j, name)` gives the lines that consume out[i][j] (stores), placed
 * right after it so that few values stay live.
 */
function sandwich(
  M: readonly (readonly number[])[],
  x: string[][],
  prefix: string,
  ops: Ops,
  use: (i: number, j: number, name: string) => string[],
): string[] {
  const rows = M.length;
  const t = grid(`${prefix}t`, rows, x.length);
  const out = grid(prefix, rows, rows);
  const lines: string[] = [];
  for (let j = 0; j < x.length; j++) {
    lines.push(...linear(M, x.map((r) => r[j]), t.map((r) => r[j]), ops));
  }
  for (let i = 0; i < rows; i++) {
    lines.push(
      ...linear(M, t[i], out[i], ops, (j) => use(i, j, out[i][j])),
    );
  }
  return lines;
}

/** `const ${name}0 = load<usize>(table, 0), …` for `count` plane addresses. */
function planeTable(name: string, table: string, count: number): string[] {
  return Array.from(
    { length: count },
    (_, k) => `const ${name}${k} = load<usize>(${table}, ${4 * k});`,
  );
}

/** Tile t → image n, tile row ty, tile column tx (names suffixed). */
function tileCoords(t: string, s = ""): string[] {
  return [
    `const tt${s} = ${t};`,
    `const n${s} = tt${s} / tilesPerImage;`,
    `const r${s} = tt${s} - n${s} * tilesPerImage;`,
    `const ty${s} = r${s} / TW;`,
    `const tx${s} = r${s} - ty${s} * TW;`,
  ];
}

function indent(lines: string[], depth: number): string[] {
  return lines.map((l) => "  ".repeat(depth) + l);
}

/**
 * A tile's channel loops, closing the loop over tiles and the function: `o`,
 * the tile's offset in each plane (bytes, `step` its multiple of i), then
 * `body` for each group of four channels (`vector` ops) and each channel of
 * the tail (scalar ops).
 */
function channelLoops(
  vector: Ops,
  body: (ops: Ops, step: string) => string[],
  step = "pixBytes",
): string {
  return `    const o = <usize> i * ${step};
    let c = 0;
    while (c < C4) {
${indent(body(vector, "c += 4;"), 3).join("\n")}
    }
    while (c < C) {
${indent(body(SCALAR, "c++;"), 3).join("\n")}
    }
  }
}`;
}

/**
 * The loop over a chunk's tiles of a transform that reads each tile's a×a
 * input patch (or adds into it): tile coordinates, the pointers p{r}{c} of
 * the patch's points in `image` ([N, H, W, C]), or `outside` for points past
 * its edge, then `body` for each group of four channels (`vector` ops) and
 * each channel of the tail (scalar ops). Closes the function.
 */
function patchLoop(
  m: number,
  image: string,
  outside: string,
  vector: Ops,
  body: (ops: Ops, step: string) => string[],
): string {
  const range = Array.from({ length: m + 2 }, (_, k) => k);
  return `  for (let i = 0; i < count; i++) {
${indent(tileCoords("t0 + i"), 2).join("\n")}
    const y0 = ${m} * ty - padT;
    const x0 = ${m} * tx - padL;
    const img = ${image} + <usize> (n * H) * rowBytes;
${
    indent(
      range.flatMap((k) => [
        `const r${k}ok = <u32> (y0 + ${k}) < <u32> H;`,
        `const c${k}ok = <u32> (x0 + ${k}) < <u32> W;`,
      ]),
      2,
    ).join("\n")
  }
    const b0 = img + <usize> y0 * rowBytes + <usize> x0 * pixBytes;
${
    indent(
      range.slice(1).map((k) => `const b${k} = b${k - 1} + rowBytes;`),
      2,
    ).join("\n")
  }
${
    indent(
      range.flatMap((r) =>
        range.map((c) =>
          `const p${r}${c} = r${r}ok && c${c}ok ? b${r} + ${c} * pixBytes : ${outside};`
        )
      ),
      2,
    ).join("\n")
  }
${channelLoops(vector, body)}`;
}

/**
 * An exported transform over each tile's patch: `name(params…, H, W, C,
 * padT, padL, TH, TW, t0, count)` with `params` (in order) naming the plane
 * table, the image and the buffer for points past its edge; the plane
 * addresses `P0…`, then {@link patchLoop}.
 */
function patchFunction(f: {
  m: number;
  name: string;
  params: readonly string[];
  table: string;
  image: string;
  outside: string;
  ops: Ops;
  body: (ops: Ops, step: string) => string[];
}): string {
  return `export function ${f.name}(
${f.params.map((p) => `  ${p}: usize,`).join("\n")}
  H: i32,
  W: i32,
  C: i32,
  padT: i32,
  padL: i32,
  TH: i32,
  TW: i32,
  t0: i32,
  count: i32,
): void {
  const rowBytes = <usize> (W * C) << 2;
  const pixBytes = <usize> C << 2;
${indent(planeTable("P", f.table, (f.m + 2) ** 2), 1).join("\n")}
  const tilesPerImage = TH * TW;
  CONSTANTS
  const C4 = C & ~3;
${patchLoop(f.m, f.image, f.outside, f.ops, f.body)}`;
}

function inputTransform(tile: WinogradTile): string {
  const { m, bt } = tile;
  const a = m + 2, planes = a * a;
  const d = grid("d", a, a);
  const body = (ops: Ops, step: string) => {
    return [
      `const cb = <usize> c << 2;`,
      ...d.flat().map((name, k) =>
        `const ${name} = ${ops.load(`p${Math.floor(k / a)}${k % a} + cb`)};`
      ),
      `const q = o + cb;`,
      ...sandwich(bt, d, "v", ops, (i, j, v) => [
        ops.store(`P${i * a + j} + q`, v),
      ]),
      step,
    ];
  };
  return withConstants(`
/**
 * F(${m}x${m},3x3) input transform: V[k][t - t0][c] = (Bᵀ·d·B)[k] for tiles
 * t0 .. t0+count-1, where d is the ${a}x${a} patch of channel c at rows
 * ${m}·ty - padT .. +${a - 1} and columns ${m}·tx - padL .. +${a - 1} (zero
 * outside). Plane k (${planes} of them, each [count, C]) at
 * load<usize>(vTable + 4k). \`zero\` must point at C (at least 4) zeros.
 */
${
    patchFunction({
      m,
      name: `inputTransform${m}`,
      params: ["x", "vTable", "zero"],
      table: "vTable",
      image: "x",
      outside: "zero",
      ops: SIMD,
      body,
    })
  }
`);
}

/**
 * The output transform; with `pool` (m even), the 2×2 stride-2 max pool of
 * the result as well, each window inside one tile: max(relu(y + b)) over a
 * window is relu(max(y) + b) exactly (rounding is monotone), so only the
 * pooled value is finished and stored. With `codes`, the pool after a ReLU
 * for training: each pooled value and, in `codes`, where its gradient goes
 * (see {@link poolCode}).
 */
function outputTransform(
  tile: WinogradTile,
  kind: "plain" | "pool" | "codes" | "outer" = "plain",
): string {
  const codes = kind === "codes";
  const pool = kind === "pool" || codes, outer = kind === "outer";
  const { m, at } = tile;
  const a = m + 2, planes = a * a;
  const mm = grid("a", a, a);
  const range = Array.from({ length: m }, (_, k) => k);
  const body = (ops: Ops, step: string) => {
    const simd = ops === SIMD_HOISTED;
    // The bias and the activation's floor (0 for ReLU, -∞ for none) on
    // each value as it is stored: no second pass over y. The floor as
    // pmax (v < floor ? floor : v, one maxps; a NaN passes): f32x4.max's
    // NaN and signed-zero rules take V8 seven instructions.
    const finish = (v: string) =>
      simd
        ? `f32x4.pmax(f32x4.add(${v}, bv), actFloor)`
        : `max<f32>(${v} + bs, actFloorS)`;
    const guarded = (ok: string, line: string) =>
      ok === "" ? line : `if (${ok}) ${line}`;
    const store = (r: number, c: number, v: string) => {
      const ok = [r > 0 ? `r${r}ok` : "", c > 0 ? `c${c}ok` : ""]
        .filter((s) => s !== "").join(" && ");
      return [guarded(ok, ops.store(`q${r}${c} + cb`, finish(v)))];
    };
    // A window's last value (odd row and column) stores the window's max.
    const max = (p: string, q: string) =>
      simd ? `f32x4.max(${p}, ${q})` : `max<f32>(${p}, ${q})`;
    const poolStore = (r: number, c: number, v: string) => {
      if (r % 2 === 0 || c % 2 === 0) return [];
      const [pr, pc] = [(r - 1) / 2, (c - 1) / 2];
      const window = max(
        max(`y${r - 1}${c - 1}`, `y${r - 1}${c}`),
        max(`y${r}${c - 1}`, v),
      );
      const at = `q${pr}${pc} + cb`;
      return [
        guarded(
          `r${r}ok && c${c}ok`,
          !codes ? ops.store(at, finish(window)) : `{
${
            indent(
              poolCode(
                simd,
                [`y${r - 1}${c - 1}`, `y${r - 1}${c}`, `y${r}${c - 1}`, v]
                  .map(finish),
                at,
                `mq${pr}${pc} + cb`,
              ),
              1,
            ).join("\n")
          }
}`,
        ),
      ];
    };
    // With `outer` (one input channel), M[k] = V[k]·U[k] is formed here:
    // V[k] one float per tile, U [C/4][k][4] from `u`.
    const group = `(<usize> c >> 2) * ${16 * planes}`;
    const load = (name: string, k: number) =>
      !outer
        ? `const ${name} = ${ops.load(`P${k} + o + cb`)};`
        : simd
        ? `const ${name} = f32x4.mul(v128.load32_splat(P${k} + o), v128.load(ug, ${
          16 * k
        }));`
        : `const ${name} = load<f32>(P${k} + o) * load<f32>(ug, ${16 * k});`;
    return [
      `const cb = <usize> c << 2;`,
      simd
        ? `const bv = v128.load(bias + cb);`
        : `const bs = load<f32>(bias + cb);`,
      ...(!outer ? [] : simd ? [`const ug = u + ${group};`] : [
        `const ug = u + ${group} + ((<usize> c & 3) << 2);`,
      ]),
      ...mm.flat().map(load),
      ...sandwich(at, mm, "y", ops, pool ? poolStore : store),
      step,
    ];
  };
  // Stored points: every output, or with `pool` every window's top left
  // (pooled row and column `${r}${c}` of the tile's m/2 × m/2).
  const side = pool ? m / 2 : m;
  const stored = Array.from({ length: side }, (_, k) => k);
  const name = codes
    ? `outputTransformPoolCodes${m}`
    : pool
    ? `outputTransformPool${m}`
    : outer
    ? `outputTransformOuter${m}`
    : `outputTransform${m}`;
  const doc = codes
    ? `
/**
 * F(${m}x${m},3x3) output transform, bias, ReLU and 2x2 stride-2 max pool
 * for training: z as {@link outputTransformPool${m}} stores it with \`relu\`
 * 1, and codes [N, OH/2, OW/2, C] (int32) saying which value of each window
 * the pool's and the ReLU's gradients go to: 0–3 the window's first
 * maximum of the ReLU's outputs (row-major, as tfjs's cpu backend picks
 * it), 4 none (that maximum is not above 0, or is NaN). With \`mask\` (not
 * 0; float32, z's shape) z is stored times it, as dropout after the pool
 * multiplies it; \`ones\` holds C ones.
 */`
    : outer
    ? `
/**
 * F(${m}x${m},3x3) output transform of a convolution with one input
 * channel, its products included: as {@link outputTransform${m}} with
 * M[k][t][c] = V[k][t]·U[k][c], where V[k] (plane k of ${planes}, [count]
 * floats, at load<usize>(vTable + 4k)) is the input transform and U the
 * filter transform laid out as [⌈C/4⌉][${planes}][4] floats at \`u\`.
 */`
    : pool
    ? `
/**
 * F(${m}x${m},3x3) output transform then a 2x2, stride-2 max pool:
 * z[n, ${m / 2}ty+i, ${m / 2}tx+j, c] = max over the window at row ${m}ty+2i,
 * column ${m}tx+2j of what {@link outputTransform${m}} would store there
 * (bias, then ReLU where \`relu\` is 1); z is [N, OH/2, OW/2, C] (rounded
 * down: windows past OH x OW are skipped).
 */`
    : `
/**
 * F(${m}x${m},3x3) output transform: y[n, ${m}ty+i, ${m}tx+j, c] =
 * (Aᵀ·M·A)[i][j] for tiles t0 .. t0+count-1, where M[k] = M[k][t - t0][c]
 * (plane k of ${planes}, each [count, C], at load<usize>(mTable + 4k)),
 * plus bias[c] (C floats: zeros for none), then ReLU where \`relu\` is 1;
 * outputs outside OH x OW are skipped.
 */`;
  return withConstants(`${doc}
export function ${name}(
  ${outer ? "vTable: usize,\n  u: usize," : "mTable: usize,"}
  y: usize,${codes ? "\n  codes: usize,\n  mask: usize,\n  ones: usize," : ""}
  OH: i32,
  OW: i32,
  C: i32,
  TH: i32,
  TW: i32,
  t0: i32,
  count: i32,
  bias: usize,${codes ? "" : "\n  relu: i32,"}
): void {
  const pixBytes = <usize> C << 2;
  const rowBytes = <usize> ${pool ? "(OW >> 1)" : "OW"} * pixBytes;
  const actFloorS: f32 = ${codes ? "0" : "relu ? 0 : -Infinity"};
  const actFloor = f32x4.splat(actFloorS);${
    codes
      ? `
  // codes - y: a window's code sits where its pooled value does, in codes
  // (and its dropout factor in mask: 0 for none, each factor then 1 at ones).
  const codeOff = codes - y;
  const maskOff = mask - y;
${indent(codeConstants(), 1).join("\n")}`
      : ""
  }
${indent(planeTable("P", outer ? "vTable" : "mTable", planes), 1).join("\n")}
  const tilesPerImage = TH * TW;
  CONSTANTS
  const C4 = C & ~3;
  for (let i = 0; i < count; i++) {
${indent(tileCoords("t0 + i"), 2).join("\n")}
    const oy = ${m} * ty, ox = ${m} * tx;
${
    indent(
      range.slice(1).flatMap((k) =>
        pool && k % 2 === 0 ? [] : [
          `const r${k}ok = oy + ${k} < OH;`,
          `const c${k}ok = ox + ${k} < OW;`,
        ]
      ),
      2,
    ).join("\n")
  }
    const q00 = y + ${
    pool
      ? `(<usize> (n * (OH >> 1) + (oy >> 1)) * <usize> (OW >> 1) + <usize> (ox >> 1)) * pixBytes`
      : `(<usize> (n * OH + oy) * <usize> OW + <usize> ox) * pixBytes`
  };
${
    indent(
      stored.flatMap((r) =>
        stored.flatMap((c) =>
          r === 0 && c === 0
            ? []
            : [`const q${r}${c} = q00 + ${r} * rowBytes + ${c} * pixBytes;`]
        )
      ),
      2,
    ).join("\n")
  }${
    !codes ? "" : "\n" + indent(
      stored.flatMap((r) =>
        stored.map((c) =>
          `const mq${r}${c} = mask != 0 ? q${r}${c} + maskOff : ones;`
        )
      ),
      2,
    ).join("\n")
  }
${channelLoops(SIMD_HOISTED, body, outer ? "4" : "pixBytes")}
`);
}

/**
 * The integer vectors the pooled codes use: `kc0`–`kc4` (codes 0–4, each a
 * splat V8 cannot fold, see {@link withConstants}) and `fzero`.
 */
function codeConstants(): string[] {
  return [
    "const opaqueI = count >> 31; // 0 at run time, unknown to the compilers",
    ...[0, 1, 2, 3, 4].map((k) =>
      `const kc${k} = i32x4.splat(${k} + opaqueI);`
    ),
    "const fzero = f32x4.splat(0);",
  ];
}

/**
 * A 2×2 window of ReLU outputs `f` (row-major): stores at \`at\` its
 * maximum m (max(relu(y + b)) is relu(max(y) + b): the plain pooled value)
 * times the dropout factor at \`mask\`, and at \`at\` + codeOff its code,
 * the index of the first value equal to m (the first maximum, as tfjs's cpu
 * backend picks it), or 4 when m is not above 0 (ReLU's gradient is 0
 * there) or is NaN.
 */
function poolCode(
  simd: boolean,
  f: string[],
  at: string,
  mask: string,
): string[] {
  if (!simd) {
    return [
      ...f.map((v, k) => `const f${k} = ${v};`),
      "const m = max<f32>(max<f32>(f0, f1), max<f32>(f2, f3));",
      `store<f32>(${at}, m * load<f32>(${mask}));`,
      "const code = !(m > 0) ? 4 : f0 == m ? 0 : f1 == m ? 1 : f2 == m ? 2 : 3;",
      `store<i32>(${at} + codeOff, code);`,
    ];
  }
  return [
    ...f.map((v, k) => `const f${k} = ${v};`),
    "const m = f32x4.max(f32x4.max(f0, f1), f32x4.max(f2, f3));",
    `v128.store(${at}, f32x4.mul(m, v128.load(${mask})));`,
    "const first = v128.bitselect(kc0, v128.bitselect(kc1, v128.bitselect(" +
    "kc2, kc3, f32x4.eq(f2, m)), f32x4.eq(f1, m)), f32x4.eq(f0, m));",
    `v128.store(${at} + codeOff, ` +
    "v128.bitselect(first, kc4, f32x4.gt(m, fzero)));",
  ];
}

/**
 * {@link dyTransform} reading the gradient of a pooled ReLU instead of the
 * convolution's own: each m×m patch e of the convolution's output gradient
 * is formed from the (m/2)×(m/2) pooled gradients `dyp` and their `codes`
 * ({@link outputTransform} `codes`): a window's gradient at the value its
 * code names, +0 elsewhere (`dy + 0`, as the pool's gradient kernels turn
 * -0 into +0). Adds each window's passed gradient into the bias's float64
 * sums, so that neither the expanded gradient nor a pass over it exists.
 */
function dyPoolTransform(tile: WinogradTile): string {
  const { m, at } = tile;
  const a = m + 2, planes = a * a;
  const A = transpose(at);
  const e = grid("e", m, m);
  const half = m / 2;
  const cells = Array.from({ length: half }, (_, k) => k);
  const body = (ops: Ops, step: string) => {
    const simd = ops === SIMD;
    const lines = [`const cb = <usize> c << 2;`];
    for (const pr of cells) {
      for (const pc of cells) {
        const id = `${pr}${pc}`;
        const names = [
          e[2 * pr][2 * pc],
          e[2 * pr][2 * pc + 1],
          e[2 * pr + 1][2 * pc],
          e[2 * pr + 1][2 * pc + 1],
        ];
        if (simd) {
          lines.push(
            `const g${id} = f32x4.add(` +
              `f32x4.mul(v128.load(p${id} + cb), v128.load(m${id}p + cb)), fzero);`,
            `const k${id} = v128.load(k${id}p + cb);`,
            ...names.map((name, j) =>
              `const ${name} = v128.and(g${id}, i32x4.eq(k${id}, kc${j}));`
            ),
            `const h${id} = v128.and(g${id}, i32x4.lt_s(k${id}, kc4));`,
            `blo = f64x2.add(blo, f64x2.promote_low_f32x4(h${id}));`,
            `bhi = f64x2.add(bhi, f64x2.promote_low_f32x4(` +
              `i32x4.shuffle(h${id}, h${id}, 2, 3, 0, 1)));`,
          );
        } else {
          lines.push(
            `const g${id} = load<f32>(p${id} + cb) * load<f32>(m${id}p + cb) + <f32> 0;`,
            `const k${id} = load<i32>(k${id}p + cb);`,
            ...names.map((name, j) =>
              `const ${name}: f32 = k${id} == ${j} ? g${id} : 0;`
            ),
            `if (k${id} < 4) bs += <f64> g${id};`,
          );
        }
      }
    }
    const q = `o + cb`;
    lines.push(
      `const q = ${q};`,
      ...sandwich(A, e, "D", ops, (i, j, v) => [
        ops.store(`P${i * a + j} + q`, v),
      ]),
    );
    if (simd) {
      lines.push(
        "const bq = bsum + (cb << 1);",
        "v128.store(bq, f64x2.add(v128.load(bq), blo));",
        "v128.store(bq, f64x2.add(v128.load(bq, 16), bhi), 16);",
        "blo = f64x2.splat(0);",
        "bhi = blo;",
      );
    } else {
      lines.push(
        "const bq = bsum + (cb << 1);",
        "store<f64>(bq, load<f64>(bq) + bs);",
        "bs = 0;",
      );
    }
    lines.push(step);
    return lines;
  };
  return withConstants(`
/**
 * F(${m}x${m},3x3), for both gradients of a convolution whose ReLU output
 * was max-pooled 2x2 (stride 2): D[k][t - t0][c] = (A·e·Aᵀ)[k] as {@link
 * dyTransform${m}} forms it, e the ${m}x${m} patch of the convolution's
 * output gradient formed from the pooled gradient \`dyp\` ([N, OH/2, OW/2,
 * C]) and its \`codes\` (int32, same shape, from {@link
 * outputTransformPoolCodes${m}}), times \`mask\` where it is not 0 (the
 * dropout after the pool: its gradient; \`ones\` holds C ones for none);
 * bsum[c] (C float64, 8-byte aligned) +=
 * the gradient each window passes. Windows past OH x OW pass nothing.
 * \`zero\` must point at C (at least 4) zeros (floats and codes alike).
 */
export function dyPoolTransform${m}(
  dyp: usize,
  codes: usize,
  mask: usize,
  ones: usize,
  dTable: usize,
  zero: usize,
  bsum: usize,
  OH: i32,
  OW: i32,
  C: i32,
  TH: i32,
  TW: i32,
  t0: i32,
  count: i32,
): void {
  const pixBytes = <usize> C << 2;
  const rowBytes = <usize> (OW >> 1) * pixBytes;
  const codeOff = codes - dyp;
  const maskOff = mask - dyp;
${indent(planeTable("P", "dTable", planes), 1).join("\n")}
  const tilesPerImage = TH * TW;
${indent(codeConstants(), 1).join("\n")}
  CONSTANTS
  const C4 = C & ~3;
  let blo = f64x2.splat(0), bhi = blo;
  let bs: f64 = 0;
  for (let i = 0; i < count; i++) {
${indent(tileCoords("t0 + i"), 2).join("\n")}
    const oy = ${m} * ty, ox = ${m} * tx;
${
    indent(
      cells.flatMap((k) => [
        `const r${k}ok = oy + ${2 * k + 1} < OH;`,
        `const c${k}ok = ox + ${2 * k + 1} < OW;`,
      ]),
      2,
    ).join("\n")
  }
    const b0 = dyp + (<usize> (n * (OH >> 1) + (oy >> 1)) * <usize> (OW >> 1) + <usize> (ox >> 1)) * pixBytes;
${
    indent(
      cells.flatMap((r) =>
        cells.flatMap((c) => {
          const addr = `b0 + ${r} * rowBytes + ${c} * pixBytes`;
          return [
            `const p${r}${c} = r${r}ok && c${c}ok ? ${addr} : zero;`,
            `const k${r}${c}p = r${r}ok && c${c}ok ? ${addr} + codeOff : zero;`,
            `const m${r}${c}p = r${r}ok && c${c}ok ? (mask != 0 ? ${addr} + maskOff : ones) : zero;`,
          ];
        })
      ),
      2,
    ).join("\n")
  }
${channelLoops(SIMD, body)}
`);
}

function dyTransform(tile: WinogradTile): string {
  const { m, at } = tile;
  const a = m + 2, planes = a * a;
  const A = transpose(at);
  const e = grid("e", m, m);
  const range = Array.from({ length: m }, (_, k) => k);
  const body = (ops: Ops, step: string) => [
    `const cb = <usize> c << 2;`,
    ...e.flat().map((name) =>
      `const ${name} = ${ops.load(`p${name.slice(1)} + cb`)};`
    ),
    `const q = o + cb;`,
    ...sandwich(A, e, "D", ops, (i, j, v) => [
      ops.store(`P${i * a + j} + q`, v),
    ]),
    step,
  ];
  return withConstants(`
/**
 * F(${m}x${m},3x3), for the weight gradient: D[k][t - t0][c] = (A·e·Aᵀ)[k]
 * for tiles t0 .. t0+count-1, where e is the ${m}x${m} patch of channel c of
 * dy ([N, OH, OW, C]) at rows ${m}ty .. +${m - 1} and columns ${m}tx ..
 * +${m - 1} (zero outside OH x OW). Plane k (${planes} of them, each [count,
 * C]) at load<usize>(dTable + 4k). \`zero\` must point at C (at least 4)
 * zeros.
 */
export function dyTransform${m}(
  dy: usize,
  dTable: usize,
  zero: usize,
  OH: i32,
  OW: i32,
  C: i32,
  TH: i32,
  TW: i32,
  t0: i32,
  count: i32,
): void {
  const pixBytes = <usize> C << 2;
  const rowBytes = <usize> OW * pixBytes;
${indent(planeTable("P", "dTable", planes), 1).join("\n")}
  const tilesPerImage = TH * TW;
  CONSTANTS
  const C4 = C & ~3;
  for (let i = 0; i < count; i++) {
${indent(tileCoords("t0 + i"), 2).join("\n")}
    const oy = ${m} * ty, ox = ${m} * tx;
${
    indent(
      range.slice(1).flatMap((k) => [
        `const r${k}ok = oy + ${k} < OH;`,
        `const c${k}ok = ox + ${k} < OW;`,
      ]),
      2,
    ).join("\n")
  }
    const b0 = dy + (<usize> (n * OH + oy) * <usize> OW + <usize> ox) * pixBytes;
${
    indent(
      range.flatMap((r) =>
        range.map((c) => {
          const ok = [r > 0 ? `r${r}ok` : "", c > 0 ? `c${c}ok` : ""]
            .filter((x) => x !== "").join(" && ");
          const addr = `b0 + ${r} * rowBytes + ${c} * pixBytes`;
          return `const p${r}${c} = ${
            ok === "" ? addr : `${ok} ? ${addr} : zero`
          };`;
        })
      ),
      2,
    ).join("\n")
  }
${channelLoops(SIMD, body)}
`);
}

/**
 * The input gradient's output transform, the adjoint of {@link
 * inputTransform}: each tile's a×a patch of dx gets B·P·Bᵀ added (patches
 * overlap by 2 rows and columns, so every point is read, added to and
 * stored); points outside H×W go to a sink.
 */
function inputGradTransform(tile: WinogradTile): string {
  const { m, bt } = tile;
  const a = m + 2, planes = a * a;
  const B = transpose(bt);
  const g = grid("g", a, a);
  const body = (ops: Ops, step: string) => [
    `const cb = <usize> c << 2;`,
    ...g.flat().map((name, k) =>
      `const ${name} = ${ops.load(`P${k} + o + cb`)};`
    ),
    ...sandwich(B, g, "z", ops, (i, j, v) => [
      ops.store(`p${i}${j} + cb`, ops.add(ops.load(`p${i}${j} + cb`), v)),
    ]),
    step,
  ];
  return withConstants(`
/**
 * F(${m}x${m},3x3) input-gradient transform, the adjoint of {@link
 * inputTransform${m}}: dx[n, ${m}·ty - padT + i, ${m}·tx - padL + j, c] +=
 * (B·P·Bᵀ)[i][j] for i, j < ${a} and tiles t0 .. t0+count-1, where P[k] =
 * P[k][t - t0][c] (plane k of ${planes}, each [count, C], at
 * load<usize>(pTable + 4k)). Points outside H x W are added to \`sink\` (C
 * floats, at least 4, overwritten). dx holds the sums so far: zeros before
 * the first chunk.
 */
${
    patchFunction({
      m,
      name: `inputGradTransform${m}`,
      params: ["pTable", "dx", "sink"],
      table: "pTable",
      image: "dx",
      outside: "sink",
      ops: SIMD_HOISTED,
      body,
    })
  }
`);
}

/** The whole generated source, unformatted. */
export function source(): string {
  const parts = [
    `// GENERATED by generate.ts from tiles.ts — do not edit. Regenerate with
// \`deno run --allow-read --allow-write --allow-run lib/kernels/simd/generate.ts\`,
// then rebuild simd.wasm with build.ts.
// @ts-nocheck: AssemblyScript (i32, v128, load<T>, ...), compiled by asc, not Deno.
//
// Winograd tile transforms, WASM SIMD128 (plus relaxed SIMD fused
// multiply-add in the simd_fma.wasm build). The module imports the tfjs
// wasm backend's own memory (env.memory) and touches only the addresses it
// is given: no static data, no stack, no allocator (--runtime stub).
// Layouts (float32, byte addresses): x [N, H, W, C] and y [N, OH, OW, C]
// NHWC; tiles numbered t = (n·TH + ty)·TW + tx; each plane table holds the
// byte address of every plane.

import { madd } from "./simd.as.ts";
`,
  ];
  for (const m of GENERATED_TILES) {
    const tile = TILES[m];
    parts.push(
      inputTransform(tile),
      outputTransform(tile),
      outputTransform(tile, "pool"),
      OUTER_TILES.includes(m) ? outputTransform(tile, "outer") : "",
      dyTransform(tile),
      inputGradTransform(tile),
      // Training's pooled conv2: the default tile only.
      m === 6 ? outputTransform(tile, "codes") + dyPoolTransform(tile) : "",
    );
  }
  return parts.join("");
}

/**
 * The generated source, formatted by `deno fmt` (as committed).
 *
 * @throws {Error} when `deno fmt` fails.
 */
export async function generate(): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext=ts", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(source()));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  if (code !== 0) {
    throw new Error(
      `deno fmt failed (exit ${code}): ${new TextDecoder().decode(stderr)}`,
    );
  }
  return new TextDecoder().decode(stdout);
}

if (import.meta.main) {
  const text = await generate();
  await writeFileAtomic(GENERATED, text);
  console.log(`wrote ${GENERATED} (${text.split("\n").length} lines)`);
}

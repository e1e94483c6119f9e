/**
 * Generates `winograd.as.ts`, the AssemblyScript source of the Winograd
 * F(2×2,3×3) transforms, from the transform matrices.
 *
 * The kernels are straight-line WASM SIMD code: 16 planes, 4×4 tiles, a 4×2
 * register block, each held in its own local (AssemblyScript has no arrays
 * without an allocator, and the module has none). Written by hand that is
 * hundreds of lines of the same statement with other indices; here each run
 * is one loop over the indices, and the arithmetic of each transform comes
 * from its matrix (`BT`, `AT`, `A`), so the source says what is computed and
 * the output only how.
 *
 * Run: `deno run --allow-write lib/kernels/winograd/generate.ts` (writes
 * `winograd.as.ts`), then `deno run -A lib/kernels/winograd/build.ts` (writes
 * `winograd.wasm`). `tests/kernels/winograd_test.ts` checks that both
 * committed files equal a fresh generation and build.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** Path of the generated AssemblyScript source. */
export const GENERATED = fileURLToPath(
  new URL("./winograd.as.ts", import.meta.url),
);

/** Bᵀ of F(2×2,3×3): the input tile transform V = Bᵀ·d·B. */
export const BT: readonly (readonly number[])[] = [
  [1, 0, -1, 0],
  [0, 1, 1, 0],
  [0, -1, 1, 0],
  [0, 1, 0, -1],
];

/** Aᵀ of F(2×2,3×3): the output tile transform y = Aᵀ·m·A. */
export const AT: readonly (readonly number[])[] = [
  [1, 1, 1, 0],
  [0, 1, -1, -1],
];

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * `Σ coefficients[i]·terms[i]` for coefficients in {-1, 0, 1}, folded left,
 * as SIMD (`f32x4.add/sub`) or scalar code; the first positive term leads.
 */
function combine(
  terms: string[],
  coefficients: readonly number[],
  simd: boolean,
): string {
  const used = terms.map((t, i) => [t, coefficients[i]] as const)
    .filter(([, c]) => c !== 0);
  for (const [, c] of used) {
    if (c !== 1 && c !== -1) throw new Error(`coefficient ${c} is not ±1`);
  }
  used.sort((a, b) => b[1] - a[1]); // stable: positive terms first
  const [first, ...rest] = used;
  if (first[1] < 0) throw new Error("no positive term to lead");
  let expr = first[0];
  for (const [t, c] of rest) {
    expr = simd
      ? `f32x4.${c > 0 ? "add" : "sub"}(${expr}, ${t})`
      : `${expr} ${c > 0 ? "+" : "-"} ${t}`;
  }
  return expr;
}

/** `const p0 = load<usize>(table, 0), …` for 16 plane addresses, two a line. */
function planeTable(prefix: string, table: string, indent: string): string {
  const lines: string[] = [];
  for (let k = 0; k < 16; k += 2) {
    lines.push(
      `${indent}const ${prefix}${k} = load<usize>(${table}, ${4 * k}), ` +
        `${prefix}${k + 1} = load<usize>(${table}, ${4 * (k + 1)});`,
    );
  }
  return lines.join("\n");
}

/** The 16 plane addresses `p0, …, p15` as an argument list. */
const planeArgs = (prefix: string) =>
  range(16).map((k) => `${prefix}${k}`).join(", ");

/** Loads and the two passes of V = Bᵀ·d·B for one channel (group). */
function inputTransformChannel(simd: boolean, indent: string): string {
  const load = (p: string) =>
    simd ? `v128.load(${p} + cb)` : `load<f32>(${p} + cb)`;
  const store = (p: string, v: string) =>
    simd ? `v128.store(${p} + q, ${v});` : `store<f32>(${p} + q, ${v});`;
  const out: string[] = [`${indent}const cb = <usize> c << 2;`];
  for (const r of range(4)) {
    out.push(
      `${indent}const ${
        range(4).map((c) => `d${r}${c} = ${load(`p${r}${c}`)}`).join(", ")
      };`,
    );
  }
  out.push(`${indent}// Columns: t = Bᵀ·d.`);
  for (const r of range(4)) {
    out.push(
      `${indent}const ${
        range(4).map((c) =>
          `t${r}${c} = ${
            combine(range(4).map((i) => `d${i}${c}`), BT[r], simd)
          }`
        ).join(", ")
      };`,
    );
  }
  out.push(`${indent}// Rows: V = t·B.`, `${indent}const q = o + cb;`);
  for (const r of range(4)) {
    for (const c of range(4)) {
      out.push(
        `${indent}${
          store(
            `v${4 * r + c}`,
            combine(range(4).map((j) => `t${r}${j}`), BT[c], simd),
          )
        }`,
      );
    }
  }
  return out.join("\n");
}

/** Loads and the two passes of y = Aᵀ·m·A for one channel (group). */
function outputTransformChannel(simd: boolean, indent: string): string {
  const load = (k: number) =>
    simd ? `v128.load(m${k} + a)` : `load<f32>(m${k} + a)`;
  const store = (q: string, v: string) =>
    simd ? `v128.store(${q} + cb, ${v})` : `store<f32>(${q} + cb, ${v})`;
  const out: string[] = [`${indent}const a = o + (<usize> c << 2);`];
  for (const r of range(4)) {
    out.push(
      `${indent}const ${
        range(4).map((c) => `a${r}${c} = ${load(4 * r + c)}`).join(", ")
      };`,
    );
  }
  out.push(`${indent}// Columns: s = Aᵀ·m.`);
  for (const r of range(2)) {
    out.push(
      `${indent}const ${
        range(4).map((c) =>
          `s${r}${c} = ${
            combine(range(4).map((i) => `a${i}${c}`), AT[r], simd)
          }`
        )
          .join(", ")
      };`,
    );
  }
  const y = (r: number, c: number) =>
    store(`q${r}${c}`, combine(range(4).map((j) => `s${r}${j}`), AT[c], simd));
  out.push(
    `${indent}// Rows: y = s·A, the outputs inside OH × OW only.`,
    `${indent}const cb = <usize> c << 2;`,
    `${indent}${y(0, 0)};`,
    `${indent}if (hasR) ${y(0, 1)};`,
    `${indent}if (hasD) {`,
    `${indent}  ${y(1, 0)};`,
    `${indent}  if (hasR) ${y(1, 1)};`,
    `${indent}}`,
  );
  return out.join("\n");
}

/** The addresses of tile `t`'s 2×2 dy patch (`zero` outside OH × OW). */
function dyPatch(
  t: string,
  suffix: string,
  names: string[],
  indent: string,
): string {
  const [a, r, d, rd] = names;
  return [
    `${indent}const n${suffix} = ${t} / tilesPerImage;`,
    `${indent}const r${suffix} = ${t} - n${suffix} * tilesPerImage;`,
    `${indent}const ty${suffix} = r${suffix} / TW, tx${suffix} = r${suffix} - ty${suffix} * TW;`,
    `${indent}const hasR${suffix} = 2 * tx${suffix} + 1 < OW, hasD${suffix} = 2 * ty${suffix} + 1 < OH;`,
    `${indent}const ${a} = dy +`,
    `${indent}  (<usize> (n${suffix} * OH + 2 * ty${suffix}) * <usize> OW + <usize> (2 * tx${suffix})) * pixBytes;`,
    `${indent}const ${r} = hasR${suffix} ? ${a} + pixBytes : zero;`,
    `${indent}const ${d} = hasD${suffix} ? ${a} + rowBytes : zero;`,
    `${indent}const ${rd} = hasR${suffix} && hasD${suffix} ? ${a} + rowBytes + pixBytes : zero;`,
  ].join("\n");
}

function header(): string {
  return `// GENERATED by generate.ts from the transform matrices: do not edit.
// @ts-nocheck: AssemblyScript (i32, v128, load<T>, ...), compiled by asc, not Deno.
// Winograd F(2x2,3x3) input and output transforms, the weight gradient's dy
// transform and its products, WASM SIMD128 (AssemblyScript). Built by
// build.ts into winograd.wasm.
//
// The module imports the tfjs wasm backend's own memory (env.memory) and
// touches only the addresses it is given: it has no static data, no stack
// and no allocator (built with --runtime stub, nothing ever allocated).
//
// Layouts (float32, byte addresses):
//   x: [N, H, W, C] NHWC input.
//   V: 16 planes, plane k at address load<usize>(vTable + 4k), each
//      [count, C] (row = tile - t0).
//   M: 16 planes, plane k at load<usize>(mTable + 4k), each [count, C].
//   y: [N, OH, OW, C] NHWC output.
// Tiles are numbered t = (n·TH + ty)·TW + tx; tile (ty, tx) reads input rows
// 2ty - padT .. +3 and columns 2tx - padL .. +3 (zero outside), and writes
// output rows 2ty, 2ty+1 and columns 2tx, 2tx+1 (only those inside).
`;
}

function inputTransform(): string {
  const patch: string[] = [];
  for (const r of range(4)) {
    for (const c of range(4)) {
      const base = r === 0 ? "b0" : `b${r}`;
      const at = c === 0
        ? base
        : c === 1
        ? `${base} + pixBytes`
        : `${base} + ${c} * pixBytes`;
      patch.push(`    const p${r}${c} = r${r}ok && c${c}ok ? ${at} : zero;`);
    }
  }
  return `
/**
 * V[k][t - t0][c] = (Bᵀ·d·B)[k] for tiles t0 .. t0+count-1, where d is the
 * 4x4 input patch of channel c. \`zero\` must point at C (at least 4) zeros.
 */
export function inputTransform(
  x: usize,
  vTable: usize,
  zero: usize,
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
${planeTable("v", "vTable", "  ")}
  const tilesPerImage = TH * TW;
  const C4 = C & ~3;
  for (let i = 0; i < count; i++) {
    const t = t0 + i;
    const n = t / tilesPerImage;
    const r = t - n * tilesPerImage;
    const ty = r / TW;
    const tx = r - ty * TW;
    const y0 = 2 * ty - padT;
    const x0 = 2 * tx - padL;
    const img = x + <usize> (n * H) * rowBytes;
    // Which rows and columns of the 4x4 patch lie inside the image.
${
    range(4).map((k) =>
      `    const r${k}ok = <u32> (y0 + ${k}) < <u32> H, c${k}ok = <u32> (x0 + ${k}) < <u32> W;`
    ).join("\n")
  }
    const b0 = img + <usize> y0 * rowBytes + <usize> x0 * pixBytes;
    const b1 = b0 + rowBytes, b2 = b1 + rowBytes, b3 = b2 + rowBytes;
${patch.join("\n")}
    const o = <usize> i * pixBytes;
    let c = 0;
    for (; c < C4; c += 4) {
${inputTransformChannel(true, "      ")}
    }
    for (; c < C; c++) {
${inputTransformChannel(false, "      ")}
    }
  }
}
`;
}

function outputTransform(): string {
  return `
/**
 * y[n, 2ty+i, 2tx+j, c] = (Aᵀ·m·A)[i][j] for tiles t0 .. t0+count-1, where
 * m[k] = M[k][t - t0][c]; outputs outside OH x OW are skipped.
 */
export function outputTransform(
  mTable: usize,
  y: usize,
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
${planeTable("m", "mTable", "  ")}
  const tilesPerImage = TH * TW;
  const C4 = C & ~3;
  for (let i = 0; i < count; i++) {
    const t = t0 + i;
    const n = t / tilesPerImage;
    const r = t - n * tilesPerImage;
    const ty = r / TW;
    const tx = r - ty * TW;
    const oy = 2 * ty, ox = 2 * tx;
    const hasR = ox + 1 < OW, hasD = oy + 1 < OH;
    const q00 = y +
      (<usize> (n * OH + oy) * <usize> OW + <usize> ox) * pixBytes;
    const q01 = q00 + pixBytes, q10 = q00 + rowBytes, q11 = q10 + pixBytes;
    const o = <usize> i * pixBytes;
    let c = 0;
    for (; c < C4; c += 4) {
${outputTransformChannel(true, "      ")}
    }
    for (; c < C; c++) {
${outputTransformChannel(false, "      ")}
    }
  }
}
`;
}

/** A = (Aᵀ)ᵀ for F(2×2,3×3), as rows: the dy transform A·e·Aᵀ. */
const A = range(4).map((r) => range(2).map((c) => AT[c][r]));

function dyTiles(): string {
  // storeRow's pattern [a, a + b, a - b, -b] is A applied to (a, b).
  const pattern = A.map((row) => row.join(",")).join(" ");
  if (pattern !== "1,0 1,1 1,-1 0,-1") {
    throw new Error(
      `storeRow assumes A = [[1,0],[1,1],[1,-1],[0,-1]], got ${pattern}`,
    );
  }
  const rows = (simd: boolean, e: (r: number, c: number) => string) =>
    range(4).map((k) => {
      const pair = range(2).map((c) => {
        const coefficients = A[k];
        if (coefficients.every((v) => v === 0)) {
          return simd ? "f32x4.splat(0)" : "0";
        }
        const terms = [e(0, c), e(1, c)];
        if (coefficients[0] === 0 && coefficients[1] === -1) {
          return simd ? `f32x4.neg(${terms[1]})` : `-${terms[1]}`;
        }
        return combine(terms, coefficients, simd);
      });
      const planes = range(4).map((j) => `d${4 * k + j}`).join(", ");
      return `  storeRow${simd ? "" : "1"}(${planes}, at, ${pair.join(", ")});`;
    }).join("\n");
  const params = (type: string) =>
    [
      ...range(16).map((k) => `d${k}: usize`),
      "at: usize",
      ...["e00", "e01", "e10", "e11"].map((e) => `${e}: ${type}`),
    ]
      .map((p) => `  ${p},`).join("\n");
  return `
/** Stores one row pair (a, b) of A·e·Aᵀ: [a, a + b, a - b, -b]. */
function storeRow(p0: usize, p1: usize, p2: usize, p3: usize, at: usize, a: v128, b: v128): void {
  v128.store(p0 + at, a);
  v128.store(p1 + at, f32x4.add(a, b));
  v128.store(p2 + at, f32x4.sub(a, b));
  v128.store(p3 + at, f32x4.neg(b));
}

/** Scalar version of {@link storeRow}. */
function storeRow1(p0: usize, p1: usize, p2: usize, p3: usize, at: usize, a: f32, b: f32): void {
  store<f32>(p0 + at, a);
  store<f32>(p1 + at, a + b);
  store<f32>(p2 + at, a - b);
  store<f32>(p3 + at, -b);
}

/**
 * Stores channel c of one tile of the weight gradient's dy transform,
 * scalar: e00 .. e11 is the 2x2 dy patch, \`at\` the byte offset c·ld + 4i.
 */
function dyTile1(
${params("f32")}
): void {
${rows(false, (r, c) => `e${r}${c}`)}
}

/** SIMD version of {@link dyTile1}: lanes are four consecutive tiles. */
function dyTile4(
${params("v128")}
): void {
${rows(true, (r, c) => `e${r}${c}`)}
}
`;
}

function dyTransform(): string {
  const four: string[] = [];
  for (const j of range(4)) {
    four.push(
      dyPatch(
        `(t0 + i + ${j})`,
        `${j}`,
        range(4).map((k) => `a${j}${k}`),
        "    ",
      ),
    );
  }
  // For each patch position k: load it from the four tiles and transpose
  // the 4x4 block so that lanes are tiles.
  const simd: string[] = [];
  for (const k of range(4)) {
    simd.push(
      `      const ${
        range(4).map((j) => `x${k}${j} = v128.load(a${j}${k} + cb)`).join(", ")
      };`,
      `      const u${k}0 = v128.shuffle<f32>(x${k}0, x${k}1, 0, 4, 1, 5), u${k}1 = v128.shuffle<f32>(x${k}0, x${k}1, 2, 6, 3, 7);`,
      `      const u${k}2 = v128.shuffle<f32>(x${k}2, x${k}3, 0, 4, 1, 5), u${k}3 = v128.shuffle<f32>(x${k}2, x${k}3, 2, 6, 3, 7);`,
      `      const e${k}0 = v128.shuffle<f32>(u${k}0, u${k}2, 0, 1, 4, 5), e${k}1 = v128.shuffle<f32>(u${k}0, u${k}2, 2, 3, 6, 7);`,
      `      const e${k}2 = v128.shuffle<f32>(u${k}1, u${k}3, 0, 1, 4, 5), e${k}3 = v128.shuffle<f32>(u${k}1, u${k}3, 2, 3, 6, 7);`,
    );
  }
  const offset = (c: number) =>
    c === 0 ? "at" : c === 1 ? "at + ld" : `at + ${c} * ld`;
  simd.push("      const at = o + <usize> c * ld;");
  for (const c of range(4)) {
    simd.push(
      `      dyTile4(${planeArgs("d")}, ${offset(c)}, ${
        range(4).map((k) => `e${k}${c}`).join(", ")
      });`,
    );
  }
  const scalar = range(4).map((j) =>
    `      dyTile1(${planeArgs("d")}, at${j === 0 ? "" : ` + ${4 * j}`}, ${
      range(4).map((k) => `load<f32>(a${j}${k} + cb)`).join(", ")
    });`
  );
  return `
/**
 * For the weight gradient: D[k][c][t - t0] = (A·e·Aᵀ)[k] for tiles t0 ..
 * t0+count-1, where e is the 2x2 patch of channel c of dy ([N, OH, OW, C])
 * at rows 2ty, 2ty+1 and columns 2tx, 2tx+1 (zero outside OH x OW) and
 * A = [[1,0],[1,1],[1,-1],[0,-1]]. Plane k at load<usize>(dTable + 4k), each
 * [C, count] (channel-major: the GEMM's left operand). \`zero\` must point at
 * C (at least 4) zeros.
 */
export function dyTransform(
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
  const ld = <usize> count << 2; // bytes between channel rows of a plane
${planeTable("d", "dTable", "  ")}
  const tilesPerImage = TH * TW;
  const C4 = C & ~3;
  const count4 = count & ~3;
  let i = 0;
  // Four tiles at a time: loads run over channels, 4x4 transposes make the
  // lanes tiles, and each result is one 16-byte store at D[k][c][i .. i+3].
  for (; i < count4; i += 4) {
${four.join("\n")}
    const o = <usize> i << 2;
    let c = 0;
    for (; c < C4; c += 4) {
      const cb = <usize> c << 2;
${simd.join("\n")}
    }
    for (; c < C; c++) {
      const cb = <usize> c << 2;
      const at = o + <usize> c * ld;
${scalar.join("\n")}
    }
  }
  for (; i < count; i++) {
${dyPatch("(t0 + i)", "", ["q00", "q01", "q10", "q11"], "    ")}
    const o = <usize> i << 2;
    for (let c = 0; c < C; c++) {
      const cb = <usize> c << 2;
      dyTile1(${planeArgs("d")}, o + <usize> c * ld, ${
    ["q00", "q01", "q10", "q11"].map((q) => `load<f32>(${q} + cb)`).join(", ")
  });
    }
  }
}
`;
}

function gradProducts(): string {
  const CO = 4, HALVES = 2; // register block: 4 output channels × 8 input channels
  const acc = (o: number, h: number) => `s${o}${h}`;
  const lines = (f: (o: number, h: number) => string, indent: string) =>
    range(CO).flatMap((o) => range(HALVES).map((h) => `${indent}${f(o, h)}`))
      .join("\n");
  return `
/**
 * The weight gradient's products, accumulated: for k < 16,
 * G[k][co][ci] += Σ_i D[k][co][i] · V[k][i][ci] over the chunk's tiles
 * i < count, with V[k] at load<usize>(vTable + 4k) ([count, Cin], as
 * inputTransform writes it), D[k] at load<usize>(dTable + 4k) ([Cout,
 * count], as dyTransform writes it) and G[k] at g + 4k·Cout·Cin.
 * Register blocks of ${CO} output channels x ${
    4 * HALVES
  } input channels; lanes run over
 * input channels.
 */
export function gradProducts(
  vTable: usize,
  dTable: usize,
  g: usize,
  Cin: i32,
  Cout: i32,
  count: i32,
): void {
  const ld = <usize> count << 2; // bytes between rows of D[k]
  const vRow = <usize> Cin << 2; // bytes between rows of V[k]
  const planeBytes = <usize> (Cin * Cout) << 2;
  const Cin8 = Cin & ~7;
  const Cout4 = Cout & ~3;
  for (let k = 0; k < 16; k++) {
    const v = load<usize>(vTable + (<usize> k << 2));
    const d = load<usize>(dTable + (<usize> k << 2));
    const gk = g + <usize> k * planeBytes;
    for (let co = 0; co < Cout4; co += 4) {
      const d0 = d + <usize> co * ld;
      const d1 = d0 + ld, d2 = d1 + ld, d3 = d2 + ld;
      const g0 = gk + <usize> co * vRow;
      const g1 = g0 + vRow, g2 = g1 + vRow, g3 = g2 + vRow;
      for (let ci = 0; ci < Cin8; ci += 8) {
${lines((o, h) => `let ${acc(o, h)} = f32x4.splat(0);`, "        ")}
        let vp = v + (<usize> ci << 2);
        for (let i = 0; i < count; i++) {
          const tb = <usize> i << 2;
          const a0 = v128.load(vp), a1 = v128.load(vp, 16);
${
    range(CO).map((o) =>
      `          const b${o} = v128.load32_splat(d${o} + tb);`
    ).join("\n")
  }
${
    lines(
      (o, h) =>
        `${acc(o, h)} = f32x4.add(${acc(o, h)}, f32x4.mul(a${h}, b${o}));`,
      "          ",
    )
  }
          vp += vRow;
        }
        const cb = <usize> ci << 2;
${
    lines((o, h) =>
      h === 0
        ? `v128.store(g${o} + cb, f32x4.add(v128.load(g${o} + cb), ${
          acc(o, h)
        }));`
        : `v128.store(g${o} + cb, f32x4.add(v128.load(g${o} + cb, 16), ${
          acc(o, h)
        }), 16);`, "        ")
  }
      }
      for (let ci = Cin8; ci < Cin; ci++) {
${
    range(CO).map((o) =>
      `        gradDot(v + (<usize> ci << 2), vRow, d${o}, g${o} + (<usize> ci << 2), count);`
    ).join("\n")
  }
      }
    }
    for (let co = Cout4; co < Cout; co++) {
      const dc = d + <usize> co * ld;
      const gc = gk + <usize> co * vRow;
      for (let ci = 0; ci < Cin; ci++) {
        gradDot(v + (<usize> ci << 2), vRow, dc, gc + (<usize> ci << 2), count);
      }
    }
  }
}

/** *g += Σ_i load<f32>(v + i·vRow) · load<f32>(d + 4i), i < count. */
function gradDot(v: usize, vRow: usize, d: usize, g: usize, count: i32): void {
  let s: f32 = 0;
  for (let i = 0; i < count; i++) {
    s += load<f32>(v + <usize> i * vRow) * load<f32>(d + (<usize> i << 2));
  }
  store<f32>(g, load<f32>(g) + s);
}
`;
}

/** The whole AssemblyScript source, as {@link GENERATED} holds it. */
export function generate(): string {
  return header() + inputTransform() + outputTransform() + dyTiles() +
    dyTransform() + gradProducts();
}

if (import.meta.main) {
  await Deno.writeTextFile(GENERATED, generate());
  console.log(`wrote ${GENERATED}`);
}

/**
 * Checks the rule of docs/design.md that imports inside the project go one
 * way, down its layers: no module of `lib/` or `tasks/` reaches itself through
 * its relative imports, no folder of `lib/` reaches itself through another,
 * and no import goes up a layer (static `import … from`, `export … from`, and
 * `import("…")` of a literal path, type-only imports included; block comments,
 * where the JSDoc examples import what they document, are left out).
 *
 * Run: `deno test --allow-read tests/imports_test.ts`
 */
import { assertEquals } from "@std/assert";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** The `.ts` files below `dir` (relative to the repository root). */
function sources(dir: string): string[] {
  const found: string[] = [];
  for (const entry of Deno.readDirSync(join(ROOT, dir))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) found.push(...sources(path));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".as.ts")) {
      found.push(path);
    }
  }
  return found;
}

const IMPORT =
  /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)"(\.{1,2}\/[^"]+)"/gm;

/** Each module's relative imports, as repository paths. */
export function importGraph(dirs: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of dirs.flatMap(sources)) {
    // Without comments: the JSDoc examples import the module they document.
    const text = Deno.readTextFileSync(join(ROOT, file))
      .replace(/\/\*[\s\S]*?\*\//g, "");
    const deps = [...text.matchAll(IMPORT)].map((m) =>
      relative(ROOT, join(ROOT, file, "..", m[1]))
    );
    graph.set(file, [...new Set(deps)]);
  }
  return graph;
}

/** Every cycle found by a depth-first walk, as paths `a -> b -> a`. */
export function cycles(graph: Map<string, string[]>): string[] {
  const found: string[] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (v: string) => {
    state.set(v, "open");
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (state.get(w) === "open") {
        found.push([...stack.slice(stack.indexOf(w)), w].join(" -> "));
      } else if (!state.has(w)) visit(w);
    }
    stack.pop();
    state.set(v, "done");
  };
  for (const v of graph.keys()) if (!state.has(v)) visit(v);
  return found;
}

Deno.test("imports: no import circles in lib/ and tasks/", () => {
  const graph = importGraph(["lib", "tasks"]);
  // The walk finds a circle where there is one.
  assertEquals(
    cycles(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]]])),
    ["a -> b -> c -> a"],
  );
  // It reads real imports (a module known to import two others).
  const kernels = graph.get("lib/kernels/mod.ts") ?? [];
  assertEquals(
    ["lib/kernels/batch_mat_mul.ts", "lib/kernels/conv2d.ts"].filter((p) =>
      kernels.includes(p)
    ).length,
    2,
  );
  assertEquals(cycles(graph), []);
});

/**
 * The layers of `lib/`, top first, as docs/design.md's "Which way imports go"
 * names them. A module imports its own layer or one below, never one above.
 */
const LAYERS: Record<string, number> = {
  // The public API: nothing in lib/ imports it.
  "lib/mod.ts": 0,
  // Features built on the steps; they use each other without a circle.
  ...layer(1, "inside/ charts/ server/ checkpoint/ datasets/"),
  // The tutorial's steps.
  ...layer(
    2,
    "data.ts model.ts model_info.ts training.ts saving.ts predict.ts display.ts backend.ts",
  ),
  // Building blocks; they import each other only where one is below the other.
  ...layer(3, "engine/ kernels/ jupyter/ interrupt/ keras/ onnx/ image/"),
  // Shared by every layer, importing nothing of the project's but each other.
  ...layer(4, "errors.ts files.ts html.ts"),
};

/** The steps a building block may still import, and why (docs/design.md). */
const SHARED_STEPS: Record<string, string> = {
  "lib/data.ts": "the image size, the Split type and batches",
  "lib/backend.ts": "what each worker thread starts",
};

function layer(rank: number, names: string): Record<string, number> {
  return Object.fromEntries(names.split(" ").map((n) => [`lib/${n}`, rank]));
}

/**
 * The unit a module belongs to: its folder of `lib/` (`lib/engine/`), a file
 * at the top of `lib/` itself (`lib/data.ts`), or its top folder (`tasks/`).
 */
export function unitOf(path: string): string {
  const parts = path.split("/");
  if (parts[0] === "lib") {
    return parts.length > 2 ? `lib/${parts[1]}/` : path;
  }
  return `${parts[0]}/`;
}

/** The graph of units: which unit imports which other. */
export function unitGraph(graph: Map<string, string[]>): Map<string, string[]> {
  const units = new Map<string, Set<string>>();
  for (const [file, deps] of graph) {
    const from = unitOf(file);
    const to = units.get(from) ?? new Set<string>();
    for (const dep of deps) if (unitOf(dep) !== from) to.add(unitOf(dep));
    units.set(from, to);
  }
  return new Map([...units].map(([u, to]) => [u, [...to]]));
}

/**
 * Every import that goes up: out of `lib/` (to `tasks/`, `tests/`, …), from
 * `tasks/` to `tests/`, or to a layer of `lib/` above the importer's (a
 * building block may import the steps `SHARED_STEPS` names), and every
 * feature `inside/` imports; as `from -> to (why)`. Units of `lib/` with no
 * layer are reported too, so a new folder gets one.
 */
export function upwardImports(graph: Map<string, string[]>): string[] {
  const found: string[] = [];
  const rank = (unit: string) => LAYERS[unit];
  for (const [file, deps] of graph) {
    const from = unitOf(file);
    if (from.startsWith("lib/") && rank(from) === undefined) {
      found.push(`${from} has no layer (docs/design.md, LAYERS here)`);
    }
    for (const dep of deps) {
      const to = unitOf(dep);
      const edge = `${file} -> ${dep}`;
      if (from === to) continue;
      if (from.startsWith("lib/") && !to.startsWith("lib/")) {
        found.push(`${edge} (lib/ imports only lib/)`);
      } else if (from === "tasks/" && !to.startsWith("lib/")) {
        found.push(`${edge} (tasks/ imports only lib/ and tasks/)`);
      } else if (!from.startsWith("lib/") || rank(to) === undefined) {
        continue;
      } else if (rank(to) < rank(from)) {
        if (!(rank(from) === 3 && dep in SHARED_STEPS)) {
          found.push(`${edge} (up from layer ${rank(from)} to ${rank(to)})`);
        }
      } else if (from === "lib/inside/" && rank(to) === 1) {
        found.push(`${edge} (inside/ imports no other feature)`);
      }
    }
  }
  return [...new Set(found)];
}

Deno.test("imports: none goes up a layer of docs/design.md, no folder of lib/ reaches itself", () => {
  // The rules catch what they are for, on made-up graphs.
  const check = (edges: [string, string][]) =>
    upwardImports(new Map(edges.map(([a, b]) => [a, [b]])));
  assertEquals(check([["lib/engine/x.ts", "lib/training.ts"]]), [
    "lib/engine/x.ts -> lib/training.ts (up from layer 3 to 2)",
  ]);
  assertEquals(check([["lib/data.ts", "tasks/flags.ts"]]), [
    "lib/data.ts -> tasks/flags.ts (lib/ imports only lib/)",
  ]);
  assertEquals(check([["lib/kernels/x.ts", "tests/helpers.ts"]]).length, 1);
  assertEquals(check([["tasks/train.ts", "tests/helpers.ts"]]).length, 1);
  assertEquals(check([["lib/inside/x.ts", "lib/charts/mod.ts"]]).length, 1);
  assertEquals(check([["lib/server/x.ts", "lib/mod.ts"]]).length, 1);
  assertEquals(check([["lib/errors.ts", "lib/data.ts"]]).length, 1);
  assertEquals(check([["lib/nowhere/x.ts", "lib/errors.ts"]]), [
    "lib/nowhere/ has no layer (docs/design.md, LAYERS here)",
  ]);
  // What design.md allows: down a layer, a feature on another, the shared steps.
  assertEquals(check([["lib/charts/x.ts", "lib/inside/mod.ts"]]), []);
  assertEquals(check([["lib/engine/worker.ts", "lib/backend.ts"]]), []);
  assertEquals(check([["lib/keras/read.ts", "lib/data.ts"]]), []);
  assertEquals(check([["tasks/bench/main.ts", "lib/engine/pool.ts"]]), []);
  // A kernel importing the backend that registers the kernels is a circle of
  // folders, though no file reaches itself.
  const kernels = new Map([
    ["lib/kernels/x_bench.ts", ["lib/backend.ts"]],
    ["lib/backend.ts", ["lib/kernels/mod.ts"]],
    ["lib/kernels/mod.ts", []],
  ]);
  assertEquals(cycles(kernels), []);
  assertEquals(cycles(unitGraph(kernels)), [
    "lib/kernels/ -> lib/backend.ts -> lib/kernels/",
  ]);

  const graph = importGraph(["lib", "tasks"]);
  assertEquals(upwardImports(graph), []);
  assertEquals(
    cycles(
      unitGraph(new Map([...graph].filter(([f]) => f.startsWith("lib/")))),
    ),
    [],
  );
});

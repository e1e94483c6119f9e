/**
 * Checks the rule of docs/design.md that imports inside the project go one
 * way: no module of `lib/` or `tasks/` reaches itself through its relative
 * imports (static `import … from`, `export … from`, and `import("…")` of a
 * literal path, type-only imports included; block comments, where the JSDoc
 * examples import what they document, are left out).
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

/**
 * Keeps the docs true to the tree: every repository path README.md and
 * docs/*.md name exists (in backticks or as a link), the layout in
 * docs/design.md names lib/'s real folders and files, and deno.json gives no
 * task more than docs/design.md's rule allows.
 */
import { assert, assertEquals } from "@std/assert";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
/** Where a path in the docs starts when it names a file of this repository. */
const TOP = /^(lib|tasks|tests|docs|notebooks|web|\.ci)\//;
/** Generated or local paths that are not committed (see .gitignore). */
const NOT_COMMITTED = /^(data|models)\//;

async function docs(): Promise<{ path: string; text: string }[]> {
  const files = ["README.md"];
  for await (const entry of Deno.readDir(join(ROOT, "docs"))) {
    if (entry.isFile && entry.name.endsWith(".md")) {
      files.push(`docs/${entry.name}`);
    }
  }
  return await Promise.all(
    files.sort().map(async (path) => ({
      path,
      text: await Deno.readTextFile(join(ROOT, path)),
    })),
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(join(ROOT, path));
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Repository paths a doc names: `lib/x.ts` in backticks, and relative links. */
export function namedPaths(doc: string, text: string): string[] {
  const paths: string[] = [];
  for (const [, code] of text.matchAll(/`([^`\s]+)`/g)) {
    // Placeholders and patterns (`tests/<folder>/…`, `lib/*.ts`) name no file.
    if (!TOP.test(code) || /[<>*…{}$]/.test(code)) continue;
    paths.push(code.replace(/:\d+$/, ""));
  }
  for (const [, link] of text.matchAll(/\]\(([^)\s#]+)(#[^)]*)?\)/g)) {
    if (/^[a-z]+:/.test(link)) continue;
    paths.push(normalize(join(dirname(doc), link)));
  }
  return paths.filter((p) => !NOT_COMMITTED.test(p));
}

Deno.test("namedPaths: backticked repository paths and relative links, not placeholders or URLs", () => {
  assertEquals(
    namedPaths(
      "docs/x.md",
      "`lib/mod.ts` `lib/a.ts:12` `tests/<folder>/x_test.ts` `lib/*.ts` " +
        "`models/mnist_cnn/` `mod.ts` [s](speed.md#memory) [r](../README.md) " +
        "[w](https://example.com/lib/x.ts)",
    ),
    ["lib/mod.ts", "lib/a.ts", "docs/speed.md", "README.md"],
  );
});

Deno.test("every repository path README.md and docs/*.md name exists", async () => {
  const missing: string[] = [];
  for (const { path, text } of await docs()) {
    for (const named of namedPaths(path, text)) {
      if (!(await exists(named))) missing.push(`${path}: ${named}`);
    }
  }
  assertEquals(missing, [], "paths named in the docs that do not exist");
});

Deno.test("docs/design.md's layout names lib/'s real modules and folders", async () => {
  const text = await Deno.readTextFile(join(ROOT, "docs/design.md"));
  const layout = text.match(/## Layout by job\n\n```\n([\s\S]*?)```/)?.[1];
  if (!layout) throw new Error("docs/design.md has no layout block");
  const missing: string[] = [];
  let parent = "";
  for (const line of layout.split("\n")) {
    const match = line.match(/^( *)(\S+)/);
    if (!match) continue;
    const [, indent, name] = match;
    if (indent.length === 0) parent = name.endsWith("/") ? name : "";
    const path = indent.length === 0 ? name : parent + name;
    if (!(await exists(path))) missing.push(path);
  }
  assertEquals(missing, [], "named in docs/design.md, not in the tree");
});

/** The `--allow-*` flags of a `deno run`/`deno test` command line, sorted. */
function allowFlags(command: string): string[] {
  return command.split(/\s+/).filter((word) =>
    word.startsWith("--allow-") || word === "-A"
  ).sort();
}

Deno.test("no task gets FFI or --allow-all, and only serve listens beyond loopback", async () => {
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  for (
    const [task, command] of Object.entries(
      config.tasks as Record<string, string>,
    )
  ) {
    const flags = allowFlags(command);
    assert(
      !flags.some((f) =>
        f === "-A" || f.startsWith("--allow-all") ||
        f.startsWith("--allow-ffi")
      ),
      `${task} gets ${flags.join(" ")}`,
    );
    const net = flags.find((f) => f.startsWith("--allow-net"));
    assert(
      !net || net === "--allow-net=127.0.0.1" || task === "serve",
      `${task} listens beyond loopback`,
    );
  }
});

/** Every `@example` code block of the `.ts` files under `dir`. */
async function examples(
  dir: string,
): Promise<{ where: string; fence: string; code: string[] }[]> {
  const found: { where: string; fence: string; code: string[] }[] = [];
  for await (const entry of Deno.readDir(join(ROOT, dir))) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) found.push(...await examples(path));
    if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
    const lines = (await Deno.readTextFile(join(ROOT, path))).split("\n");
    lines.forEach((line, i) => {
      if (!line.includes("@example")) return;
      const open = lines.findIndex((l, j) => j > i && l.includes("```"));
      const close = lines.findIndex((l, j) => j > open && l.includes("```"));
      found.push({
        where: `${path}:${i + 1}`,
        fence: lines[open].replace(/^\s*\*\s?/, ""),
        code: lines.slice(open + 1, close).map((l) =>
          l.replace(/^\s*\*\s?/, "")
        ),
      });
    });
  }
  return found;
}

Deno.test("every @example in lib/ and tasks/ asserts its result, or is `ts ignore` with a reason", async () => {
  const all = [...await examples("lib"), ...await examples("tasks")];
  assert(all.length > 50, `found ${all.length} examples`);
  const bad: string[] = [];
  for (const { where, fence, code } of all) {
    if (fence === "```ts ignore") {
      if (!code[0]?.startsWith("//")) {
        bad.push(`${where}: ignore without a reason`);
      }
    } else if (fence !== "```ts") {
      bad.push(`${where}: fence ${fence}`);
    } else if (!code.some((l) => /\bassert\w*\(/.test(l))) {
      bad.push(`${where}: asserts nothing`);
    }
    // Commented-out code: a comment line ending like a statement.
    for (const line of code) {
      if (/^\/\/.*[;{]$/.test(line)) bad.push(`${where}: ${line}`);
    }
  }
  assertEquals(bad, []);
});

Deno.test("README: the fresh-machine heading counts its commands; the Jupyter setup works as written", async () => {
  const text = await Deno.readTextFile(join(ROOT, "README.md"));
  const heading = /^## (\w+) commands on a fresh machine\n\n```sh\n([^`]*)```/m
    .exec(text);
  if (!heading) throw new Error("no '## N commands on a fresh machine'");
  const words = ["One", "Two", "Three", "Four", "Five", "Six", "Seven"];
  const commands = heading[2].trim().split("\n").length;
  assertEquals(heading[1], words[commands - 1], heading[2]);
  // `deno jupyter --install` fails where a kernel is registered already;
  // the Fashion notebook needs Debian's Fashion-MNIST.
  assert(/^deno jupyter --install --force\b/m.test(text), "--force");
  assert(
    /^sudo apt-get install [^\n]*jupyter-notebook[^\n]*dataset-fashion-mnist/m
      .test(text),
    "the Jupyter install line includes dataset-fashion-mnist",
  );
  assert(text.length <= 10 * 1024, `README is ${text.length} bytes`);
});

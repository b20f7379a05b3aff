// The layers of the source tree (ARCHITECTURE.md): a strict order, imports
// pointing down only. Each folder of lib/ has a rank of its own (the bottom
// files lib/errors.ts and lib/layout.ts too): a file imports files of its own
// folder or of a lower rank, never of a higher one; and no files import each
// other in a cycle. lib/ never imports cli/, never prints and never exits;
// cli/core (the machinery) never imports cli/commands.
// Reads the source files.

import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { REPO, sources } from "../support/repo.ts";

/** The order of the layers, bottom first: each may import those before it. */
const ORDER = [
  "lib/errors.ts",
  "lib/layout.ts",
  "lib/text",
  "lib/os",
  "lib/net",
  "lib/runit",
  "lib/qemu",
  "lib/vm",
  "lib/images",
  "lib/ssh",
  "lib/cloud_init",
  "lib/service",
  "lib/export",
  "lib/actions",
  "cli/core",
  "cli/commands",
  "main.ts",
] as const;

/** The rank of each layer: its place in ORDER. */
const RANK: Record<string, number> = Object.fromEntries(ORDER.map((layer, i) => [layer, i]));

/** The layer a repository path belongs to (its folder, or lib/errors.ts). */
function layerOf(path: string): string {
  if (path === "lib/errors.ts" || path === "lib/layout.ts" || path === "main.ts") return path;
  const parts = path.split("/");
  return parts[0] === "lib" || parts[0] === "cli" ? `${parts[0]}/${parts[1]}` : parts[0] ?? "";
}

/** The relative module specifiers a file imports (static and dynamic). */
function importsOf(file: string): string[] {
  const text = Deno.readTextFileSync(join(REPO, file));
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
    out.push(relative(REPO, resolve(dirname(join(REPO, file)), m[1] ?? "")));
  }
  return out;
}

/** The source files whose imports are checked. */
function files(): string[] {
  return ["main.ts", ...sources("cli"), ...sources("lib")];
}

Deno.test("every folder of lib/ has a layer of its own", () => {
  const folders = [...Deno.readDirSync(join(REPO, "lib"))]
    .map((e) => e.isDirectory ? `lib/${e.name}` : layerOf(`lib/${e.name}`));
  for (const f of folders) assert.ok(RANK[f] !== undefined, `"${f}" has no layer; add it to ORDER`);
  assert.equal(new Set(ORDER).size, ORDER.length);
});

Deno.test("imports point down the layers only", () => {
  const wrong: string[] = [];
  for (const file of files()) {
    const from = layerOf(file);
    const rank = RANK[from];
    assert.ok(rank !== undefined, `${file}: folder "${from}" has no layer; add it to ORDER`);
    for (const target of importsOf(file)) {
      const to = RANK[layerOf(target)];
      assert.ok(to !== undefined, `${file} imports ${target}, which is in no layer`);
      if (to > rank) wrong.push(`${file} (${from}) imports ${target} (${layerOf(target)})`);
    }
  }
  assert.deepEqual(wrong, []);
});

/** The import cycles among `files`, each as its files (Tarjan's strongly connected components). */
function cycles(files: readonly string[]): string[][] {
  const edges = new Map(files.map((f) => [f, importsOf(f)]));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v) ?? 0);
    stack.push(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string | undefined;
    do {
      w = stack.pop();
      if (w !== undefined) scc.push(w);
    } while (w !== undefined && w !== v);
    if (scc.length > 1) out.push(scc.sort());
  };
  for (const f of files) if (!index.has(f)) visit(f);
  return out;
}

Deno.test("no files import each other in a cycle", () => {
  assert.deepEqual(cycles(files()), []);
});

Deno.test("lib/ never prints and never exits", () => {
  const offenders = sources("lib").filter((file) => {
    const code = Deno.readTextFileSync(join(REPO, file)).split("\n")
      .filter((l) => !/^\s*(\*|\/\/|\/\*\*)/.test(l)).join("\n");
    return /\bconsole\.(log|error|warn|info|debug)\(|Deno\.exit\(|Deno\.std(out|err)\.write/.test(
      code,
    );
  });
  assert.deepEqual(offenders, []);
});

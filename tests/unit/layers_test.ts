// The layers of the source tree (ARCHITECTURE.md): imports point down only.
// cli/ → lib/actions, lib/service → lib/vm, lib/runit, lib/qemu (and the
// other areas at their level) → lib/os, lib/text, lib/errors.ts. lib/ never
// imports cli/, never prints and never exits. Reads the source files.

import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { REPO, sources } from "../support/repo.ts";

/** The rank of each folder: a file may import files of its own rank or lower. */
const RANK: Record<string, number> = {
  "lib/errors.ts": 0,
  "lib/layout.ts": 0,
  "lib/os": 0,
  "lib/text": 0,
  "lib/vm": 1,
  "lib/runit": 1,
  "lib/qemu": 1,
  "lib/images": 1,
  "lib/cloud_init": 1,
  "lib/ssh": 1,
  "lib/service": 2,
  "lib/actions": 2,
  "lib/export": 2,
  "cli": 3,
  "main.ts": 4,
};

/** The layer a repository path belongs to (its folder, or lib/errors.ts). */
function layerOf(path: string): string {
  if (path === "lib/errors.ts" || path === "lib/layout.ts" || path === "main.ts") return path;
  const parts = path.split("/");
  return parts[0] === "lib" ? `lib/${parts[1]}` : parts[0] ?? "";
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

Deno.test("imports point down the layers only", () => {
  const files = ["main.ts", ...sources("cli"), ...sources("lib")];
  const wrong: string[] = [];
  for (const file of files) {
    const from = layerOf(file);
    const rank = RANK[from];
    assert.ok(rank !== undefined, `${file}: folder "${from}" has no layer; add it to RANK`);
    for (const target of importsOf(file)) {
      const to = RANK[layerOf(target)];
      assert.ok(to !== undefined, `${file} imports ${target}, which is in no layer`);
      if (to > rank) wrong.push(`${file} (${from}) imports ${target} (${layerOf(target)})`);
    }
  }
  assert.deepEqual(wrong, []);
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

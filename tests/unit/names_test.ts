// Every name vm uses in a VM directory and in $VMDIR is written once, in
// lib/layout.ts (ARCHITECTURE.md): no string literal elsewhere in lib/, cli/
// or main.ts is one of its names. A few names are also words of another
// kind (runsv's states, `sv` commands, option and completion names) and are
// left out of the check. Reads the source files.

import assert from "node:assert/strict";
import { join } from "node:path";
import * as layout from "../../lib/layout.ts";
import { REPO, sources } from "../support/repo.ts";

/** Names that are also runsv states (run, down, finish), options or kinds (wait, log, arch, …). */
const ALSO_WORDS = new Set([
  "run",
  "down",
  "finish",
  "wait",
  "log",
  "templates",
  "ssh",
  "once",
  "backoff",
  "cloud-init",
  "control/t",
  // vm make's options and their values (--arch, --tpm, --windows, --firmware uefi), JSON fields.
  "arch",
  "tpm",
  "uefi",
  "windows",
]);

/** Every string value of lib/layout.ts's exports. */
function names(): Set<string> {
  const out = new Set<string>();
  const walk = (v: unknown) => {
    if (typeof v === "string") out.add(v);
    else if (v !== null && typeof v === "object") Object.values(v).forEach(walk);
  };
  Object.values(layout).forEach(walk);
  return out;
}

/** The string literals of `source` outside comments (quoted, or backquoted without `${`). */
function literals(source: string): string[] {
  const out: string[] = [];
  for (const line of source.split("\n")) {
    if (/^\s*(\*|\/\/|\/\*\*)/.test(line)) continue;
    for (const m of line.matchAll(/"([^"\\]*)"|'([^'\\]*)'|`([^`$\\]*)`/g)) {
      out.push(m[1] ?? m[2] ?? m[3] ?? "");
    }
  }
  return out;
}

Deno.test("every VM file name is written once, in lib/layout.ts", () => {
  const all = names();
  assert.ok(all.has("ports") && all.has("seed.iso") && all.has("supervise/status"));
  const found: string[] = [];
  for (const file of ["main.ts", ...sources("cli"), ...sources("lib")]) {
    if (file === "lib/layout.ts") continue;
    for (const s of literals(Deno.readTextFileSync(join(REPO, file)))) {
      if (all.has(s) && !ALSO_WORDS.has(s)) found.push(`${file}: "${s}"`);
    }
  }
  assert.deepEqual(found, []);
});

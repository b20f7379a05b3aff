/**
 * Test support: the temp directories tests make (TestEnv's and
 * withTempDir's `vm-test-…` roots) are recorded, one file per test process
 * in ROOTS_DIR, so that the last test of the suite (tests/e2e/zz_leftovers_test.ts)
 * can check that no process still works in any of them. Not a test file.
 * @module
 */

import { join } from "node:path";
import { allPids, cmdlineOf, cwdOf } from "../../lib/os/proc.ts";

/** Where test processes record their temp roots: a file named by the test process's PID. */
export const ROOTS_DIR = join(Deno.env.get("TMPDIR") ?? "/tmp", "vm-test-roots");

/** The record file of test process `pid`. */
export function rootsFile(pid = Deno.pid): string {
  return join(ROOTS_DIR, String(pid));
}

let pruned = false;

/** Removes the records of test processes that are gone (runs without the final check). */
export function pruneRecords(): void {
  for (const e of Deno.readDirSync(ROOTS_DIR)) {
    const pid = Number(e.name);
    if (!/^[0-9]+$/.test(e.name) || pid === Deno.pid) continue;
    try {
      Deno.statSync(`/proc/${pid}`);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
      Deno.removeSync(rootsFile(pid));
    }
  }
}

/** Records `root`, a temp directory this test process made. */
export function recordTestRoot(root: string): void {
  Deno.mkdirSync(ROOTS_DIR, { recursive: true, mode: 0o700 });
  if (!pruned) {
    pruned = true;
    pruneRecords();
  }
  Deno.writeTextFileSync(rootsFile(), root + "\n", { append: true, mode: 0o600 });
}

/** The roots test process `pid` recorded (none when it recorded none). */
export function recordedRoots(pid = Deno.pid): string[] {
  try {
    return Deno.readTextFileSync(rootsFile(pid)).split("\n").filter((l) => l !== "");
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/** A process working in a recorded root. */
export interface Straggler {
  pid: number;
  cwd: string;
  argv: string[];
}

/**
 * The processes (not this one) whose working directory is one of `roots` or
 * inside it, also when that directory was removed meanwhile (`… (deleted)`).
 * Reads /proc.
 */
export function stragglers(roots: readonly string[]): Straggler[] {
  const out: Straggler[] = [];
  for (const pid of allPids()) {
    if (pid === Deno.pid) continue;
    const cwd = cwdOf(pid);
    if (cwd === undefined) continue;
    const path = cwd.replace(/ \(deleted\)$/, "");
    if (roots.some((r) => path === r || path.startsWith(r + "/"))) {
      out.push({ pid, cwd, argv: cmdlineOf(pid) ?? [] });
    }
  }
  return out;
}

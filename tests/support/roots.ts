/**
 * Test support: no test file leaves a process behind. The temp directories
 * a test file's tests make (TestEnv's and withTempDir's `vm-test-…` roots)
 * are recorded here, in this module's memory: `deno test` loads each test
 * file's modules afresh, so what is recorded is that file's. When the file's
 * tests are done (the `unload` event, which `deno test` dispatches to each
 * file after its last test, also under `--filter`), a process still working
 * in one of them is killed by its PID and named in an error that fails that
 * file. Not a test file.
 * @module
 */

import { allPids, cmdlineOf, cwdOf, signal } from "../../lib/os/proc.ts";

/** The roots this test file's tests made, in order. */
const roots: string[] = [];

/** Records `root`, a temp directory a test of this file made; the first one arms the check. */
export function recordTestRoot(root: string): void {
  if (roots.length === 0) globalThis.addEventListener("unload", checkNoneLeft);
  roots.push(root);
}

/** The roots this test file's tests recorded. */
export function recordedRoots(): readonly string[] {
  return roots;
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

/**
 * The check run when this test file's tests are done: kills every process
 * still working in a root they recorded, and throws naming each (`deno test`
 * then fails the file).
 */
function checkNoneLeft(): void {
  const left = stragglers(roots);
  for (const s of left) signal(s.pid, "SIGKILL");
  if (left.length > 0) {
    throw new Error(
      "processes left working in the temp dirs of this file's tests (killed now):\n" +
        left.map((s) => `  PID ${s.pid} in ${s.cwd}: ${s.argv.join(" ")}`).join("\n"),
    );
  }
}

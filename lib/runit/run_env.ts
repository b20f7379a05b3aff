/**
 * `vm args`: the QEMU command line `vm __run` would execute now, worked out
 * the way `__run` works it out. `__run` runs under runsv, so with runsvdir's
 * environment (runsv passes it on unchanged) and `PWD` set by `sh` to the
 * VM directory's physical path; `vm args` uses that environment when a
 * runsvdir supervises VMDIR and its environment can be read, else its own.
 * Reads `/proc/<runsvdir>/environ`.
 * @module
 */

import type { Env } from "../vm/config.ts";
import { parseEnv0 } from "../vm/hooks.ts";
import { findRunsvdir } from "./status.ts";
import { quoteWord } from "../text/shell_words.ts";

/** The environment `__run` gets, and where it came from. */
export interface RunEnv {
  env: Env;
  /** PID of the runsvdir whose environment it is; undefined when it is ours. */
  runsvdir?: number;
}

/**
 * The environment `vm __run` of the VM in `realDir` (a physical path) sees:
 * that of the runsvdir supervising `vmdir` when readable, else `own`; PWD is
 * `realDir` either way (as `sh` sets it for the run script).
 */
export function runEnv(vmdir: string, realDir: string, own: Env): RunEnv {
  for (const pid of findRunsvdir(vmdir)) {
    try {
      const env = parseEnv0(Deno.readTextFileSync(`/proc/${pid}/environ`));
      return { env: { ...env, PWD: realDir }, runsvdir: pid };
    } catch { /* not ours to read */ }
  }
  return { env: { ...own, PWD: realDir } };
}

/** The argv as shell words: one line, or one argument per line with `lines`. Pure. */
export function formatArgv(argv: readonly string[], lines: boolean): string {
  return argv.map(quoteWord).join(lines ? "\n" : " ");
}

/**
 * runit's entry points into `vm` share this: their output goes to the VM's
 * log, and any error is one `vm: fatal:` line there and a fixed exit code.
 * Each entry point is its own module (cli/runit_run.ts, cli/runit_stop.ts,
 * cli/runit_finish.ts), so each loads only what it uses: `run` is on the
 * path of every VM start.
 * @module
 */

import { describe } from "../lib/errors.ts";
import { printErr } from "./output.ts";

/** Runs a runit entry point: any error is one `vm: fatal:` line (in the VM's log) and `code`. */
export async function entry(code: number, work: () => Promise<number>): Promise<number> {
  try {
    return await work();
  } catch (e) {
    printErr(`vm: fatal: ${describe(e)}`);
    return code;
  }
}

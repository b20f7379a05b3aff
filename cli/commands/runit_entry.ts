/**
 * runit's entry points into `vm` share this: their output goes to the VM's
 * log, or, for a VM without one, to vmd's output, where many VMs write: so
 * every line starts with the VM's name (`web: stop: …`), and any error is one
 * `<vm>: fatal: …` line and a fixed exit code. Each entry point is its own
 * module (runit_run.ts, runit_stop.ts, runit_finish.ts here), so each loads
 * only what it uses: `run` is on the path of every VM start.
 * @module
 */

import { describe } from "../../lib/errors.ts";
import { basename } from "../../lib/os/path.ts";
import type { ArgSpec } from "../core/command.ts";
import { printErr } from "../core/output.ts";

/** The argument of the entry points: the VM's directory (runit runs them in it: "$PWD"). */
export const VM_DIR = { name: "<dir>", kind: "file" } as const satisfies ArgSpec;

/** Prints one line of an entry point, prefixed with the VM's name. */
export type Say = (line: string) => void;

/** The line an entry point prints: `<vm>: <text>`. Pure. */
function vmLine(vmDir: string, text: string): string {
  return `${basename(vmDir)}: ${text}`;
}

/**
 * Runs a runit entry point for the VM in `vmDir`: `work` prints through its
 * `say`; any error is one `<vm>: fatal:` line (in the VM's log) and `code`.
 */
export async function entry(
  code: number,
  vmDir: string,
  work: (say: Say) => Promise<number>,
): Promise<number> {
  const say: Say = (line) => printErr(vmLine(vmDir, line));
  try {
    return await work(say);
  } catch (e) {
    say(`fatal: ${describe(e)}`);
    return code;
  }
}

/**
 * Driving runsv as runit's `sv` does: a command letter written to
 * `supervise/control` (a FIFO runsv reads), waiting for a runsv to appear,
 * and running `sv` itself for `vm sv`.
 * Writes `<dir>/supervise/control`; runs `sv`.
 * @module
 */

import { join } from "../os/path.ts";
import { SystemError } from "../errors.ts";
import { F } from "../layout.ts";
import { pollUntil } from "../os/poll.ts";
import { closeFd, openWriteNonblock, writeFd } from "../os/libc.ts";
import { isSupervised } from "./status.ts";

/** runsv commands (see runsv(8)): up, down, once, pause, cont, hup, alarm, interrupt, quit, term, kill, exit. */
export type SvCommand =
  | "u"
  | "d"
  | "o"
  | "p"
  | "c"
  | "h"
  | "a"
  | "i"
  | "q"
  | "1"
  | "2"
  | "t"
  | "k"
  | "x";

/**
 * Sends a command to the runsv of `dir` by writing it to `supervise/control`.
 * Throws SystemError when no runsv supervises `dir`.
 */
export function control(dir: string, cmd: SvCommand): void {
  const fd = openWriteNonblock(join(dir, F.controlFifo));
  if (fd === undefined) {
    throw new SystemError(
      `No runsv supervises "${dir}"; start vmd ("vm daemon" or "runsvdir $VMDIR")`,
    );
  }
  try {
    if (!writeFd(fd, cmd)) throw new SystemError(`Cannot send "${cmd}" to the runsv of "${dir}"`);
  } finally {
    closeFd(fd);
  }
}

/** Polls until a runsv supervises `dir`; returns whether it did within `timeoutMs`. */
export function waitSupervised(dir: string, timeoutMs: number): Promise<boolean> {
  return pollUntil(() => isSupervised(dir), timeoutMs, 100);
}

/** The SVWAIT for `vm sv`: the largest wait of the VMs plus 5 s (runit's default is 7). Pure. */
export function svWait(waits: readonly number[]): number {
  return Math.max(0, ...waits) + 5;
}

/**
 * Runs runit's `sv <args>` with `SVDIR=vmdir` and `SVWAIT=svwait`, its output
 * passing through to ours; returns sv's exit code.
 */
export async function runSv(
  vmdir: string,
  args: readonly string[],
  svwait: number,
): Promise<number> {
  try {
    const st = await new Deno.Command("sv", {
      args: [...args],
      env: { SVDIR: vmdir, SVWAIT: String(svwait) },
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    return st.code;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new SystemError('runit\'s "sv" is not installed; install the "runit" package');
    }
    throw e;
  }
}

/**
 * runit's `control/t`: `vm __stop <dir>`, the graceful stop
 * (lib/service/control_t.ts).
 * @module
 */

import { describe, EXIT_CHECK, SystemError } from "../../lib/errors.ts";
import { resolve } from "../../lib/os/path.ts";
import { isAlive } from "../../lib/os/proc.ts";
import { readStatus } from "../../lib/runit/status.ts";
import { endPreQemu, qemuRuns, recordStop, stopLine, stopVm } from "../../lib/service/control_t.ts";
import { waitOf } from "../../lib/vm/dir.ts";
import { type CommandSpec, defineCommand } from "../core/command.ts";
import { entry, VM_DIR } from "./runit_entry.ts";

/** The row of `vm __stop`. */
const STOP_ROW = {
  name: "__stop",
  summary: "runit control/t: graceful stop",
  args: [VM_DIR],
  hidden: true,
} as const satisfies CommandSpec;

/**
 * Whether the QEMU runsv runs for `dir` is gone already (dead, or a zombie
 * runsv has not reaped while it waits for us): then there is nothing to stop,
 * as after `vm kill`, and a QMP socket that refuses is no news.
 */
function qemuGone(dir: string): boolean {
  const st = readStatus(dir);
  return st === undefined || st.state !== "run" || st.pid === 0 || !isAlive(st.pid);
}

/**
 * `vm __stop <dir>`: powers the guest off within its wait. When QEMU is not
 * running (pre_qemu hangs) it ends the hook and exits 1, so that runsv also
 * sends `vm __run` TERM.
 */
export const stop = defineCommand(STOP_ROW, {
  run(inv) {
    const dir = resolve(inv.args[0] ?? ".");
    return entry(EXIT_CHECK, dir, async (say) => {
      const { wait, problem } = waitOf(dir);
      if (problem !== undefined) say(problem);
      const pid = qemuRuns(dir);
      if (pid === undefined) {
        const ended = await endPreQemu(dir);
        say(`stop: QEMU was not running${ended > 0 ? "; its pre_qemu was ended" : ""}`);
        return EXIT_CHECK;
      }
      let r;
      try {
        r = await stopVm(dir, wait);
      } catch (e) {
        if (e instanceof SystemError && qemuGone(dir)) return 0;
        throw e;
      }
      say(stopLine(r, wait));
      try {
        recordStop(dir, pid, r, wait);
      } catch (e) {
        // A file that cannot be written (a full disk, …): the stop itself is done.
        if (!(e instanceof Error)) throw e;
        say(`stop: not recorded for "vm stop": ${describe(e)}`);
      }
      return 0;
    });
  },
});

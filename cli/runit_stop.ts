/**
 * runit's `control/t`: `vm __stop <dir>`, the graceful stop
 * (lib/service/control_t.ts).
 * @module
 */

import { EXIT_CHECK, SystemError } from "../lib/errors.ts";
import { resolve } from "../lib/os/path.ts";
import { isAlive } from "../lib/os/proc.ts";
import { readStatus } from "../lib/runit/status.ts";
import { stopVm } from "../lib/service/control_t.ts";
import { readWait } from "../lib/vm/dir.ts";
import type { CommandModule } from "./command.ts";
import { entry } from "./runit_entry.ts";

/**
 * Whether the QEMU runsv runs for `dir` is gone already (dead, or a zombie
 * runsv has not reaped while it waits for us): then there is nothing to stop,
 * as after `vm kill`, and a QMP socket that refuses is no news.
 */
function qemuGone(dir: string): boolean {
  const st = readStatus(dir);
  return st === undefined || st.state !== "run" || st.pid === 0 || !isAlive(st.pid);
}

/** `vm __stop <dir>`: powers the guest off within its wait. */
export const stop: CommandModule = {
  run(inv) {
    const dir = resolve(inv.args[0] ?? ".");
    return entry(EXIT_CHECK, dir, async (say) => {
      const wait = readWait(dir);
      let r;
      try {
        r = await stopVm(dir, wait);
      } catch (e) {
        if (e instanceof SystemError && qemuGone(dir)) return 0;
        throw e;
      }
      say(
        r.how === "poweroff"
          ? `stop: the guest powered off in ${(r.ms / 1000).toFixed(1)} s`
          : `stop: the guest did not power off within ${wait} s (wait); QEMU was told to quit`,
      );
      return 0;
    });
  },
};

/**
 * runit's entry points into `vm`: `run` (`vm __run <dir>`, which becomes
 * QEMU), `control/t` (`vm __stop <dir>`, the graceful stop) and `finish`
 * (`vm __finish <dir> <code> <signal>`). Their output goes to the VM's log;
 * any error is one `vm: fatal:` line there and a fixed exit code.
 * @module
 */

import { describe, EXIT_CHECK, EXIT_SYSTEM } from "../lib/errors.ts";
import { resolve } from "../lib/os/path.ts";
import { stopVm } from "../lib/service/control_t.ts";
import { finishVm, sleepBackoff } from "../lib/service/finish.ts";
import { runVm } from "../lib/service/run.ts";
import { backoffLine } from "../lib/vm/backoff.ts";
import { loadConfig } from "../lib/vm/config.ts";
import { readWait } from "../lib/vm/dir.ts";
import type { CommandModule } from "./command.ts";
import { printErr } from "./output.ts";

/** Runs a runit entry point: any error is one `vm: fatal:` line (in the VM's log) and `code`. */
async function entry(code: number, work: () => Promise<number>): Promise<number> {
  try {
    return await work();
  } catch (e) {
    printErr(`vm: fatal: ${describe(e)}`);
    return code;
  }
}

/** `vm __run <dir>`: becomes QEMU (returns only on failure). */
export const run: CommandModule = {
  run(inv) {
    return entry(EXIT_SYSTEM, () => runVm(loadConfig(), resolve(inv.args[0] ?? ".")));
  },
};

/** `vm __stop <dir>`: powers the guest off within its wait. */
export const stop: CommandModule = {
  run(inv) {
    return entry(EXIT_CHECK, async () => {
      const dir = resolve(inv.args[0] ?? ".");
      const wait = readWait(dir);
      const r = await stopVm(dir, wait);
      printErr(
        r.how === "poweroff"
          ? `vm: stop: the guest powered off in ${(r.ms / 1000).toFixed(1)} s`
          : `vm: stop: the guest did not power off within ${wait} s (wait); QEMU was told to quit`,
      );
      return 0;
    });
  },
};

/** `vm __finish <dir> <code> <signal>`: cleanup hook, sockets, crash-loop backoff. */
export const finish: CommandModule = {
  run(inv) {
    return entry(EXIT_SYSTEM, async () => {
      const [dir = ".", code = "", signal = ""] = inv.args;
      const vmDir = resolve(dir);
      const r = await finishVm(loadConfig(), vmDir, code, signal);
      if (r.backoff !== undefined) {
        printErr(backoffLine({ ran: r.ran, backoff: r.backoff }, code, signal));
        await sleepBackoff(vmDir, r.backoff.until);
      }
      return r.status;
    });
  },
};

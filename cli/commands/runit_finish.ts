/**
 * runit's `finish`: `vm __finish <dir> <code> <signal>` (lib/service/finish.ts).
 * @module
 */

import { EXIT_SYSTEM } from "../../lib/errors.ts";
import { resolve } from "../../lib/os/path.ts";
import { finishVm, sleepBackoff } from "../../lib/service/finish.ts";
import { backoffLine } from "../../lib/vm/backoff.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import type { CommandModule } from "../core/command.ts";
import { entry } from "./runit_entry.ts";

/** `vm __finish <dir> <code> <signal>`: cleanup hook, sockets, crash-loop backoff. */
export const finish: CommandModule = {
  run(inv) {
    const [dir = ".", code = "", signal = ""] = inv.args;
    const vmDir = resolve(dir);
    return entry(EXIT_SYSTEM, vmDir, async (say) => {
      const r = await finishVm(loadConfig(), vmDir, code, signal);
      if (r.cleanupEnded !== undefined) say(r.cleanupEnded);
      if (r.backoff !== undefined) {
        say(backoffLine({ ran: r.ran, backoff: r.backoff }, code, signal));
        await sleepBackoff(vmDir, r.backoff.until);
      }
      return r.status;
    });
  },
};

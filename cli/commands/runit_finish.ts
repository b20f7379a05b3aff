/**
 * runit's `finish`: `vm __finish <dir> <code> <signal>` (lib/service/finish.ts).
 * @module
 */

import { EXIT_SYSTEM } from "../../lib/errors.ts";
import { resolve } from "../../lib/os/path.ts";
import { finishVm, sleepBackoff } from "../../lib/service/finish.ts";
import { backoffLine } from "../../lib/vm/backoff.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { inspectDir } from "../../lib/vm/inspect.ts";
import { type CommandSpec, defineCommand } from "../core/command.ts";
import { entry, VM_DIR } from "./runit_entry.ts";

/**
 * The row of `vm __finish`. Pass-through: runit's finish gets QEMU's exit
 * code, -1 after a signal, never to be read as an option.
 */
const FINISH_ROW = {
  name: "__finish",
  summary: "runit finish",
  args: [
    { ...VM_DIR, optional: true },
    { name: "<code>", kind: "none", optional: true },
    { name: "<signal>", kind: "none", optional: true },
  ],
  hidden: true,
  passThrough: true,
} as const satisfies CommandSpec;

/** `vm __finish <dir> <code> <signal>`: cleanup hook, sockets, crash-loop backoff. */
export const finish = defineCommand(FINISH_ROW, {
  run(inv) {
    const [dir = ".", code = "", signal = ""] = inv.args;
    const vmDir = resolve(dir);
    return entry(EXIT_SYSTEM, vmDir, async (say) => {
      const r = await finishVm(loadConfig(), inspectDir(vmDir), code, signal);
      if (r.cleanupEnded !== undefined) say(r.cleanupEnded);
      for (const c of r.endedCompanions) {
        say(`ended ${c.name} (PID ${c.pid}), which QEMU left running`);
      }
      if (r.backoff !== undefined) {
        say(backoffLine({ ran: r.ran, backoff: r.backoff }, code, signal));
        await sleepBackoff(vmDir, r.backoff.until);
      }
      return r.status;
    });
  },
});

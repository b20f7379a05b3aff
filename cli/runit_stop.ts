/**
 * runit's `control/t`: `vm __stop <dir>`, the graceful stop
 * (lib/service/control_t.ts).
 * @module
 */

import { EXIT_CHECK } from "../lib/errors.ts";
import { resolve } from "../lib/os/path.ts";
import { stopVm } from "../lib/service/control_t.ts";
import { readWait } from "../lib/vm/dir.ts";
import type { CommandModule } from "./command.ts";
import { printErr } from "./output.ts";
import { entry } from "./runit_entry.ts";

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

/**
 * runit's `control/t`: `vm __stop <dir>`, the graceful stop
 * (lib/service/control_t.ts).
 * @module
 */

import { EXIT_CHECK } from "../../lib/errors.ts";
import { resolve } from "../../lib/os/path.ts";
import { endPreQemu, qemuRuns, stopAndRecord } from "../../lib/service/control_t.ts";
import { inspectDir } from "../../lib/vm/inspect.ts";
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
 * `vm __stop <dir>`: powers the guest off within its wait. When QEMU is not
 * running (pre_qemu hangs) it ends the hook and exits 1, so that runsv also
 * sends `vm __run` TERM.
 */
export const stop = defineCommand(STOP_ROW, {
  run(inv) {
    const dir = resolve(inv.args[0] ?? ".");
    return entry(EXIT_CHECK, dir, async (say) => {
      const vm = inspectDir(dir);
      const wait = vm.wait;
      if (vm.waitProblem !== undefined) say(vm.waitProblem);
      const pid = qemuRuns(vm);
      if (pid === undefined) {
        const ended = await endPreQemu(dir);
        say(`stop: QEMU was not running${ended > 0 ? "; its pre_qemu was ended" : ""}`);
        return EXIT_CHECK;
      }
      for (const line of await stopAndRecord(dir, pid, wait)) say(line);
      return 0;
    });
  },
});

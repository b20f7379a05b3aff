/**
 * `vm destroy <vm> [--yes]`: shows what goes, asks, deletes
 * (lib/actions/destroy.ts).
 * @module
 */

import { EXIT_CHECK } from "../../lib/errors.ts";
import { destroyVm, planDestroy } from "../../lib/actions/destroy.ts";
import { formatDestroyPlan } from "../core/disk_text.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { checkName } from "../../lib/vm/name.ts";
import { type CommandSpec, defineCommand, VM } from "../core/command.ts";
import { print } from "../core/output.ts";
import { optFlag } from "../core/parse.ts";
import { confirm } from "../core/prompt.ts";

/** The row of `vm destroy`. */
const DESTROY_ROW = {
  name: "destroy",
  summary: "delete a stopped VM with its disks, after asking",
  args: [VM],
  options: [{ name: "yes", short: "y", help: "do not ask" }],
  help: [
    "shows the directory and its disks (sizes on disk), then asks; only the VM's directory",
    "is removed: vmd stops supervising it first. Refused while it runs, and while linked",
    "clones use its disks (they are named)",
    "exit: 0 deleted, 1 running, has linked clones, or not confirmed (nothing deleted)",
  ],
} as const satisfies CommandSpec;

/** `vm destroy`. */
export const destroy = defineCommand(DESTROY_ROW, {
  async run(inv) {
    const name = checkName(inv.args[0] ?? "");
    const plan = await planDestroy(loadConfig(), name);
    if (!optFlag(inv, "yes")) {
      print(formatDestroyPlan(plan));
      if (!await confirm(`Delete VM "${name}"?`)) {
        print("Nothing deleted");
        return EXIT_CHECK;
      }
    }
    await destroyVm(plan);
    print(`Destroyed VM "${name}" ("${plan.dir}")`);
    return 0;
  },
});

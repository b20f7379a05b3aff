/**
 * `vm destroy <vm> [--yes]`: shows what goes, asks, deletes
 * (lib/actions/destroy.ts).
 * @module
 */

import { EXIT_CHECK } from "../../lib/errors.ts";
import { destroyVm, formatDestroyPlan, planDestroy } from "../../lib/actions/destroy.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { checkName } from "../../lib/vm/name.ts";
import type { CommandModule } from "../core/command.ts";
import { print } from "../core/output.ts";
import { optFlag } from "../core/parse.ts";
import { confirm } from "../core/prompt.ts";

/** `vm destroy`. */
export const destroy: CommandModule = {
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
};

/**
 * `vm sv [-v] [-w S] <command> <vm>...`: runit's own `sv` on VMs, with
 * SVDIR set to VMDIR and SVWAIT to the largest wait + 5 s.
 * @module
 */

import { runSv, svWait } from "../../lib/runit/control.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { readWait, requireVm } from "../../lib/vm/dir.ts";
import type { CommandModule } from "../core/command.ts";
import { optFlag, optString } from "../core/parse.ts";

/** `vm sv`. */
export const sv: CommandModule = {
  async run(inv) {
    const [command = "", ...names] = inv.args;
    const cfg = loadConfig();
    const waits = names.map((n) => readWait(requireVm(cfg.vmdir, n)));
    const w = optString(inv, "wait");
    const opts = [
      ...(optFlag(inv, "verbose") ? ["-v"] : []),
      ...(w === undefined ? [] : ["-w", w]),
    ];
    return await runSv(cfg.vmdir, [...opts, command, ...names], svWait(waits));
  },
};

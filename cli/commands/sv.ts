/**
 * `vm sv [-v] [-w S] <command> <vm>...`: runit's own `sv` on VMs, with
 * SVDIR set to VMDIR and SVWAIT to the largest wait + 5 s.
 * @module
 */

import { runSv, svWait } from "../../lib/runit/control.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { readWait, requireVm } from "../../lib/vm/dir.ts";
import { type CommandSpec, defineCommand, VMS } from "../core/command.ts";
import { optFlag, optString } from "../core/parse.ts";

/** The row of `vm sv`. */
const SV_ROW = {
  name: "sv",
  summary: "directly control runsv (runit's sv)",
  args: [{ name: "<command>", kind: "sv-command" }, VMS],
  options: [
    { name: "verbose", short: "v", help: "wait for the command to take effect (sv -v)" },
    { name: "wait", short: "w", value: "S", help: "how long -v waits (sv -w)" },
  ],
  help: ["runs runit's sv on the VMs; waits up to the largest wait + 5 s"],
} as const satisfies CommandSpec;

/** `vm sv`. */
export const sv = defineCommand(SV_ROW, {
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
});

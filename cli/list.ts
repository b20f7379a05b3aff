/**
 * `vm list` and `vm status`: the state of VMs, read from their service
 * directories (lib/vm/state.ts), as a table, blocks or JSON; `vm list` adds
 * one line on stderr when interrupted operations left directories behind.
 * @module
 */

import { EXIT_CHECK } from "../lib/errors.ts";
import { loadConfig } from "../lib/vm/config.ts";
import { listVms, requireVm } from "../lib/vm/dir.ts";
import { inspectDir, inspectVms, type Vm } from "../lib/vm/inspect.ts";
import { isRunning, markBases, statesOf, type VmState, vmState } from "../lib/vm/state.ts";
import { formatStatus, formatTable } from "./core/state_table.ts";
import { cloudInfo } from "../lib/vm/cloud_info.ts";
import type { CommandModule } from "./command.ts";
import { print, printErr, useColor } from "./output.ts";
import { pathExists } from "../lib/os/lookup.ts";
import { findLeftovers, leftoversLine } from "../lib/images/leftovers.ts";
import { exclusive, optFlag } from "./parse.ts";

/** The `--json` text: each state (of `vms`, in their order) with its VM's cloud fields (agent, ssh_port). */
function jsonOf(vms: readonly Vm[], states: readonly VmState[]): string {
  return JSON.stringify(vms.map((vm, i) => ({ ...states[i], ...cloudInfo(vm) })), null, 2);
}

/** `vm list [--json | -q]`. */
export const list: CommandModule = {
  run(inv) {
    exclusive(inv, "json", "quiet");
    const cfg = loadConfig();
    if (!pathExists(cfg.vmdir)) {
      printErr(
        `vm: VMDIR "${cfg.vmdir}" does not exist, so there are no VMs; "vm daemon" creates it ` +
          `(see "vm config" for where VMDIR comes from)`,
      );
    }
    if (optFlag(inv, "quiet")) {
      for (const name of listVms(cfg.vmdir)) print(name);
      return 0;
    }
    const vms = inspectVms(cfg.vmdir);
    const states = statesOf(vms, cfg.vmdir);
    print(optFlag(inv, "json") ? jsonOf(vms, states) : formatTable(states, useColor()));
    const leftovers = leftoversLine(findLeftovers(cfg.vmdir));
    if (leftovers !== undefined) printErr(leftovers);
    return 0;
  },
};

/** `vm status [--json] <vm>...`: exit 1 unless all run. */
export const status: CommandModule = {
  run(inv) {
    const cfg = loadConfig();
    const vms = inv.args.map((n) => inspectDir(requireVm(cfg.vmdir, n)));
    const states = markBases(vms.map((vm) => vmState(vm)), cfg.vmdir);
    const color = useColor();
    print(
      optFlag(inv, "json")
        ? jsonOf(vms, states)
        : states.map((s) => formatStatus(s, color)).join("\n\n"),
    );
    return states.every(isRunning) ? 0 : EXIT_CHECK;
  },
};

/**
 * `vm list` and `vm status`: the state of VMs, read from their service
 * directories (lib/vm/state.ts), as a table, blocks or JSON; `vm list` adds
 * one line on stderr when interrupted operations left directories behind.
 * @module
 */

import { EXIT_CHECK } from "../../lib/errors.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { listVms, requireVm } from "../../lib/vm/dir.ts";
import {
  formatStatus,
  formatTable,
  isRunning,
  listStates,
  markBases,
  type VmState,
  vmState,
} from "../../lib/vm/state.ts";
import { cloudInfo } from "../../lib/vm/cloud_info.ts";
import type { CommandModule } from "../core/command.ts";
import { print, printErr, useColor } from "../core/output.ts";
import { pathExists } from "../../lib/os/libc.ts";
import { findLeftovers, leftoversLine } from "../../lib/vm/leftovers.ts";
import { exclusive, optFlag } from "../core/parse.ts";

/** The `--json` text: each state with its cloud fields (agent, ssh_port). */
function jsonOf(vmdir: string, states: readonly VmState[]): string {
  return JSON.stringify(states.map((s) => ({ ...s, ...cloudInfo(`${vmdir}/${s.name}`) })), null, 2);
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
    const states = listStates(cfg.vmdir);
    print(
      optFlag(inv, "json") ? jsonOf(cfg.vmdir, states) : formatTable(states, useColor()),
    );
    const leftovers = leftoversLine(findLeftovers(cfg.vmdir));
    if (leftovers !== undefined) printErr(leftovers);
    return 0;
  },
};

/** `vm status [--json] <vm>...`: exit 1 unless all run. */
export const status: CommandModule = {
  run(inv) {
    const cfg = loadConfig();
    const dirs = inv.args.map((n) => requireVm(cfg.vmdir, n));
    const states = markBases(inv.args.map((n, i) => vmState(n, dirs[i] ?? "")), cfg.vmdir);
    const color = useColor();
    print(
      optFlag(inv, "json")
        ? jsonOf(cfg.vmdir, states)
        : states.map((s) => formatStatus(s, color)).join("\n\n"),
    );
    return states.every(isRunning) ? 0 : EXIT_CHECK;
  },
};

/**
 * `vm list` and `vm status`: the state of VMs, read from their service
 * directories (lib/vm/state.ts), as a table, blocks or JSON; `vm list` adds
 * one line on stderr when interrupted operations left directories behind.
 * @module
 */

import { EXIT_CHECK } from "../../lib/errors.ts";
import { type Config, loadConfig } from "../../lib/vm/config.ts";
import { machineInfo } from "../../lib/vm/machine.ts";
import { listVms, requireVm } from "../../lib/vm/dir.ts";
import { networkInfos } from "../../lib/actions/net.ts";
import { networkTable } from "../core/net_table.ts";
import { inspectDir, inspectVms, type Vm } from "../../lib/vm/inspect.ts";
import { isRunning, markBases, statesOf, type VmState, vmState } from "../../lib/vm/state.ts";
import { formatStatus, formatTable } from "../core/state_table.ts";
import { cloudInfo } from "../../lib/vm/cloud_info.ts";
import { type CommandSpec, defineCommand, VMS } from "../core/command.ts";
import { print, printErr, useColor } from "../core/output.ts";
import { pathExists } from "../../lib/os/lookup.ts";
import { findLeftovers, leftoversLine } from "../../lib/images/leftovers.ts";
import { exclusive, optFlag } from "../core/parse.ts";

/** The row of `vm list`. */
const LIST_ROW = {
  name: "list",
  summary: "list the VMs in VMDIR with their state",
  args: [],
  options: [
    {
      name: "json",
      help: "an array of {name, state, pid, uptime_s, autostart, wait_s, want,\n" +
        "paused, backoff_s, linked_clones, problem, agent, ssh_port, arch,\n" +
        "firmware, tpm}, null where unknown, sorted by name",
    },
    { name: "quiet", short: "q", help: "names only" },
  ],
  help: [
    "columns: NAME, STATE (run, down, finish, backoff, unsupervised = no runsv, orphan =",
    "  QEMU runs without its runsv, unsafe = others may change its files: see vm doctor;",
    '  plus "want up"/"want down" when runsv wants otherwise, ", base" when linked clones',
    "  use its disks: vm start refuses it without --force), PID (QEMU's), UPTIME,",
    "  AUTOSTART (on = starts with vmd), WAIT (seconds the guest gets to power off)",
    "one line on stderr when interrupted operations left directories behind",
  ],
} as const satisfies CommandSpec;

/** The row of `vm status`. */
const STATUS_ROW = {
  name: "status",
  summary: "show the state of VMs; exit 1 unless all run",
  args: [VMS],
  options: [{ name: "json", help: "an array of the objects vm list --json prints" }],
  help: [
    "fields as in vm list, one block per VM; exit 1 if any VM is not running (like sv check)",
  ],
} as const satisfies CommandSpec;

/**
 * The `--json` text: each state (of `vms`, in their order) with its VM's cloud fields (agent,
 * ssh_port) and machine (arch, firmware, tpm).
 */
function jsonOf(cfg: Config, vms: readonly Vm[], states: readonly VmState[]): string {
  return JSON.stringify(
    vms.map((vm, i) => ({ ...states[i], ...cloudInfo(vm), ...machineInfo(vm, cfg) })),
    null,
    2,
  );
}

/** `vm list [--json | -q]`. */
export const list = defineCommand(LIST_ROW, {
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
    print(optFlag(inv, "json") ? jsonOf(cfg, vms, states) : formatTable(states, useColor()));
    // Networks ($VMDIR/@NAME) are services too, never VMs: their own table under the VMs'.
    const nets = optFlag(inv, "json") ? [] : networkInfos(cfg.vmdir);
    if (nets.length > 0) print("\n" + networkTable(nets));
    const leftovers = leftoversLine(findLeftovers(cfg.vmdir));
    if (leftovers !== undefined) printErr(leftovers);
    return 0;
  },
});

/** `vm status [--json] <vm>...`: exit 1 unless all run. */
export const status = defineCommand(STATUS_ROW, {
  run(inv) {
    const cfg = loadConfig();
    const vms = inv.args.map((n) => inspectDir(requireVm(cfg.vmdir, n)));
    const states = markBases(vms.map((vm) => vmState(vm)), cfg.vmdir);
    const color = useColor();
    print(
      optFlag(inv, "json")
        ? jsonOf(cfg, vms, states)
        : states.map((s) => formatStatus(s, color)).join("\n\n"),
    );
    return states.every(isRunning) ? 0 : EXIT_CHECK;
  },
});

/**
 * Rows of the command table (cli/table.ts). State and lifecycle: list, status, start, stop, restart, kill, autostart, doctor.
 * Imports types only: loaded on every start.
 * @module
 */

import type { CommandSpec, OptionSpec } from "./core/command.ts";
import { START_SSH_OPTIONS } from "./table_cloud.ts";

const VM = { name: "<vm>", kind: "vm" } as const;
const VMS = { name: "<vm>", kind: "vm", repeat: true } as const;
const TIMEOUT: OptionSpec = {
  name: "timeout",
  value: "S",
  help: "when not down after S seconds (default: the VM's wait + 10), end QEMU:\n" +
    "quit through its monitor, then SIGTERM, then SIGKILL; a hanging\n" +
    "finish (cleanup hook) is ended too, so the VM is left down",
};
const FORCE: OptionSpec = { name: "force", help: "end QEMU at once that way (not graceful)" };
const PARALLEL = [
  "several VMs are handled in parallel; exit code: the number that failed (max 99), 100 for",
  "an unknown VM, 111 when vmd does not supervise a VM (nothing is done then)",
];

/** `vm list`. */
export const LIST_ROW: CommandSpec = {
  name: "list",
  summary: "list the VMs in VMDIR with their state",
  args: [],
  options: [
    {
      name: "json",
      help: "an array of {name, state, pid, uptime_s, autostart, wait_s, want,\n" +
        "paused, backoff_s, linked_clones, problem, agent, ssh_port}, null where\n" +
        "unknown, sorted by name",
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
  module: "commands/list.ts",
  entry: "list",
};

/** `vm status`. */
export const STATUS_ROW: CommandSpec = {
  name: "status",
  summary: "show the state of VMs; exit 1 unless all run",
  args: [VMS],
  options: [{ name: "json", help: "an array of the objects vm list --json prints" }],
  help: [
    "fields as in vm list, one block per VM; exit 1 if any VM is not running (like sv check)",
  ],
  module: "commands/list.ts",
  entry: "status",
};

/** `vm start`. */
export const START_ROW: CommandSpec = {
  name: "start",
  summary: "start VMs and wait until QEMU is up",
  args: [VMS],
  options: [
    {
      name: "timeout",
      value: "S",
      help: "fail when QEMU is not up within S seconds (default 30); with --ssh, when\n" +
        "SSH does not answer within S seconds of the start (default 300)",
    },
    {
      name: "force",
      help: "start a VM even when it is the base of linked clones (vm clone --linked):\n" +
        "writing its disks corrupts what the clones see",
    },
    ...START_SSH_OPTIONS,
  ],
  help: [
    'up means QEMU answers on QMP with the state "running" (or "prelaunch"/"paused" when',
    "its arguments ask for it: -S, -incoming); when QEMU exits first, the last lines of the",
    "VM's log are shown and the VM is left down (exit 1)",
    "--ssh that fails says what it saw last (the serial console's last line, the screen's",
    'text, e.g. "No bootable device.", which ends the wait at once) and the next step',
    ...PARALLEL,
  ],
  module: "commands/start_stop.ts",
  entry: "start",
};

/** A row of start_stop.ts that stops VMs: `vm stop` and `vm restart` take the same arguments. */
function stopRow(name: "stop" | "restart", summary: string, help: string[]): CommandSpec {
  const options = [TIMEOUT, FORCE];
  return {
    name,
    summary,
    args: [VMS],
    options,
    help,
    module: "commands/start_stop.ts",
    entry: name,
  };
}

/** `vm stop`. */
export const STOP_ROW = stopRow(
  "stop",
  "stop VMs gracefully (ACPI power-off) and say how long it took",
  [
    "runsv runs control/t: the guest gets its wait seconds to power off, then QEMU quits",
    ...PARALLEL,
  ],
);

/** `vm restart`. */
export const RESTART_ROW = stopRow("restart", "stop VMs (as vm stop), then start them", PARALLEL);

/** `vm kill`. */
export const KILL_ROW: CommandSpec = {
  name: "kill",
  summary: "kill QEMU at once (not graceful) and leave the VM down",
  args: [VMS],
  help: ["the guest is not shut down: its disks may need a check at the next boot"],
  module: "commands/start_stop.ts",
  entry: "kill",
};

/** `vm autostart`. */
export const AUTOSTART_ROW: CommandSpec = {
  name: "autostart",
  summary: "whether vmd starts the VM (removes/creates its down file)",
  args: [VM, { name: "on|off", kind: ["on", "off"], optional: true }],
  help: ["without on|off, shows the setting; it takes effect when vmd next starts the VM"],
  module: "commands/autostart.ts",
  entry: "autostart",
};

/** `vm doctor`. */
export const DOCTOR_ROW: CommandSpec = {
  name: "doctor",
  summary: "list every problem in VMDIR (set-up, vmd, unsafe files, orphan QEMU, leftovers)",
  args: [],
  options: [{
    name: "fix",
    help: "remove what interrupted make, destroy, clone or import left behind\n" +
      "(.make-*, .destroy-*, .clone-*, .import-*) when their process is gone",
  }],
  help: [
    "one line per problem, naming the file and the command that fixes it: VMDIR or .default",
    "missing (VMDIR=… ./install.sh sets them up), no vmd supervising VMDIR, VMDIR, .default",
    "or a VM's files writable by group or others or owned by another user (vm refuses to",
    "start such a VM), symlinks out of a VM's directory, an unusable wait file, a QEMU",
    "whose runsv was killed, an svlogd left by one, and leftovers of interrupted operations",
    "exit: 0 no problem, 1 any",
  ],
  module: "commands/doctor.ts",
  entry: "doctorCommand",
};

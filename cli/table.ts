/**
 * The command table: every command of `vm`, in the order `vm help` lists
 * them, each one record (cli/core/command.ts) from which come its parsing, its
 * help and its completion. Loaded on every start, so it and the row files
 * it gathers import types only; each row names the module main.ts loads
 * when that command runs.
 * @module
 */

import type { ArgSpec, CommandSpec } from "./core/command.ts";
import { EXPORT_COMMANDS } from "./table_export.ts";
import { CLOUD_COMMANDS } from "./table_cloud.ts";
import { IMAGE_COMMANDS } from "./table_images.ts";
import {
  AUTOSTART_ROW,
  DOCTOR_ROW,
  KILL_ROW,
  LIST_ROW,
  RESTART_ROW,
  START_ROW,
  STATUS_ROW,
  STOP_ROW,
} from "./table_state.ts";
import {
  ARGS_ROW,
  CONSOLE_ROW,
  INFO_ROW,
  LOG_ROW,
  MONITOR_ROW,
  QMP_ROW,
  VNC_ROW,
} from "./table_access.ts";
import {
  BOOT_ROW,
  CLONE_ROW,
  DESTROY_ROW,
  DISK_ROW,
  MAKE_ROW,
  RENAME_ROW,
  SNAPSHOT_ROW,
  SV_ROW,
} from "./table_manage.ts";

/** `vm completions`. */
const COMPLETIONS_ROW: CommandSpec = {
  name: "completions",
  summary: "print a shell completion script",
  args: [{ name: "bash|zsh|fish", kind: ["bash", "zsh", "fish"] }],
  help: [
    "completes commands, options, VM names and template names, e.g.",
    "  bash: source <(vm completions bash)   or save it as",
    "        ~/.local/share/bash-completion/completions/vm",
    "  zsh:  vm completions zsh > ~/.zfunc/_vm   (a directory in $fpath, before compinit)",
    "  fish: vm completions fish > ~/.config/fish/completions/vm.fish",
  ],
  module: "commands/completions.ts",
  entry: "completions",
};

/** `vm daemon`. */
const DAEMON_ROW: CommandSpec = {
  name: "daemon",
  summary: "run vmd: supervise the VMs (runsvdir); TERM stops them all gracefully",
  args: [],
  help: [
    "runs runsvdir on VMDIR in the foreground (one vm daemon per VMDIR). On TERM, INT or",
    "HUP it stops every VM in parallel, each within its wait, and exits 0 once all are",
    "down (111 when some are still up after the largest wait + 10 s). Left-overs of a",
    "vm daemon killed with SIGKILL (its runsvdir, or runsv processes) are adopted: their",
    "VMs keep running, never twice. Messages go to stderr. Install it as a service with",
    '"vm service install runit|systemd".',
  ],
  module: "commands/daemon.ts",
  entry: "daemon",
};

/** `vm config`. */
const CONFIG_ROW: CommandSpec = {
  name: "config",
  summary: "show the config files read and every VM* setting with its origin",
  args: [],
  help: [
    "the config file is $VMCONF when set; otherwise the first found of",
    "$XDG_CONFIG_HOME/runit-vm/conf (when set), ~/.config/runit-vm/conf, /etc/runit-vm/conf",
    "(for every user, root too). Each file looked for is shown (read, not found, not read),",
    "then each setting as KEY=value with its origin: file (overrides the environment), env",
    "or default",
  ],
  module: "commands/config.ts",
  entry: "config",
};

/** `vm service`. */
const SERVICE_ROW: CommandSpec = {
  name: "service",
  summary: "install and enable vmd as a runit user service or systemd user unit",
  args: [
    { name: "install", kind: ["install"] },
    { name: "runit|systemd", kind: ["runit", "systemd"] },
  ],
  help: [
    "runit:   creates ${SVDIR:-~/service}/vmd (run execs vm daemon) for your user's runsvdir",
    "systemd: writes ${XDG_CONFIG_HOME:-~/.config}/systemd/user/vmd.service, then runs",
    "         systemctl --user daemon-reload and enable (or says how, when it cannot)",
    'A file there that vm did not write is never replaced. Needs ".default" (./install.sh).',
    "exit 1 when no runsvdir watches ${SVDIR:-~/service}: the service is installed, but",
    "nothing runs it until your user's runsvdir does",
  ],
  module: "commands/daemon.ts",
  entry: "service",
};

/** `vm help`. */
const HELP_ROW: CommandSpec = {
  name: "help",
  summary: "display this help",
  args: [{ name: "<command>", kind: "command", optional: true }],
  module: "core/help.ts",
  entry: "help",
};

const DIR = { name: "<dir>", kind: "file" } as const;

/**
 * The hidden commands: runit's entry points (cli/runit_*.ts) and the
 * helpers of install.sh and the completion scripts. No help, not listed.
 */
const HIDDEN_ROWS: [string, string, readonly ArgSpec[], [string, string]][] = [
  ["__run", "runit run: become QEMU", [DIR], ["commands/runit_run.ts", "run"]],
  [
    "__stop",
    "runit control/t: graceful stop",
    [DIR],
    ["commands/runit_stop.ts", "stop"],
  ],
  [
    "__finish",
    "runit finish",
    [
      { ...DIR, optional: true },
      { name: "<code>", kind: "none", optional: true },
      { name: "<signal>", kind: "none", optional: true },
    ],
    ["commands/runit_finish.ts", "finish"],
  ],
  [
    "__complete",
    "names for the completion scripts",
    [
      {
        name: "templates|snapshots|images|disk-images|ssh-vms",
        kind: ["templates", "snapshots", "images", "disk-images", "ssh-vms"],
      },
      { name: "<vm>|<word>", kind: "none", optional: true },
    ],
    ["commands/completions.ts", "complete"],
  ],
  [
    "__setup",
    "create $VMDIR/.default",
    [{ name: "<default-src>", kind: "file" }, { name: "<vm-exe>", kind: "file" }],
    ["commands/setup.ts", "setup"],
  ],
];
const HIDDEN: readonly CommandSpec[] = HIDDEN_ROWS.map((
  [name, summary, args, [module, entry]],
) => ({
  name,
  summary,
  args,
  hidden: true,
  // Runit's finish gets QEMU's exit code, -1 after a signal: never read as an option.
  passThrough: name === "__finish",
  module,
  entry,
}));

/** Every command of `vm`. */
export const COMMANDS: readonly CommandSpec[] = [
  LIST_ROW,
  MAKE_ROW,
  BOOT_ROW,
  SV_ROW,
  STATUS_ROW,
  START_ROW,
  STOP_ROW,
  RESTART_ROW,
  KILL_ROW,
  AUTOSTART_ROW,
  DOCTOR_ROW,
  CONSOLE_ROW,
  VNC_ROW,
  MONITOR_ROW,
  QMP_ROW,
  LOG_ROW,
  COMPLETIONS_ROW,
  ARGS_ROW,
  INFO_ROW,
  DESTROY_ROW,
  RENAME_ROW,
  CLONE_ROW,
  DISK_ROW,
  SNAPSHOT_ROW,
  ...IMAGE_COMMANDS,
  ...CLOUD_COMMANDS,
  ...EXPORT_COMMANDS,
  DAEMON_ROW,
  SERVICE_ROW,
  CONFIG_ROW,
  HELP_ROW,
  ...HIDDEN,
];

/** The row of command `name`, or undefined. */
export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}

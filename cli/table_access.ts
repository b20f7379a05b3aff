/**
 * Rows of the command table (cli/table.ts). Access and inspection: console, monitor, qmp, log, args, info.
 * Imports types only: loaded on every start.
 * @module
 */

import type { CommandSpec } from "./core/command.ts";

const VM = { name: "<vm>", kind: "vm" } as const;

/** `vm console`. */
export const CONSOLE_ROW: CommandSpec = {
  name: "console",
  summary: "attach to the guest's serial console (Ctrl-] detaches)",
  args: [VM],
  options: [{
    name: "idle",
    value: "S",
    help: "seconds of quiet after the input ends before exiting (default 1)",
  }],
  help: [
    "needs the serial-console template (-serial unix:./supervise/console,...); QEMU serves",
    "one console client at a time. On a terminal: raw mode, every key goes to the guest",
    "(Ctrl-C too), Ctrl-] detaches and restores the terminal. Not a terminal: the input",
    "is piped to the console, then its output is copied until it is quiet, e.g.",
    "  echo uname -a | vm console web",
    "exit: 0 detached or quiet, 1 the VM is not running, has no console socket, or the",
    "console closed (QEMU exited), 100 usage",
  ],
  module: "commands/console.ts",
  entry: "console",
};

/** `vm vnc`. */
export const VNC_ROW: CommandSpec = {
  name: "vnc",
  summary: "show the VM's screen (template vnc): run a viewer, or print how to reach it",
  args: [VM],
  options: [{ name: "print", help: "print the recipe even when a viewer could be run" }],
  help: [
    "the vnc template (a default) makes QEMU serve VNC on the unix socket supervise/vnc,",
    "which only the VM's user can open. With DISPLAY set and remote-viewer or TigerVNC's",
    "vncviewer installed, that viewer is run on it; otherwise the ssh -L and socat command",
    "lines that reach it from a laptop or as a local TCP port are printed",
    "exit: 0 ok, 1 the VM is not running or has no VNC socket, 100 usage",
  ],
  module: "commands/vnc.ts",
  entry: "vnc",
};

/** `vm monitor`. */
export const MONITOR_ROW: CommandSpec = {
  name: "monitor",
  summary: "talk to QEMU's human monitor (HMP; Ctrl-] detaches)",
  args: [VM],
  help: [
    'On a terminal: QEMU\'s monitor with its line editing; Ctrl-] detaches ("quit" would end',
    "QEMU at once). Not a terminal: one command per input line, each answer printed",
    "without the prompt, e.g.  echo info status | vm monitor web",
    "QEMU serves one monitor client at a time.",
    "exit: 0 ok, 1 the VM is not running or the monitor closed, 100 usage, 111 no answer",
  ],
  module: "commands/console.ts",
  entry: "monitor",
};

/** `vm qmp`. */
export const QMP_ROW: CommandSpec = {
  name: "qmp",
  summary: "run one QMP command and print its JSON reply",
  args: [
    VM,
    { name: "<command>", kind: "none" },
    { name: "<json-arguments>", kind: "none", optional: true },
  ],
  help: [
    "prints the command's return value as one JSON document, e.g.",
    "  vm qmp web query-status",
    '  vm qmp web eject \'{"device": "ide1-cd0"}\'',
    "QEMU serves one QMP client at a time (vm stop uses it while the guest powers off).",
    "exit: 0 ok, 1 QEMU answered with an error or the VM is not running, 100 usage",
    "(arguments not a JSON object), 111 no answer",
  ],
  module: "commands/qmp.ts",
  entry: "qmp",
};

/** `vm log`. */
export const LOG_ROW: CommandSpec = {
  name: "log",
  summary: "show the VM's log (log/main/current); -f follows it",
  args: [VM],
  options: [
    {
      name: "follow",
      short: "f",
      help: "keep printing what is appended (across svlogd's rotations)",
    },
    {
      name: "lines",
      short: "n",
      value: "N",
      help: "print the last N lines first (default 10)",
    },
  ],
  help: [
    "Control characters of the guest's serial output are shown escaped (ESC as \\x1b), never",
    "sent to the terminal as they are; the raw bytes are in log/main/current.",
    "exit: 0 ok, 1 the VM does not log (make VMs with vm make --log) or has no log yet,",
    "100 usage",
  ],
  module: "commands/log.ts",
  entry: "log",
};

/** `vm args`. */
export const ARGS_ROW: CommandSpec = {
  name: "args",
  summary: "print the QEMU command line the VM's next start runs",
  args: [VM],
  options: [
    { name: "lines", help: "one argument per line" },
    { name: "json", help: "a JSON array of the words (argv[0] first)" },
  ],
  help: [
    "works it out as vm __run does (pre_qemu hook run, templates/once included but kept;",
    "KVM asked for but not usable by you: TCG instead, said on stderr),",
    "with the environment of the vmd (runsvdir) supervising VMDIR when there is one;",
    "every word is shell-quoted; relative paths are relative to the VM's directory",
    "exit: 0 ok, 100 a template or the config cannot be parsed, 111 QEMU missing or a hook failed",
  ],
  module: "commands/args.ts",
  entry: "args",
};

/** `vm info`. */
export const INFO_ROW: CommandSpec = {
  name: "info",
  summary: "show a VM's state, templates, disks and settings",
  args: [VM],
  options: [{
    name: "json",
    help: "one object: name, dir, state (as vm list --json), autostart, wait_s, log,\n" +
      "hooks, templates [{name, args}], disks [{file, path, info}]",
  }],
  help: [
    "templates are shown with the arguments they resolve to (hooks are not run; vm args",
    "runs pre_qemu); disks are the files the templates name, as qemu-img info sees them",
  ],
  module: "commands/info.ts",
  entry: "info",
};

/**
 * The text of `vm help` and `vm <command> --help`, written from the rows:
 * the usage line, the summary, the command's help lines and its options.
 * Pure.
 * @module
 */

import type { CommandSpec } from "./command.ts";
import { optionLabel, usage } from "./parse.ts";
import { VERSION } from "./version.ts";

/** The help of one command (or subcommand, named `name`): usage, summary, lines, options. Pure. */
export function commandHelp(spec: CommandSpec, name = spec.name): string {
  const lines = [usage(spec, name), `  ${spec.summary}`, ...(spec.help ?? [])];
  if (spec.subcommands !== undefined) {
    const rows = spec.subcommands.map((s) => [usage(s, `${name} ${s.name}`).slice(10), s.summary]);
    lines.push("commands:", ...table(rows as [string, string][]));
  }
  const options = [...(spec.options ?? []), { name: "help", short: "h", help: "show this help" }];
  lines.push("options:");
  const width = Math.max(...options.map((o) => optionLabel(o).length));
  for (const o of options) {
    const [first, ...more] = o.help.split("\n");
    lines.push(`  ${optionLabel(o).padEnd(width)}  ${first}`);
    for (const m of more) lines.push(`  ${" ".repeat(width)}  ${m}`);
  }
  return lines.join("\n");
}

/** Two columns, the first padded, each row indented by two spaces. Pure. */
function table(rows: readonly [string, string][]): string[] {
  const width = Math.max(...rows.map(([u]) => u.length));
  return rows.map(([u, s]) => `  ${u.padEnd(width)}  ${s}`);
}

/**
 * The `vm help` text: every visible command of `commands` (the rows, in
 * order) with its arguments, the environment, exit codes. Pure.
 */
export function helpText(commands: readonly CommandSpec[]): string {
  const rows = commands.filter((c) => !c.hidden).map((c) => {
    return [usage({ ...c, options: [] }).slice("usage: vm ".length), c.summary] as [string, string];
  });
  return [
    `vm ${VERSION} - QEMU virtual machines as runit services`,
    "",
    "usage: vm <command> [<args>]   (vm <command> --help: its options)",
    "",
    "commands:",
    ...table(rows),
    "",
    "environment:",
    "  VMCONF    config file, read (never run) by vm; its KEY=value lines override the",
    "            environment. Default: the first found of $XDG_CONFIG_HOME/runit-vm/conf,",
    "            ~/.config/runit-vm/conf, /etc/runit-vm/conf (vm config shows which)",
    "  VMDIR     directory of the VMs; default ~/.local/share/runit-vm",
    "  VMCONF_DEFAULT_TEMPLATES, VMCONF_DEFAULT_DRIVE, VMCONF_DEFAULT_WAIT",
    "            what vm make offers (default: display-none drive kvm mem vnc, 20G, 10)",
    "  VMCONF_QEMU, VMCONF_QEMU_ARCH",
    "            the QEMU binary, or qemu-system-<arch> (default: the host's arch)",
    "",
    "exit codes: 0 ok, 1 check failed, 100 usage, 111 system failure",
    "vm --version prints the version",
  ].join("\n");
}

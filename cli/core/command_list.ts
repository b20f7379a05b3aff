/**
 * The command list: every command of `vm`, in the order `vm help` lists
 * them, with the file of cli/commands/ that defines it (its row and its run,
 * linked by defineCommand: cli/core/command.ts). Loaded on every start, it
 * imports nothing: a command's file is loaded when that command runs, so
 * `vm __run` and `vm list` load only what they use; `vm help` and the
 * completion scripts load every file for the rows.
 * @module
 */

import type { Command } from "./command.ts";

/** Each command's name and its file in cli/commands/ (several commands may share one). */
const COMMANDS: readonly (readonly [name: string, file: string])[] = [
  ["list", "list.ts"],
  ["make", "make.ts"],
  ["boot", "boot.ts"],
  ["sv", "sv.ts"],
  ["status", "list.ts"],
  ["start", "start_stop.ts"],
  ["stop", "start_stop.ts"],
  ["restart", "start_stop.ts"],
  ["kill", "start_stop.ts"],
  ["autostart", "autostart.ts"],
  ["doctor", "doctor.ts"],
  ["console", "console.ts"],
  ["vnc", "vnc.ts"],
  ["monitor", "console.ts"],
  ["qmp", "qmp.ts"],
  ["log", "log.ts"],
  ["completions", "completions.ts"],
  ["args", "args.ts"],
  ["info", "info.ts"],
  ["destroy", "destroy.ts"],
  ["rename", "rename_clone.ts"],
  ["clone", "rename_clone.ts"],
  ["disk", "disk.ts"],
  ["snapshot", "snapshot.ts"],
  ["backup", "backup.ts"],
  ["restore", "backup.ts"],
  ["image", "image.ts"],
  ["ssh", "ssh.ts"],
  ["ssh-config", "ssh_config.ts"],
  ["cp", "cp.ts"],
  ["ip", "ip.ts"],
  ["exec", "exec.ts"],
  ["port", "port.ts"],
  ["share", "share.ts"],
  ["net", "net.ts"],
  ["cloud-init", "cloud_init.ts"],
  ["export", "export.ts"],
  ["import", "import.ts"],
  ["daemon", "daemon.ts"],
  ["service", "daemon.ts"],
  ["config", "config.ts"],
  ["help", "help.ts"],
  ["__run", "runit_run.ts"],
  ["__stop", "runit_stop.ts"],
  ["__finish", "runit_finish.ts"],
  ["__switch", "runit_switch.ts"],
  ["__complete", "completions.ts"],
  ["__setup", "setup.ts"],
];

/**
 * Where the command files are. Their specifiers are joined at run time on
 * purpose: when the program starts, Deno loads every module an `import()`
 * names in a string or template literal (it globs `../commands/${x}`), which
 * would load every command's code for each one (180 modules, ~20 ms).
 */
const DIR = new URL("../commands/", import.meta.url).href;

/** Whether `value`, an export of a command file, is a command. */
function isCommand(value: unknown): value is Command {
  return typeof value === "object" && value !== null && "row" in value &&
    ("run" in value || "subcommands" in value);
}

/** The commands file `file` of cli/commands/ exports, loaded now. */
export async function commandsIn(file: string): Promise<Command[]> {
  const module: Record<string, unknown> = await import(DIR + file);
  return Object.values(module).filter(isCommand);
}

/** The file of cli/commands/ that defines command `name`, or undefined. */
export function commandFile(name: string): string | undefined {
  return COMMANDS.find(([n]) => n === name)?.[1];
}

/** Command `name`, its file loaded now; undefined when there is no such command. */
export async function findCommand(name: string): Promise<Command | undefined> {
  const file = commandFile(name);
  if (file === undefined) return undefined;
  const command = (await commandsIn(file)).find((c) => c.row.name === name);
  if (command === undefined) throw new Error(`cli/commands/${file} defines no command "${name}"`);
  return command;
}

/**
 * Every command, in the order of the list (every command file loaded). One
 * file after the other: Deno builds the module graph of each import anew, so
 * parallel imports of files that share modules cost more.
 */
export async function allCommands(): Promise<Command[]> {
  const all: Command[] = [];
  for (const [name] of COMMANDS) {
    const command = await findCommand(name);
    if (command !== undefined) all.push(command);
  }
  return all;
}

/** The names of the commands `vm help` lists (the hidden ones left out). */
export function visibleNames(commands: readonly Command[]): string[] {
  return commands.filter((c) => !c.row.hidden).map((c) => c.row.name);
}

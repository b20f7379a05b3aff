/**
 * `vm`: QEMU virtual machines as runit services — the CLI and the runit run
 * target in one program. This file only dispatches: it loads the command
 * (its file of cli/commands/, from the command list cli/core/command_list.ts:
 * `vm __run` and `vm list` load only what they use), answers `--help`,
 * parses the arguments by the command's row, runs it, and prints a thrown
 * VmError as one `vm: fatal: …` line with its exit code.
 * @module
 */

import { EXIT_SYSTEM, EXIT_USAGE, UsageError, VmError } from "./lib/errors.ts";
import type { Command, CommandSpec } from "./cli/core/command.ts";
import { parseInvocation, wantsHelp } from "./cli/core/parse.ts";
import { allCommands, findCommand, visibleNames } from "./cli/core/command_list.ts";
import { VERSION } from "./cli/core/version.ts";
import { fatalText, print, printErr } from "./cli/core/output.ts";

/**
 * cli/core/suggest.ts, loaded for an unknown command only (a computed
 * specifier: see cli/core/command_list.ts).
 */
function loadSuggest(): Promise<typeof import("./cli/core/suggest.ts")> {
  const file = "./cli/core/suggest.ts";
  return import(file);
}

/**
 * cli/core/help.ts, loaded when help is asked for (a computed specifier: see
 * cli/core/command_list.ts).
 */
function loadHelp(): Promise<typeof import("./cli/core/help.ts")> {
  const file = "./cli/core/help.ts";
  return import(file);
}

async function printHelp(spec: CommandSpec, name: string): Promise<number> {
  const { commandHelp } = await loadHelp();
  print(commandHelp(spec, name));
  return 0;
}

/** Picks the subcommand of `group` named by `argv[0]`; throws UsageError naming the choices. */
function subcommand(group: Command, argv: string[]): [Command, string[]] {
  const { name } = group.row;
  const subs = group.subcommands ?? [];
  const [word, ...rest] = argv;
  const sub = subs.find((s) => s.row.name === word);
  if (sub !== undefined) return [sub, rest];
  const choices = subs.map((s) => s.row.name).join(", ");
  throw new UsageError(
    word === undefined
      ? `"vm ${name}" needs one of: ${choices}; see "vm ${name} --help"`
      : `"${word}" is not a "vm ${name}" command; use one of: ${choices}`,
  );
}

async function dispatch(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    const { helpText } = await loadHelp();
    printErr(helpText((await allCommands()).map((c) => c.row)));
    return EXIT_USAGE;
  }
  if (name === "--help" || name === "-h") return dispatch(["help"]);
  if (name === "--version" || name === "-V") {
    print(`vm ${VERSION}`);
    return 0;
  }
  let command = await findCommand(name);
  if (command === undefined) {
    const { unknownCommand } = await loadSuggest();
    throw new UsageError(unknownCommand(name, visibleNames(await allCommands())));
  }
  let full = name;
  let words = rest;
  if (command.subcommands !== undefined) {
    if (wantsHelp(command.row, words.slice(0, 1))) return printHelp(command.row, full);
    [command, words] = subcommand(command, words);
    full = `${name} ${command.row.name}`;
  }
  const { row, run } = command;
  if (!row.hidden && wantsHelp(row, words)) return printHelp(row, full);
  const inv = parseInvocation(row, words, full);
  if (run === undefined) throw new UsageError(`"vm ${full}" cannot be run`);
  return await run(inv);
}

/** Runs `vm` with `argv`; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } catch (e) {
    // The reader of our output went away (`vm list | head`): stop quietly, as sh tools do.
    if (e instanceof Deno.errors.BrokenPipe) return 128 + 13;
    printErr(fatalText(e));
    return e instanceof VmError ? e.exitCode : EXIT_SYSTEM;
  }
}

/**
 * Makes an error no command caught (thrown in a timer or a promise nobody
 * awaits) end the process as any other does: one `vm: fatal:` line and its
 * exit code, never a stack trace.
 */
export function exitOnUncaught(): void {
  const fatal = (ev: Event, e: unknown) => {
    ev.preventDefault();
    printErr(fatalText(e));
    Deno.exit(e instanceof VmError ? e.exitCode : EXIT_SYSTEM);
  };
  globalThis.addEventListener("unhandledrejection", (ev) => fatal(ev, ev.reason));
  globalThis.addEventListener("error", (ev) => fatal(ev, ev.error));
}

if (import.meta.main) {
  exitOnUncaught();
  Deno.exit(await main(Deno.args));
}

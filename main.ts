/**
 * `vm`: QEMU virtual machines as runit services — the CLI and the runit run
 * target in one program. This file only dispatches: it looks up the command's
 * row in the table (cli/table.ts), answers `--help`, parses the arguments by
 * the row, loads the command's module (lazily: `vm __run` and `vm list` load
 * only what they use), runs it, and prints a thrown VmError as one
 * `vm: fatal: …` line with its exit code.
 * @module
 */

import { EXIT_SYSTEM, EXIT_USAGE, UsageError, VmError } from "./lib/errors.ts";
import type { CommandModule, CommandSpec } from "./cli/core/command.ts";
import { parseInvocation, wantsHelp } from "./cli/core/parse.ts";
import { COMMANDS, findCommand } from "./cli/table.ts";
import { VERSION } from "./cli/core/version.ts";
import { fatalText, print, printErr } from "./cli/core/output.ts";

/** cli/core/suggest.ts, loaded for an unknown command only (a computed specifier: see loadCommand). */
function loadSuggest(): Promise<typeof import("./cli/core/suggest.ts")> {
  const file = "./cli/core/suggest.ts";
  return import(file);
}

/** cli/core/help.ts, loaded when help is asked for (a computed specifier: see loadCommand). */
function loadHelp(): Promise<typeof import("./cli/core/help.ts")> {
  const file = "./cli/core/help.ts";
  return import(file);
}

async function printHelp(spec: CommandSpec, name: string): Promise<number> {
  const { commandHelp } = await loadHelp();
  print(commandHelp(spec, name));
  return 0;
}

/** Picks the subcommand of `spec` named by `argv[0]`; throws UsageError naming the choices. */
function subcommand(spec: CommandSpec, argv: string[]): [CommandSpec, string[]] {
  const subs = spec.subcommands ?? [];
  const [word, ...rest] = argv;
  const sub = subs.find((s) => s.name === word);
  if (sub !== undefined) return [sub, rest];
  const choices = subs.map((s) => s.name).join(", ");
  throw new UsageError(
    word === undefined
      ? `"vm ${spec.name}" needs one of: ${choices}; see "vm ${spec.name} --help"`
      : `"${word}" is not a "vm ${spec.name}" command; use one of: ${choices}`,
  );
}

/**
 * Where the command modules are. Their specifiers are joined at run time on
 * purpose: when the program starts, Deno loads every module an `import()`
 * names in a string or template literal (it globs `./cli/${x}`), which would
 * load every command's code for each one (180 modules, ~20 ms).
 */
const CLI_DIR = new URL("./cli/", import.meta.url).href;

/** The module that runs `spec`, loaded now. */
async function loadCommand(spec: CommandSpec, full: string): Promise<CommandModule> {
  const file = spec.module;
  if (file === undefined) throw new UsageError(`"vm ${full}" cannot be run`);
  const module = await import(CLI_DIR + file) as Record<string, CommandModule>;
  // No entry: the module itself is the command (it exports run).
  const command = spec.entry === undefined
    ? module as unknown as CommandModule
    : module[spec.entry];
  if (typeof command?.run !== "function") {
    throw new Error(`cli/${file} has no command "${spec.entry}"`);
  }
  return command;
}

async function dispatch(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    const { helpText } = await loadHelp();
    printErr(helpText());
    return EXIT_USAGE;
  }
  if (name === "--help" || name === "-h") return dispatch(["help"]);
  if (name === "--version" || name === "-V") {
    print(`vm ${VERSION}`);
    return 0;
  }
  let spec = findCommand(name);
  if (spec === undefined) {
    const { unknownCommand } = await loadSuggest();
    throw new UsageError(
      unknownCommand(name, COMMANDS.filter((c) => !c.hidden).map((c) => c.name)),
    );
  }
  let full = name;
  let words = rest;
  if (spec.subcommands !== undefined) {
    if (wantsHelp(spec, words.slice(0, 1))) return printHelp(spec, full);
    [spec, words] = subcommand(spec, words);
    full = `${name} ${spec.name}`;
  }
  if (!spec.hidden && wantsHelp(spec, words)) return printHelp(spec, full);
  const inv = parseInvocation(spec, words, full);
  return await (await loadCommand(spec, full)).run(inv);
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

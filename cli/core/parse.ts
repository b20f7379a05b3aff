/**
 * Parsing a command line against the command's row (cli/core/command.ts):
 * options as getopt does (`--name value`, `--name=value`, `-n value`,
 * `-nvalue`, `--` ends them; a value may start with `-`), then the number of
 * positional arguments. Every message names the option and the command's
 * `--help`. Also the usage line, and access to option values typed by the
 * row (reading an option the row does not declare is a type error).
 * Pure.
 * @module
 */

import { UsageError } from "../../lib/errors.ts";
import type { CommandSpec, Invocation, OptionSpec } from "./command.ts";

/** The option `word` names in `spec` (`--disk`, `-y`), or undefined. Pure. */
function findOption(spec: CommandSpec, word: string): OptionSpec | undefined {
  if (word.startsWith("--")) return spec.options?.find((o) => o.name === word.slice(2));
  return spec.options?.find((o) => o.short === word.slice(1));
}

/** How an option is written in help and usage: `-n, --lines N`. Pure. */
export function optionLabel(o: OptionSpec): string {
  const names = [o.short ? `-${o.short}` : "", `--${o.name}`].filter((n) => n !== "").join(", ");
  return o.value === undefined ? names : `${names} ${o.value}`;
}

/** The usage line of a command: `usage: vm log <vm> [-f] [-n N]`. Pure. */
export function usage(spec: CommandSpec, name = spec.name): string {
  const subs = spec.subcommands?.map((s) => s.name).join("|");
  if (subs !== undefined) return `usage: vm ${name} ${subs} …`;
  const args = spec.args.map((a) => {
    const word = a.repeat ? `${a.name}...` : a.name;
    return a.optional ? `[${word}]` : word;
  });
  const options = spec.options ?? [];
  const opts = options.length > 3 ? ["[options]"] : options.map((o) => {
    const flag = o.short ? `-${o.short}` : `--${o.name}`;
    return `[${o.value === undefined ? flag : `${flag} ${o.value}`}]`;
  });
  return ["usage: vm", name, ...args, ...opts].join(" ");
}

/** Throws the usage error of `spec` (`Wrong arguments; usage: …`). */
export function wrongArguments(spec: CommandSpec, name = spec.name): never {
  throw new UsageError(`Wrong arguments; ${usage(spec, name)}`);
}

/**
 * Parses `argv` (the words after the command's name) by `spec`; `name` is the
 * command as typed, for messages. Throws UsageError for an unknown option, a
 * missing or unwanted value, or a wrong number of arguments. Pure.
 */
export function parseInvocation(spec: CommandSpec, argv: readonly string[], name = spec.name) {
  const see = `see "vm ${name} --help"`;
  const inv: Invocation = { command: name, args: [], opts: {} };
  let i = 0;
  for (; i < argv.length; i++) {
    const word = argv[i] ?? "";
    if (spec.passThrough && inv.args.length >= 1) break;
    if (word === "--") {
      i++;
      break;
    }
    if (!word.startsWith("-") || word === "-") {
      inv.args.push(word);
      continue;
    }
    const long = word.startsWith("--");
    const eq = long ? word.indexOf("=") : -1;
    const flag = eq >= 0 ? word.slice(0, eq) : long ? word : word.slice(0, 2);
    const opt = findOption(spec, flag);
    if (opt === undefined) throw new UsageError(`Unknown option "${flag}"; ${see}`);
    let value: string | undefined;
    if (eq >= 0) value = word.slice(eq + 1);
    else if (!long && word.length > 2) value = word.slice(2);
    if (opt.value === undefined) {
      if (value !== undefined) throw new UsageError(`"${flag}" takes no value; ${see}`);
      inv.opts[opt.name] = true;
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`"${flag}" needs a value; ${see}`);
      value = argv[++i] ?? "";
    }
    if (opt.repeat) {
      const prev = inv.opts[opt.name];
      inv.opts[opt.name] = [...(Array.isArray(prev) ? prev : []), value];
    } else inv.opts[opt.name] = value;
  }
  inv.args.push(...argv.slice(i));
  const min = spec.args.filter((a) => !a.optional).length;
  const max = spec.passThrough || spec.args.at(-1)?.repeat ? Infinity : spec.args.length;
  if (inv.args.length < min || inv.args.length > max) wrongArguments(spec, name);
  return inv;
}

/** Throws UsageError: `message`, then the usage of `spec` (`…; usage: vm disk …`). */
export function refuse(spec: CommandSpec, message: string): never {
  throw new UsageError(`${message}; ${usage(spec)}`);
}

/** Whether `argv` asks for help: `--help`/`-h` anywhere (first word only for pass-through). */
export function wantsHelp(spec: CommandSpec, argv: readonly string[]): boolean {
  const isHelp = (a: string | undefined) => a === "--help" || a === "-h";
  if (spec.passThrough) return isHelp(argv[0]);
  const end = argv.indexOf("--");
  return (end < 0 ? argv : argv.slice(0, end)).some(isHelp);
}

/** The string value of option `name`, or undefined when not given. Pure. */
export function optString<N extends string>(
  inv: Invocation<{ readonly [K in N]: string | undefined }>,
  name: N,
): string | undefined {
  const v = inv.opts[name];
  return typeof v === "string" ? v : undefined;
}

/** Whether flag `name` was given. Pure. */
export function optFlag<N extends string>(
  inv: Invocation<{ readonly [K in N]: true | undefined }>,
  name: N,
): boolean {
  return inv.opts[name] === true;
}

/** The values of a repeatable option `name` (empty when not given). Pure. */
export function optList<N extends string>(
  inv: Invocation<{ readonly [K in N]: string[] | undefined }>,
  name: N,
): string[] {
  const v = inv.opts[name];
  return Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
}

/** Throws UsageError when both `a` and `b` were given ("Give --a or --b, not both"). Pure. */
export function exclusive<A extends string, B extends string>(
  inv: Invocation<{ readonly [K in A | B]: unknown }>,
  a: A,
  b: B,
): void {
  if (inv.opts[a] !== undefined && inv.opts[b] !== undefined) {
    throw new UsageError(`Give "--${a}" or "--${b}", not both`);
  }
}

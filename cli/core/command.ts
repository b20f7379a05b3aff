/**
 * A command of `vm`: its row — everything about it, its arguments, options,
 * help and completion, in one record — and its run, linked by
 * {@link defineCommand}, which types the options `run` reads from the row.
 * The parser (cli/core/parse.ts), `vm help` (cli/core/help.ts) and the
 * completion scripts (cli/core/completions.ts) all read the rows; nothing
 * else declares an option. Each command is defined in its file of
 * cli/commands/, which cli/core/command_list.ts names.
 * @module
 */

/**
 * What a word completes to, and for arguments what kind of value it is:
 * `vm` an existing VM, `ssh-vm` one with SSH set up (made with --image),
 * `new-vm` a name not taken yet, `file` a path, `template` one template
 * name, `templates` a quoted list of them (`+name`, `-name`), `command` a vm
 * command, `sv-command` one of runit's sv commands, `snapshot` a snapshot of
 * the VM named before it, `image` a cached or catalog image, `disk-image`
 * one that is no ISO, `none` free text; a list of words is exactly one of
 * those words.
 */
export type ValueKind =
  | "vm"
  | "ssh-vm"
  | "new-vm"
  | "file"
  | "template"
  | "templates"
  | "command"
  | "sv-command"
  | "snapshot"
  | "image"
  | "disk-image"
  | "none"
  | readonly string[];

/** One positional argument. */
export interface ArgSpec {
  /** As shown in usage: `<vm>`, `<iso>`, or the words `on|off`. */
  name: string;
  kind: ValueKind;
  /** May be left out (shown as `[<name>]`); only the last ones may be. */
  optional?: boolean;
  /** The last argument may repeat (`<vm>...`). */
  repeat?: boolean;
}

/** One option. */
export interface OptionSpec {
  /** The long name without dashes: `disk` for `--disk`. */
  name: string;
  /** One letter for `-x`. */
  short?: string;
  /** The value's name in help (`SIZE` for `--disk SIZE`); absent: a flag without value. */
  value?: string;
  /** What the value completes to (default `none`). */
  complete?: ValueKind;
  /** May be given several times; its value is then a list. */
  repeat?: boolean;
  /** One line of help (more lines: separated by "\n", indented under the first). */
  help: string;
}

/** One command of `vm`. */
export interface CommandSpec {
  name: string;
  /** One line for `vm help`. */
  summary: string;
  args: readonly ArgSpec[];
  /** Absent: the command takes no options (but --help). */
  options?: readonly OptionSpec[];
  /** More help for `vm <command> --help`: lines printed after the options. */
  help?: readonly string[];
  /** runit's entry points and completion helpers: not listed, no --help. */
  hidden?: boolean;
  /**
   * Words after the first positional argument are passed on untouched
   * (`vm boot <vm> -cdrom x`): no option parsing there, and only a first
   * argument of --help asks for help.
   */
  passThrough?: boolean;
  /** Subcommands (`vm image pull`): the first word picks one; this row has no run. */
  subcommands?: readonly CommandSpec[];
}

/** An option's value as the parser gives it: a list (`repeat`), a string (`value`), or true. */
type ValueOf<O> = O extends { repeat: true } ? string[]
  : O extends { value: string } ? string
  : true;

/** An option row's long name, when it is a literal type. */
type NameOf<O> = O extends { name: infer N extends string } ? string extends N ? never : N : never;

/**
 * The options of a list of option rows, by long name, each typed as the
 * parser gives it (undefined when not given): what `run` may read. Names
 * that are not literal types (a row not declared `as const`) give nothing
 * to read, so that reading an undeclared option stays a type error.
 */
export type OptionValues<L> = L extends readonly (infer O)[]
  ? { readonly [K in O as NameOf<K>]: ValueOf<K> | undefined }
  : Record<never, never>;

/** The options of row `R`, by name (see {@link OptionValues}). */
export type RowOptions<R extends CommandSpec> = OptionValues<R["options"]>;

/**
 * The parsed command line given to a command's `run`; `V` types its
 * options (a command's: {@link RowOptions}; a helper's: the ones it reads).
 */
export interface Invocation<V = Record<string, string | true | string[] | undefined>> {
  /** The command's name as typed (`image pull` for a subcommand). */
  command: string;
  /** Positional arguments, in order (everything after the VM for pass-through commands). */
  args: string[];
  /** Option values by long name: true for a flag, a string, or a list for `repeat`. */
  opts: V;
}

/** Runs a command; returns the exit code (errors are thrown as VmError). */
export type Run<V = Invocation["opts"]> = (inv: Invocation<V>) => Promise<number> | number;

/** A command: its row and its run, or a group's subcommands. */
export interface Command {
  readonly row: CommandSpec;
  /** Runs it, with an invocation parsed by `row`; absent for a group. */
  readonly run?: Run;
  /** A group's commands (`vm image pull|list|…`), their rows the row's subcommands. */
  readonly subcommands?: readonly Command[];
}

/**
 * The command of `row`, run by `handler.run`, whose invocation's options are
 * typed from the row: reading one the row does not declare is a type error.
 * Declare the row `as const` (or inline), so that its option names stay literal.
 */
export function defineCommand<const R extends CommandSpec>(
  row: R,
  handler: { readonly run: Run<RowOptions<R>> },
): Command {
  // The parser gives exactly the options of `row`, each as RowOptions types it.
  return { row, run: handler.run as Run };
}

/** A group of commands under one name (`vm image`): `row` with `commands` as its subcommands. */
export function defineGroup(row: CommandSpec, commands: readonly Command[]): Command {
  return { row: { ...row, subcommands: commands.map((c) => c.row) }, subcommands: commands };
}

/** The argument most commands take: one existing VM. */
export const VM = { name: "<vm>", kind: "vm" } as const satisfies ArgSpec;

/** One or more existing VMs. */
export const VMS = { name: "<vm>", kind: "vm", repeat: true } as const satisfies ArgSpec;

/** A VM made with --image: its SSH is set up (completes only those). */
export const SSH_VM = { name: "<vm>", kind: "ssh-vm" } as const satisfies ArgSpec;

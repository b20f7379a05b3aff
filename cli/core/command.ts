/**
 * The shape of one row of the command table (cli/table.ts): everything about
 * a command — its arguments, options, help and completion — in one record.
 * The parser (cli/core/parse.ts), `vm help` (cli/core/help.ts) and the completion
 * scripts (cli/core/completions.ts) all read these records; nothing else declares
 * an option. Pure types and constants.
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

/** The parsed command line given to a command's `run`. */
export interface Invocation {
  /** The command's name as typed (`image pull` for a subcommand). */
  command: string;
  /** Positional arguments, in order (everything after the VM for pass-through commands). */
  args: string[];
  /** Option values by long name: true for a flag, a string, or a list for `repeat`. */
  opts: Record<string, string | boolean | string[] | undefined>;
}

/** What a command module exports. */
export interface CommandModule {
  /** Runs the command; returns the exit code (errors are thrown as VmError). */
  run(inv: Invocation): Promise<number> | number;
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
  /**
   * The module under cli/ that runs it (`list.ts`), loaded only when the
   * command runs; absent for a command with subcommands.
   */
  module?: string;
  /** The module's export that runs it (a CommandModule); absent: the module itself exports `run`. */
  entry?: string;
}

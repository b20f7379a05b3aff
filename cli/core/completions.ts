/**
 * Shell completion scripts for `vm` (bash, zsh, fish), generated from the
 * commands' rows: each positional argument and each option value
 * completes by its declared kind (cli/core/command.ts) — VM names from
 * `vm list -q`, template, snapshot and image names from `vm __complete`,
 * fixed words, file names — and each command's options are its declared
 * ones. Commands with subcommands complete the subcommand first. At run time
 * the scripts run the `vm` the user typed. Pure: returns text.
 * @module
 */

import type { CommandSpec, ValueKind } from "./command.ts";
import { bashScript, fishScript, zshScript } from "./completion_scripts.ts";

/** Shells `vm completions` supports. */
export const SHELLS = ["bash", "zsh", "fish"] as const;

/** One of {@link SHELLS}. */
export type Shell = typeof SHELLS[number];

/** runit's `sv` commands, for `vm sv <TAB>`. */
const SV_COMMANDS = [
  "status",
  "up",
  "down",
  "once",
  "pause",
  "cont",
  "hup",
  "alarm",
  "interrupt",
  "quit",
  "term",
  "kill",
  "exit",
  "start",
  "stop",
  "reload",
  "restart",
  "shutdown",
  "force-stop",
  "force-reload",
  "force-restart",
  "force-shutdown",
  "check",
] as const;

/**
 * A kind as the scripts encode it: `vm`, `ssh-vm`, `template`, `templates`,
 * `snapshot`, `image`, `disk-image`, `command`, `file`, `w:a,b` (those
 * words), `-` (nothing). Pure.
 */
function kindToken(kind: ValueKind): string {
  if (typeof kind !== "string") return "w:" + kind.join(",");
  switch (kind) {
    case "vm":
    case "ssh-vm":
    case "file":
    case "template":
    case "templates":
    case "snapshot":
    case "image":
    case "disk-image":
    case "command":
      return kind;
    case "sv-command":
      return "w:" + SV_COMMANDS.join(",");
    default:
      return "-";
  }
}

/** What the scripts know of one command (or `command subcommand`). */
export interface Encoded {
  /** `list`, or `image pull` for a subcommand. */
  name: string;
  summary: string;
  /** Positional kinds; the last ends in `...` when it repeats. */
  pos: string[];
  /** Options taking a value, each `-x:kind` / `--name:kind`. */
  valopts: string[];
  /** Every spelling of every option, `--help` and `-h` included. */
  opts: string[];
}

/** The completion view of one command. Pure. */
export function encode(c: CommandSpec, name = c.name): Encoded {
  const pos = c.args.map((a) => kindToken(a.kind));
  if (c.args.at(-1)?.repeat && pos.length > 0) pos[pos.length - 1] += "...";
  const valopts: string[] = [];
  const opts: string[] = [];
  for (const o of c.options ?? []) {
    const spellings = [`--${o.name}`, ...(o.short ? [`-${o.short}`] : [])];
    opts.push(...spellings);
    if (o.value !== undefined) {
      for (const s of spellings) valopts.push(`${s}:${kindToken(o.complete ?? "none")}`);
    }
  }
  opts.push("--help", "-h");
  return { name, summary: c.summary, pos, valopts, opts };
}

/** The visible commands and subcommands, encoded, and which commands have subcommands. */
function encodeAll(commands: readonly CommandSpec[]) {
  const visible = commands.filter((c) => !c.hidden);
  const entries: Encoded[] = [];
  const subs: [string, string[]][] = [];
  for (const c of visible) {
    if (c.subcommands === undefined) entries.push(encode(c));
    else {
      subs.push([c.name, c.subcommands.map((s) => s.name)]);
      for (const s of c.subcommands) entries.push(encode(s, `${c.name} ${s.name}`));
    }
  }
  return { top: visible, entries, subs };
}

/** Quotes `s` for fish (single quotes, `\` and `'` escaped). */
function sq(s: string): string {
  return "'" + s.replace(/\\/g, "\\\\").replace(/'/g, "\\'") + "'";
}

/** Quotes `s` for bash or zsh (single quotes; no escapes inside). */
function shq(s: string): string {
  return "'" + s.replace(/'/g, `'\\''`) + "'";
}

/** The `case` arms (bash and zsh) setting pos, valopts and opts per command. */
function caseArms(entries: readonly Encoded[]): string {
  return entries.map((c) =>
    `    ${shq(c.name)}) pos=${shq(c.pos.join(" "))} valopts=${shq(` ${c.valopts.join(" ")} `)} ` +
    `opts=${shq(c.opts.join(" "))} ;;`
  ).join("\n");
}

/** The `case` arms (bash and zsh) setting the subcommands of a command. */
function subArms(subs: readonly [string, string[]][]): string {
  return subs.map(([n, s]) => `    ${shq(n)}) subs=${shq(s.join(" "))} ;;`).join("\n");
}

/** The completion script of `shell` for `commands` (their rows, in order). Pure. */
export function completionScript(shell: Shell, commands: readonly CommandSpec[]): string {
  const { top, entries, subs } = encodeAll(commands);
  const names = top.map((c) => c.name).join(" ");
  switch (shell) {
    case "bash":
      return bashScript({ names, arms: caseArms(entries), subArms: subArms(subs) });
    case "zsh":
      return zshScript({
        names,
        arms: caseArms(entries),
        subArms: subArms(subs),
        described: top.map((c) => "    " + shq(`${c.name.replace(/:/g, "\\:")}:${c.summary}`))
          .join("\n"),
      });
    case "fish":
      return fishScript({
        names,
        described: top.map((c) => `        printf '%s\\t%s\\n' ${sq(c.name)} ${sq(c.summary)}`)
          .join("\n"),
        subArms: subs.map(([n, s]) =>
          `        case ${sq(n)}\n            set subs ${s.map(sq).join(" ")}`
        )
          .join("\n"),
        arms: entries.map((c) =>
          [
            `        case ${sq(c.name)}`,
            `            set pos ${c.pos.map(sq).join(" ")}`,
            `            set valopts ${c.valopts.map(sq).join(" ")}`,
            `            set opts ${c.opts.map(sq).join(" ")}`,
          ].join("\n")
        ).join("\n"),
      });
  }
}

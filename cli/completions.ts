/**
 * Shell completion scripts for `vm` (bash, zsh, fish), generated from the
 * command table. Pure: returns text, touches no file.
 *
 * What each positional argument of a command completes to comes from its
 * usage text (`args`, or a `complete` text in the same syntax):
 * `<vm>` VM names (from `vm list -q`), `<template>` template names (from
 * `vm __complete templates`), `<command>` vm's commands, `<sv-command>`
 * runit's sv commands, `<iso>`/`<file>`
 * file names, `a|b|c` those words; `...` repeats the last one; `[...]` is
 * optional; anything else completes nothing. Options (`-x`, `--xyz`) come
 * from the help text's lines that start with them; an option followed by a
 * value word (`--disk SIZE`) takes a value, `--templates` one of template
 * names. At run time the scripts run the `vm` the user typed.
 * @module
 */

/** A command as the completion scripts see it (a visible entry of the command table). */
export interface CompletionCommand {
  name: string;
  /** Usage of the arguments, e.g. `<vm> [<iso>]`. */
  args: string;
  /** One line for descriptions. */
  summary: string;
  /** Help text; its lines starting with `-` list the options. */
  help?: string;
  /** Overrides `args` for completion (same syntax). */
  complete?: string;
}

/** Shells `vm completions` supports. */
export const SHELLS = ["bash", "zsh", "fish"] as const;

/** One of {@link SHELLS}. */
export type Shell = typeof SHELLS[number];

/** runit's `sv` commands, for `vm sv <TAB>`. */
export const SV_COMMANDS = [
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

/** Kinds of names a positional argument completes to, other than fixed words. */
export type NameKind = "vm" | "template" | "command" | "file" | "none";

/** What a positional argument completes to. */
export type ArgKind = { type: NameKind } | { type: "words"; words: string[] };

/** An option of a command. */
export interface OptionSpec {
  /** E.g. `--disk`, `-n`. */
  name: string;
  /** Whether the next word is its value. */
  takesValue: boolean;
  /** What its value completes to (templates for `--templates`). */
  value?: "template";
}

/** Everything the scripts know of one command. */
export interface CommandSpec {
  name: string;
  summary: string;
  /** Kinds of the positional arguments, in order. */
  positional: ArgKind[];
  /** Whether the last kind repeats (`<vm>...`). */
  repeats: boolean;
  options: OptionSpec[];
}

const PLACEHOLDER_KINDS: Record<string, NameKind> = {
  vm: "vm",
  template: "template",
  templates: "template",
  command: "command",
  iso: "file",
  file: "file",
  path: "file",
  image: "file",
};

/** An optional group of options in a usage text, e.g. `[--timeout S]`, `[--json | -q]`. */
const OPTION_GROUP = /\[\s*-[^\]]*\]/g;

/** Options a usage text shows in option groups (`[--timeout S]`, `[--json | -q]`). Pure. */
export function parseArgOptions(args: string): OptionSpec[] {
  const out: OptionSpec[] = [];
  for (const group of args.match(OPTION_GROUP) ?? []) {
    for (const alt of group.slice(1, -1).split("|")) {
      const [name, value] = alt.trim().split(/\s+/);
      if (name === undefined || !/^--?[A-Za-z0-9][\w-]*$/.test(name)) continue;
      out.push({ name, takesValue: value !== undefined });
    }
  }
  return out;
}

/** Parses a usage text into argument kinds; option groups and `-x` words are skipped. Pure. */
export function parseArgKinds(args: string): { positional: ArgKind[]; repeats: boolean } {
  const positional: ArgKind[] = [];
  let repeats = false;
  const words = args.replace(OPTION_GROUP, " ").split(/\s+/).filter((w) => w !== "");
  for (const raw of words) {
    if (raw.startsWith("-")) continue;
    let w = raw.replace(/^\[+/, "").replace(/\]+$/, "");
    repeats = w.endsWith("...");
    w = w.replace(/\.\.\.$/, "").replace(/\]+$/, "");
    const m = /^<([^>]*)>$/.exec(w);
    if (m?.[1] === "sv-command") {
      positional.push({ type: "words", words: [...SV_COMMANDS] });
    } else if (m) {
      positional.push({ type: PLACEHOLDER_KINDS[m[1] ?? ""] ?? "none" });
    } else if (/^[A-Za-z0-9][\w.-]*(\|[A-Za-z0-9][\w.-]*)+$/.test(w)) {
      positional.push({ type: "words", words: w.split("|") });
    } else if (/^[A-Za-z0-9][\w.-]*$/.test(w)) {
      positional.push({ type: "words", words: [w] });
    } else {
      positional.push({ type: "none" });
    }
  }
  return { positional, repeats };
}

/**
 * Parses the options a help text lists: each line starting (after spaces)
 * with `-`, its options separated by ", " up to two spaces, e.g.
 * `  -n, --lines N     lines to show`. Pure.
 */
export function parseOptions(help: string): OptionSpec[] {
  const out: OptionSpec[] = [];
  for (const line of help.split("\n")) {
    const m = /^\s+(-.*?)(?:\s{2,}|$)/.exec(line);
    if (!m) continue;
    const found = (m[1] ?? "").split(/,\s*/).map((part) =>
      /^(--?[A-Za-z0-9][\w-]*)(?:[ =](\S.*))?$/.exec(part.trim())
    ).filter((o) => o !== null);
    // "-n, --lines N": the value shown once is the value of every spelling.
    const takesValue = found.some((o) => o[2] !== undefined);
    for (const o of found) {
      const name = o[1] ?? "";
      if (out.some((x) => x.name === name)) continue;
      const spec: OptionSpec = { name, takesValue };
      if (/^--templates?$/.test(name)) spec.value = "template";
      out.push(spec);
    }
  }
  return out;
}

/** The completion view of one command. Pure. */
export function commandSpec(c: CompletionCommand): CommandSpec {
  const { positional, repeats } = parseArgKinds(c.complete ?? c.args);
  const options = parseOptions(c.help ?? "");
  for (const o of parseArgOptions(c.args)) {
    if (!options.some((x) => x.name === o.name)) options.push(o);
  }
  if (!options.some((o) => o.name === "--help")) {
    options.push({ name: "--help", takesValue: false });
  }
  return { name: c.name, summary: c.summary, positional, repeats, options };
}

/** A kind as the scripts encode it: `vm`, `template`, `command`, `file`, `-`, `w:a,b`. */
function kindToken(k: ArgKind): string {
  if (k.type === "words") return "w:" + k.words.join(",");
  return k.type === "none" ? "-" : k.type;
}

/** Encoded data of one command, shared by the three scripts. */
interface Encoded {
  name: string;
  summary: string;
  /** Positional kinds; the last ends in `...` when it repeats. */
  pos: string[];
  /** Options taking a value. */
  valopts: string[];
  /** Every option. */
  opts: string[];
}

function encode(c: CompletionCommand): Encoded {
  const s = commandSpec(c);
  const pos = s.positional.map(kindToken);
  if (s.repeats && pos.length > 0) pos[pos.length - 1] += "...";
  return {
    name: s.name,
    summary: s.summary,
    pos,
    valopts: s.options.filter((o) => o.takesValue).map((o) => o.name),
    opts: s.options.map((o) => o.name),
  };
}

/** Quotes `s` for a POSIX shell, zsh or fish (single quotes). */
function sq(s: string): string {
  return "'" + s.replace(/\\/g, "\\\\").replace(/'/g, "\\'") + "'";
}

/** Quotes `s` for bash or zsh (single quotes; no escapes inside). */
function shq(s: string): string {
  return "'" + s.replace(/'/g, `'\\''`) + "'";
}

function bashScript(cmds: Encoded[]): string {
  const names = cmds.map((c) => c.name).join(" ");
  const cases = cmds.map((c) =>
    `    ${c.name}) pos=${shq(c.pos.join(" "))} valopts=${shq(` ${c.valopts.join(" ")} `)} ` +
    `opts=${shq(c.opts.join(" "))} ;;`
  ).join("\n");
  return `# bash completion for vm; generated by "vm completions bash".
# Use: source <(vm completions bash), or save it as
# ~/.local/share/bash-completion/completions/vm
_vm() {
  local vm=\${1:-vm} cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  local cmd=\${COMP_WORDS[1]} pos valopts opts words k w i n=0 skip=0
  COMPREPLY=()
  if [ "$COMP_CWORD" -le 1 ]; then
    COMPREPLY=($(compgen -W ${shq(names)} -- "$cur"))
    return 0
  fi
  case $cmd in
${cases}
    *) return 0 ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    return 0
  fi
  if [[ $prev == -* && $valopts == *" $prev "* ]]; then
    case $prev in
      --template | --templates)
        COMPREPLY=($(compgen -W "$("$vm" __complete templates 2>/dev/null)" -- "$cur")) ;;
    esac
    return 0
  fi
  for ((i = 2; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    if [ "$skip" = 1 ]; then skip=0; continue; fi
    case $w in
      -*) [[ $valopts == *" $w "* ]] && skip=1; continue ;;
    esac
    n=$((n + 1))
  done
  local -a kinds=($pos)
  [ "\${#kinds[@]}" -gt 0 ] || return 0
  if [ "$n" -lt "\${#kinds[@]}" ]; then
    k=\${kinds[n]}
  else
    k=\${kinds[\${#kinds[@]}-1]}
    [[ $k == *... ]] || return 0
  fi
  k=\${k%...}
  case $k in
    vm) words=$("$vm" list -q 2>/dev/null) ;;
    template) words=$("$vm" __complete templates 2>/dev/null) ;;
    command) words=${shq(names)} ;;
    w:*) words=\${k#w:}; words=\${words//,/ } ;;
    file)
      compopt -o filenames 2>/dev/null
      COMPREPLY=($(compgen -f -- "$cur"))
      return 0 ;;
    *) return 0 ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
  return 0
}
complete -F _vm vm
`;
}

function zshScript(cmds: Encoded[]): string {
  const described = cmds.map((c) => "    " + shq(`${c.name.replace(/:/g, "\\:")}:${c.summary}`))
    .join("\n");
  const names = cmds.map((c) => c.name).join(" ");
  const cases = cmds.map((c) =>
    `    ${c.name}) pos=${shq(c.pos.join(" "))} valopts=${shq(` ${c.valopts.join(" ")} `)} ` +
    `opts=${shq(c.opts.join(" "))} ;;`
  ).join("\n");
  return `#compdef vm
# zsh completion for vm; generated by "vm completions zsh".
# Use: save it as _vm in a directory of $fpath, or source <(vm completions zsh)
# after compinit.
_vm() {
  local vm=\${words[1]} cur=\${words[CURRENT]} prev=\${words[CURRENT-1]}
  local cmd=\${words[2]} pos valopts opts k w
  local -a cmds kinds cands
  integer i n=0 skip=0
  if (( CURRENT <= 2 )); then
    cmds=(
${described}
    )
    _describe -t commands 'vm command' cmds
    return
  fi
  case $cmd in
${cases}
    *) return 1 ;;
  esac
  if [[ $cur == -* ]]; then
    cands=(\${=opts})
    compadd -a cands
    return
  fi
  if [[ $prev == -* && $valopts == *" $prev "* ]]; then
    case $prev in
      --template|--templates)
        cands=(\${(f)"$(\${vm} __complete templates 2>/dev/null)"})
        compadd -a cands ;;
    esac
    return
  fi
  for (( i = 3; i < CURRENT; i++ )); do
    w=\${words[i]}
    if (( skip )); then skip=0; continue; fi
    if [[ $w == -* ]]; then
      [[ $valopts == *" $w "* ]] && skip=1
      continue
    fi
    (( n++ ))
  done
  kinds=(\${=pos})
  (( \${#kinds} > 0 )) || return 1
  if (( n < \${#kinds} )); then
    k=\${kinds[n+1]}
  else
    k=\${kinds[-1]}
    [[ $k == *... ]] || return 1
  fi
  k=\${k%...}
  case $k in
    vm) cands=(\${(f)"$(\${vm} list -q 2>/dev/null)"}) ;;
    template) cands=(\${(f)"$(\${vm} __complete templates 2>/dev/null)"}) ;;
    command) cands=(${names}) ;;
    w:*) cands=(\${(s:,:)\${k#w:}}) ;;
    file) _files; return ;;
    *) return 1 ;;
  esac
  compadd -a cands
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _vm "$@"
else
  compdef _vm vm
fi
`;
}

function fishScript(cmds: Encoded[]): string {
  const described = cmds.map((c) => `        printf '%s\\t%s\\n' ${sq(c.name)} ${sq(c.summary)}`)
    .join("\n");
  const names = cmds.map((c) => c.name).join(" ");
  const list = (xs: string[]) => xs.map(sq).join(" ");
  const cases = cmds.map((c) =>
    [
      `        case ${sq(c.name)}`,
      `            set pos ${list(c.pos)}`,
      `            set valopts ${list(c.valopts)}`,
      `            set opts ${list(c.opts)}`,
    ].join("\n")
  ).join("\n");
  return `# fish completion for vm; generated by "vm completions fish".
# Use: vm completions fish | source, or save it as
# ~/.config/fish/completions/vm.fish
function __vm_complete
    set -l tokens (commandline -opc)
    set -l cur (commandline -ct)
    set -l vm $tokens[1]
    if test (count $tokens) -le 1
${described}
        return
    end
    set -l cmd $tokens[2]
    set -l pos
    set -l valopts
    set -l opts
    switch $cmd
${cases}
        case '*'
            return
    end
    if string match -q -- '-*' $cur
        printf '%s\\n' $opts
        return
    end
    set -l prev $tokens[-1]
    if string match -q -- '-*' $prev; and contains -- $prev $valopts
        switch $prev
            case --template --templates
                $vm __complete templates 2>/dev/null
        end
        return
    end
    set -l n 0
    set -l skip 0
    for i in (seq 3 (count $tokens))
        set -l w $tokens[$i]
        if test $skip = 1
            set skip 0
            continue
        end
        if string match -q -- '-*' $w
            contains -- $w $valopts; and set skip 1
            continue
        end
        set n (math $n + 1)
    end
    set -l k
    if test (count $pos) -eq 0
        return
    else if test $n -lt (count $pos)
        set k $pos[(math $n + 1)]
    else if string match -q -- '*...' $pos[-1]
        set k $pos[-1]
    else
        return
    end
    set k (string replace -r '\\.\\.\\.$' '' -- $k)
    switch $k
        case vm
            $vm list -q 2>/dev/null
        case template
            $vm __complete templates 2>/dev/null
        case command
            printf '%s\\n' ${names}
        case 'w:*'
            string split , -- (string replace -r '^w:' '' -- $k)
        case file
            __fish_complete_path $cur
    end
end
complete -c vm -f -a '(__vm_complete)'
`;
}

/**
 * The completion script of `shell` for `commands` (the visible commands, in
 * table order). Pure.
 */
export function completionScript(shell: Shell, commands: readonly CompletionCommand[]): string {
  const cmds = commands.map(encode);
  switch (shell) {
    case "bash":
      return bashScript(cmds);
    case "zsh":
      return zshScript(cmds);
    case "fish":
      return fishScript(cmds);
  }
}

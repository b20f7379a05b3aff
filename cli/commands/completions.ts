/**
 * `vm completions bash|zsh|fish` (the script, from the commands' rows) and
 * the hidden `vm __complete templates|snapshots <vm>|images` the scripts run
 * for names that change.
 * @module
 */

import { UsageError } from "../../lib/errors.ts";
import { availableTemplates } from "../../lib/actions/make.ts";
import { diskInfos, snapshotRows } from "../../lib/actions/snapshots.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { imageNames } from "../../lib/images/names.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import { type CommandSpec, defineCommand } from "../core/command.ts";
import { completionScript, type Shell, SHELLS } from "../core/completions.ts";
import { print, write } from "../core/output.ts";
import { allCommands } from "../core/command_list.ts";
import { vmDisks } from "../../lib/vm/disk_paths.ts";
import { DROP_ALL } from "../../lib/vm/template_choice.ts";
import { sshVms } from "../../lib/ssh/ssh_args.ts";

/** The row of `vm completions`. */
const COMPLETIONS_ROW = {
  name: "completions",
  summary: "print a shell completion script",
  args: [{ name: "bash|zsh|fish", kind: ["bash", "zsh", "fish"] }],
  help: [
    "completes commands, options, VM names and template names, e.g.",
    "  bash: source <(vm completions bash)   or save it as",
    "        ~/.local/share/bash-completion/completions/vm",
    "  zsh:  vm completions zsh > ~/.zfunc/_vm   (a directory in $fpath, before compinit)",
    "  fish: vm completions fish > ~/.config/fish/completions/vm.fish",
  ],
} as const satisfies CommandSpec;

/** The row of `vm __complete`, which the completion scripts run. */
const COMPLETE_ROW = {
  name: "__complete",
  summary: "names for the completion scripts",
  args: [
    {
      name: "templates|snapshots|images|disk-images|ssh-vms",
      kind: ["templates", "snapshots", "images", "disk-images", "ssh-vms"],
    },
    { name: "<vm>|<word>", kind: "none", optional: true },
  ],
  hidden: true,
} as const satisfies CommandSpec;

/** `vm completions`. */
export const completions = defineCommand(COMPLETIONS_ROW, {
  async run(inv) {
    const shell = inv.args[0] ?? "";
    if (!(SHELLS as readonly string[]).includes(shell)) {
      throw new UsageError(`No completions for "${shell}"; say bash, zsh or fish`);
    }
    write(completionScript(shell as Shell, (await allCommands()).map((c) => c.row)));
    return 0;
  },
});

/**
 * Template names as a word of `--templates` completes: `+name`, `-name`
 * (and `-*`) when `word` starts with `+` or `-`. Pure.
 */
export function templateWords(names: readonly string[], word = ""): string[] {
  const sign = word.startsWith("+") || word.startsWith("-") ? word[0] : "";
  return [...names.map((n) => sign + n), ...(sign === "-" ? [DROP_ALL] : [])];
}

/**
 * `vm __complete templates [<word>]|snapshots <vm>|images|disk-images|ssh-vms`:
 * one name per line.
 */
export const complete = defineCommand(COMPLETE_ROW, {
  async run(inv) {
    const [what, vm] = inv.args;
    const cfg = loadConfig();
    let names: string[] = [];
    if (what === "templates") names = templateWords(availableTemplates(cfg.vmdir), vm);
    else if (what === "images") names = imageNames(cfg);
    else if (what === "disk-images") names = imageNames(cfg, "disk");
    else if (what === "ssh-vms") names = sshVms(cfg.vmdir);
    else if (what === "snapshots" && vm !== undefined) {
      const dir = requireVm(cfg.vmdir, vm);
      names = snapshotRows(await diskInfos(vmDisks(cfg, dir))).map((r) => r.name);
    }
    for (const n of names) print(n);
    return 0;
  },
});

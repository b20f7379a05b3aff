/**
 * `vm completions bash|zsh|fish` (the script, from the command table) and
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
import type { CommandModule } from "../core/command.ts";
import { completionScript, type Shell, SHELLS } from "../core/completions.ts";
import { print, write } from "../core/output.ts";
import { COMMANDS } from "../table.ts";
import { vmDisks } from "../../lib/vm/disk_paths.ts";
import { DROP_ALL } from "../../lib/vm/template_choice.ts";
import { sshVms } from "../../lib/ssh/ssh_args.ts";

/** `vm completions`. */
export const completions: CommandModule = {
  run(inv) {
    const shell = inv.args[0] ?? "";
    if (!(SHELLS as readonly string[]).includes(shell)) {
      throw new UsageError(`No completions for "${shell}"; say bash, zsh or fish`);
    }
    write(completionScript(shell as Shell, COMMANDS));
    return 0;
  },
};

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
export const complete: CommandModule = {
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
};

/**
 * `vm rename <vm> <new-name>` and `vm clone <vm> <new-vm> [--linked]`
 * (lib/actions/rename.ts, lib/actions/clone.ts).
 * @module
 */

import { cloneVm } from "../../lib/actions/clone.ts";
import { renameVm } from "../../lib/actions/rename.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { checkName } from "../../lib/vm/name.ts";
import type { CommandModule, Invocation } from "../core/command.ts";
import { print } from "../core/output.ts";
import { optFlag } from "../core/parse.ts";
import { type Progress, progress } from "../core/progress.ts";

/** The two VM names of the command, both checked. */
function twoNames(inv: Invocation): [string, string] {
  const [a = "", b = ""] = inv.args;
  return [checkName(a), checkName(b)];
}

/** `vm rename`. */
export const rename: CommandModule = {
  async run(inv) {
    const [from, to] = twoNames(inv);
    const r = await renameVm(loadConfig(), from, to);
    print(`Renamed VM "${from}" to "${to}" ("${r.to}")`);
    return 0;
  },
};

/** `vm clone`. */
export const clone: CommandModule = {
  async run(inv) {
    const [src, dst] = twoNames(inv);
    const bars = new Map<string, Progress>();
    const onProgress = Deno.stderr.isTerminal()
      ? (disk: string, done: number, total: number) => {
        const bar = bars.get(disk) ?? progress(`copying ${disk}`);
        bars.set(disk, bar);
        bar.update(done, total);
      }
      : undefined;
    let r;
    try {
      r = await cloneVm(loadConfig(), src, dst, optFlag(inv, "linked"), onProgress);
    } finally {
      for (const bar of bars.values()) bar.clear();
    }
    print(
      `Cloned VM "${src}" to "${dst}" ("${r.dir}"); it is down: start it with "vm start ${dst}"`,
    );
    for (const d of r.disks) {
      print(`  ${d.rel}: ${d.backing === undefined ? "full copy" : `overlay on "${d.backing}"`}`);
    }
    for (const [from, to] of r.macs) print(`  MAC address ${from} -> ${to}`);
    return 0;
  },
};

/**
 * `vm rename <vm> <new-name>` and `vm clone <vm> <new-vm> [--linked]`
 * (lib/actions/rename.ts, lib/actions/clone.ts).
 * @module
 */

import { cloneVm } from "../../lib/actions/clone.ts";
import { renameVm } from "../../lib/actions/rename.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { checkName } from "../../lib/vm/name.ts";
import { type CommandSpec, defineCommand, type Invocation, VM } from "../core/command.ts";
import { print } from "../core/output.ts";
import { optFlag } from "../core/parse.ts";
import { type Progress, progress } from "../core/progress.ts";

/** The row of `vm rename`. */
const RENAME_ROW = {
  name: "rename",
  summary: "rename a stopped VM",
  args: [VM, { name: "<new-name>", kind: "new-vm" }],
  help: [
    "one atomic rename of its directory: autostart, log, disks and snapshots stay, and its",
    "runsv keeps supervising it. Refused while it runs, and while linked clones use its",
    "disks (their backing file names point to it)",
  ],
} as const satisfies CommandSpec;

/** The row of `vm clone`. */
const CLONE_ROW = {
  name: "clone",
  summary: "copy a stopped VM; the copy is down and gets new MAC addresses",
  args: [VM, { name: "<new-vm>", kind: "new-vm" }],
  options: [{
    name: "linked",
    help: "make each disk a qcow2 overlay on the source's disk instead of a copy\n" +
      "(fast, small; the source must not change while the clone exists: do\n" +
      "not start it; vm destroy and vm rename refuse it)",
  }],
  help: [
    "copies every file of the VM (not runit's state nor its log); each disk is copied with",
    "qemu-img convert (internal snapshots are not copied); every mac= address in the",
    "templates gets a fresh one. Disks must be inside the VM's directory, named relative",
    "to it (./drive.qcow2 or $VM_DIR/...), so that the copy's templates name the copy's",
    "disks and not the source's. On a terminal each full copy shows a progress bar",
  ],
} as const satisfies CommandSpec;

/** The two VM names of the command, both checked. */
function twoNames(inv: Invocation<unknown>): [string, string] {
  const [a = "", b = ""] = inv.args;
  return [checkName(a), checkName(b)];
}

/** `vm rename`. */
export const rename = defineCommand(RENAME_ROW, {
  async run(inv) {
    const [from, to] = twoNames(inv);
    const r = await renameVm(loadConfig(), from, to);
    print(`Renamed VM "${from}" to "${to}" ("${r.to}")`);
    return 0;
  },
});

/** `vm clone`. */
export const clone = defineCommand(CLONE_ROW, {
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
});

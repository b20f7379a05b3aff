/**
 * `vm snapshot <vm> list|create|apply|delete [<name>]`: qcow2 internal
 * snapshots of every disk of a VM (lib/actions/snapshots.ts).
 * @module
 */

import { checkNoDependents } from "../../lib/actions/dependents.ts";
import {
  diskInfos,
  snapshotDisks,
  snapshotRows,
  snapshotsJson,
} from "../../lib/actions/snapshots.ts";
import { formatSnapshots } from "../core/disk_text.ts";
import { checkStopped } from "../../lib/qemu/processes.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import { type CommandSpec, defineCommand, VM } from "../core/command.ts";
import { print } from "../core/output.ts";
import { optFlag, refuse, wrongArguments } from "../core/parse.ts";
import { showDisk, vmDisks } from "../../lib/vm/disk_paths.ts";
import { visible } from "../../lib/text/visible.ts";

/** The row of `vm snapshot`. */
const SNAPSHOT_ROW = {
  name: "snapshot",
  summary: "internal snapshots of a stopped VM's qcow2 disks",
  args: [
    VM,
    { name: "list|create|apply|delete", kind: ["list", "create", "apply", "delete"] },
    { name: "<name>", kind: "snapshot", optional: true },
  ],
  options: [{
    name: "json",
    help: "list: an array of {name, date_s, disks} (disks as the templates name them)",
  }],
  help: [
    "each operation works on every disk of the VM (qemu-img snapshot): create adds the",
    "named snapshot to all, apply takes all back to it, delete removes it; list (also",
    "while the VM runs) shows each snapshot with its date and disks. apply is refused while",
    "linked clones use the disks (vm clone --linked)",
  ],
} as const satisfies CommandSpec;

const CHANGES = { create: "created", apply: "applied", delete: "deleted" } as const;

/** `vm snapshot`. */
export const snapshot = defineCommand(SNAPSHOT_ROW, {
  async run(inv) {
    const [name = "", op = "", snap = ""] = inv.args;
    const want = op === "list" ? 2 : 3;
    if (op !== "list" && !(op in CHANGES)) {
      refuse(SNAPSHOT_ROW, `Unknown snapshot operation "${op}"`);
    }
    if (inv.args.length !== want) wrongArguments(SNAPSHOT_ROW);
    const cfg = loadConfig();
    const dir = requireVm(cfg.vmdir, name);
    if (op === "list") {
      const rows = snapshotRows(await diskInfos(vmDisks(cfg, dir)));
      print(
        optFlag(inv, "json")
          ? JSON.stringify(snapshotsJson(rows, dir), null, 2)
          : visible(formatSnapshots(rows, dir)), // snapshot names come from the images
      );
      return 0;
    }
    if (optFlag(inv, "json")) refuse(SNAPSHOT_ROW, '"--json" is for "list" only');
    const change = op as keyof typeof CHANGES;
    checkStopped(name, dir, `${op} a snapshot`);
    // Applying changes the data linked clones see through their overlays.
    if (change === "apply") await checkNoDependents(cfg, name, "applying a snapshot");
    const changed = await snapshotDisks(change, name, dir, vmDisks(cfg, dir), snap);
    print(
      `Snapshot "${snap}" ${CHANGES[change]} on ` +
        `${changed.map((d) => `"${showDisk(dir, d)}"`).join(", ")} of VM "${name}"`,
    );
    return 0;
  },
});

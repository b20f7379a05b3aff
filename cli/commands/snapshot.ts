/**
 * `vm snapshot <vm> list|create|apply|delete [<name>]`: qcow2 internal
 * snapshots of every disk of a VM (lib/actions/snapshots.ts).
 * @module
 */

import { checkNoDependents } from "../../lib/actions/dependents.ts";
import {
  diskInfos,
  formatSnapshots,
  snapshotDisks,
  snapshotRows,
  snapshotsJson,
} from "../../lib/actions/snapshots.ts";
import { checkStopped } from "../../lib/qemu/processes.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import type { CommandModule } from "../core/command.ts";
import { print } from "../core/output.ts";
import { optFlag, refuse, wrongArguments } from "../core/parse.ts";
import { findCommand } from "../table.ts";
import { showDisk, vmDisks } from "../../lib/vm/disk_paths.ts";
import { visible } from "../../lib/text/visible.ts";

const CHANGES = { create: "created", apply: "applied", delete: "deleted" } as const;

/** `vm snapshot`. */
export const snapshot: CommandModule = {
  async run(inv) {
    const [name = "", op = "", snap = ""] = inv.args;
    const want = op === "list" ? 2 : 3;
    if (op !== "list" && !(op in CHANGES)) refuse("snapshot", `Unknown snapshot operation "${op}"`);
    const spec = findCommand("snapshot");
    if (inv.args.length !== want && spec !== undefined) wrongArguments(spec);
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
    if (optFlag(inv, "json")) refuse("snapshot", '"--json" is for "list" only');
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
};

/**
 * What `vm destroy` shows before it asks, and the `vm snapshot list` table:
 * a VM's disks as people read them (lib/actions/destroy.ts and
 * snapshots.ts gather them). Pure.
 * @module
 */

import type { DestroyPlan } from "../../lib/actions/destroy.ts";
import type { SnapshotRow } from "../../lib/actions/snapshots.ts";
import { formatBytes } from "../../lib/text/units.ts";
import { showDisk } from "../../lib/vm/disk_paths.ts";
import { alignColumns, formatDate } from "./format.ts";

/** The text `vm destroy` shows before it asks: the directory, its size, the disks going and kept. Pure. */
export function formatDestroyPlan(p: DestroyPlan): string {
  const bytes = formatBytes;
  const head = `VM "${p.name}" ("${p.dir}", ${bytes(p.total)} on disk) will be deleted`;
  const lines = [
    p.disks.length === 0 ? `${head}; it has no disk in its directory` : `${head}, with:`,
  ];
  for (const d of p.disks) {
    const size = d.actual === undefined
      ? "(qemu-img cannot read it)"
      : `${bytes(d.actual)} on disk` +
        (d.virtual === undefined ? "" : ` (${bytes(d.virtual)} virtual)`);
    lines.push(`  ${showDisk(p.dir, d.path)}  ${size}`);
  }
  for (const k of p.kept) lines.push(`Kept (outside the VM's directory): ${k}`);
  return lines.join("\n");
}

/** The `vm snapshot list` table (NAME, CREATED, DISKS); only the header when there is none. Pure. */
export function formatSnapshots(rows: readonly SnapshotRow[], vmDir: string): string {
  return alignColumns([
    ["NAME", "CREATED", "DISKS"],
    ...rows.map((
      r,
    ) => [r.name, formatDate(r.date), r.disks.map((d) => showDisk(vmDir, d)).join(" ")]),
  ]);
}

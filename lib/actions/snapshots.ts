/**
 * `vm snapshot`: qcow2 internal snapshots of every disk of a stopped VM at
 * once (create on all, apply all, delete where present; undone on the other
 * disks when one fails), and the list of them (also while the VM runs).
 * Runs `qemu-img snapshot` and `qemu-img info` on the VM's disks.
 * @module
 */

import { CheckFailedError, UsageError } from "../errors.ts";
import { type ImageInfo, imageInfo, snapshotImage, type SnapshotOp } from "../qemu/img.ts";
import { showDisk } from "../vm/disk_paths.ts";

/** One internal snapshot, with the disks that have it. */
export interface SnapshotRow {
  name: string;
  /** Unix time of its creation (the earliest among the disks). */
  date: number;
  /** Disks (absolute) holding it. */
  disks: string[];
}

/** The union of the snapshots in `infos` (disk path → info), by name, oldest first. Pure. */
export function snapshotRows(infos: ReadonlyMap<string, ImageInfo>): SnapshotRow[] {
  const rows = new Map<string, SnapshotRow>();
  for (const [path, info] of infos) {
    for (const s of info.snapshots ?? []) {
      const row = rows.get(s.name);
      if (row === undefined) rows.set(s.name, { name: s.name, date: s["date-sec"], disks: [path] });
      else {
        row.date = Math.min(row.date, s["date-sec"]);
        if (!row.disks.includes(path)) row.disks.push(path);
      }
    }
  }
  return [...rows.values()].sort((a, b) => a.date - b.date || (a.name < b.name ? -1 : 1));
}

/** Returns `name` when it may name a snapshot; throws UsageError otherwise. Pure. */
export function checkSnapshotName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || /^[0-9]+$/.test(name) || name.length > 64) {
    throw new UsageError(
      `Invalid snapshot name "${name}": use letters, digits, ".", "_" and "-", starting with ` +
        `a letter or digit, not only digits (those are snapshot IDs)`,
    );
  }
  return name;
}

/** `qemu-img info` of each disk (snapshots included), by path. Runs qemu-img. */
export async function diskInfos(disks: readonly string[]): Promise<Map<string, ImageInfo>> {
  const infos = new Map<string, ImageInfo>();
  for (const d of disks) infos.set(d, await imageInfo(d));
  return infos;
}

/**
 * Creates, applies or deletes snapshot `snap` on every disk of VM `name`
 * (all must be qcow2). create: refused when any disk has the name already,
 * undone on the other disks when one fails; apply: every disk must have it;
 * delete: on the disks that have it (at least one). The caller has checked
 * the VM is stopped. Returns the disks changed. Runs qemu-img on the disks.
 */
export async function snapshotDisks(
  op: SnapshotOp,
  name: string,
  vmDir: string,
  disks: readonly string[],
  snap: string,
): Promise<string[]> {
  if (disks.length === 0) {
    throw new CheckFailedError(`VM "${name}" has no disk in its templates (no "-drive file=…")`);
  }
  const infos = await diskInfos(disks);
  const notQcow2 = disks.filter((d) => infos.get(d)?.format !== "qcow2");
  if (notQcow2.length > 0) {
    throw new CheckFailedError(
      `Snapshots need qcow2 disks; ${
        notQcow2.map((d) => `"${showDisk(vmDir, d)}" is ${infos.get(d)?.format}`).join(", ")
      }`,
    );
  }
  const has = (d: string) => (infos.get(d)?.snapshots ?? []).some((s) => s.name === snap);
  const withIt = disks.filter(has);
  const list = (ds: string[]) => ds.map((d) => `"${showDisk(vmDir, d)}"`).join(", ");
  if (op === "create") {
    checkSnapshotName(snap);
    if (withIt.length > 0) {
      throw new CheckFailedError(
        `Snapshot "${snap}" of VM "${name}" exists (${list(withIt)}); ` +
          `delete it first with "vm snapshot ${name} delete ${snap}" or choose another name`,
      );
    }
    const done: string[] = [];
    try {
      for (const d of disks) {
        await snapshotImage("create", d, snap);
        done.push(d);
      }
    } catch (e) {
      for (const d of done) await snapshotImage("delete", d, snap).catch(() => {});
      throw e;
    }
    return done;
  }
  if (withIt.length === 0) {
    throw new CheckFailedError(
      `VM "${name}" has no snapshot "${snap}"; "vm snapshot ${name} list" shows them`,
    );
  }
  if (op === "apply" && withIt.length < disks.length) {
    const missing = disks.filter((d) => !has(d));
    throw new CheckFailedError(
      `Snapshot "${snap}" is missing on ${list(missing)}; applying it to only some disks ` +
        `would mix two states, nothing was changed`,
    );
  }
  for (const d of withIt) await snapshotImage(op, d, snap);
  return withIt;
}

/** The `vm snapshot list --json` objects: name, date_s (Unix time), disks as shown. Pure. */
export function snapshotsJson(rows: readonly SnapshotRow[], vmDir: string): object[] {
  return rows.map((r) => ({
    name: r.name,
    date_s: r.date,
    disks: r.disks.map((d) => showDisk(vmDir, d)),
  }));
}

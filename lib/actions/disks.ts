/**
 * A VM's disks: the local file drives its templates name (see drives.ts),
 * read with the VM's environment but without running its hooks; resizing
 * one and internal snapshots of all of them through `qemu-img`. Sizes in
 * qemu-img's syntax and as people read them.
 * Reads `<vm>/templates/*`; runs `qemu-img` on the disks.
 * @module
 */

import { relative } from "../os/path.ts";
import type { Config } from "../vm/config.ts";
import { diskPaths } from "../qemu/drives.ts";
import { CheckFailedError, UsageError } from "../errors.ts";
import {
  type ImageInfo,
  imageInfo,
  resizeImage,
  snapshotImage,
  type SnapshotOp,
} from "../qemu/img.ts";
import { vmEnv } from "../service/run.ts";
import { readTemplates } from "../vm/templates.ts";

/**
 * Absolute paths of the disks of the VM in `vmDir`, in template order.
 * Throws ParseError for a template that cannot be parsed.
 */
export function vmDisks(cfg: Config, vmDir: string): string[] {
  const args = readTemplates(vmDir, vmEnv(cfg, vmDir)).flatMap((t) => t.args);
  return diskPaths(vmDir, args);
}

/** How a disk is shown: relative to the VM directory when inside it, else absolute. Pure. */
export function showDisk(vmDir: string, path: string): string {
  const rel = relative(vmDir, path);
  return rel.startsWith("..") || rel === "" ? path : rel;
}

/** Whether `path` lies inside directory `dir` (both absolute, normalized). Pure. */
export function isInside(dir: string, path: string): boolean {
  return path.startsWith(dir.endsWith("/") ? dir : dir + "/");
}

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  B: 1,
  k: 2 ** 10,
  K: 2 ** 10,
  M: 2 ** 20,
  G: 2 ** 30,
  T: 2 ** 40,
  P: 2 ** 50,
  E: 2 ** 60,
};

/** Bytes of a size in qemu-img's syntax (`20G`, `512M`, `1.5T`), or undefined when it is not one. Pure. */
export function sizeBytes(text: string): number | undefined {
  const m = /^([0-9]+(?:\.[0-9]+)?)([bBkKMGTPE]?)$/.exec(text);
  if (m === null) return undefined;
  return Math.round(Number(m[1]) * (UNITS[m[2] ?? ""] ?? 1));
}

/** A new size for `vm disk resize`: `+SIZE` grows, `SIZE` sets. */
export interface NewSize {
  grow: boolean;
  bytes: number;
  /** As given (passed on to qemu-img). */
  text: string;
}

/** Parses `+SIZE` or `SIZE`; throws UsageError otherwise. Pure. */
export function parseNewSize(text: string): NewSize {
  const grow = text.startsWith("+");
  const bytes = sizeBytes(grow ? text.slice(1) : text);
  if (bytes === undefined || (grow && bytes === 0)) {
    throw new UsageError(
      `Size "${text}" is not a size; write "+10G" to grow by 10 GiB, or "40G" for the new size`,
    );
  }
  return { grow, bytes, text };
}

/** Bytes as people read them: `512 B`, `16 MiB`, `1.2 GiB`. Pure. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const shown = i === 0 || v >= 10 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1);
  return `${shown} ${units[i]}`;
}

/**
 * The disk `vm disk` works on: the one given by `want` (a path as in the
 * templates, relative to the VM directory, or absolute), else the only disk.
 * Throws UsageError naming the disks when `want` is none of them or several
 * exist without `want`, CheckFailedError when there is none. Pure.
 */
export function chooseDisk(
  name: string,
  vmDir: string,
  disks: readonly string[],
  want?: string,
): string {
  const shown = disks.map((d) => `"${showDisk(vmDir, d)}"`).join(", ");
  if (disks.length === 0) {
    throw new CheckFailedError(`VM "${name}" has no disk in its templates (no "-drive file=…")`);
  }
  if (want === undefined) {
    if (disks.length === 1) return disks[0] ?? "";
    throw new UsageError(`VM "${name}" has several disks (${shown}); choose one with --drive`);
  }
  const found = disks.find((d) => d === want || showDisk(vmDir, d) === want.replace(/^\.\//, ""));
  if (found === undefined) {
    throw new UsageError(`"${want}" is not a disk of VM "${name}"; its disks: ${shown}`);
  }
  return found;
}

/** What `vm disk resize` did. */
export interface ResizeResult {
  path: string;
  before: number;
  after: number;
}

/**
 * Resizes disk `path` to `size` with qemu-img. A size below the current one
 * needs `shrink` (data past it is lost); refused with UsageError otherwise.
 * The caller has checked the VM is stopped. Runs qemu-img on `path`.
 */
export async function resizeDisk(
  path: string,
  size: NewSize,
  shrink: boolean,
): Promise<ResizeResult> {
  const info = await imageInfo(path);
  const before = info["virtual-size"];
  const target = size.grow ? before + size.bytes : size.bytes;
  if (target < before && !shrink) {
    throw new UsageError(
      `"${size.text}" is smaller than the disk's ${formatBytes(before)}; data past it would ` +
        `be lost: shrink the file systems first, then add --shrink`,
    );
  }
  await resizeImage(path, info.format, size.text, target < before);
  return { path, before, after: (await imageInfo(path))["virtual-size"] };
}

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

function two(n: number): string {
  return String(n).padStart(2, "0");
}

/** A Unix time as local `YYYY-MM-DD HH:MM:SS`. Pure (given the time zone). */
export function formatDate(unix: number): string {
  const d = new Date(unix * 1000);
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** The `vm snapshot list` table (NAME, CREATED, DISKS); "" when there is none. Pure. */
export function formatSnapshots(rows: readonly SnapshotRow[], vmDir: string): string {
  if (rows.length === 0) return "";
  const table = [
    ["NAME", "CREATED", "DISKS"],
    ...rows.map((
      r,
    ) => [r.name, formatDate(r.date), r.disks.map((d) => showDisk(vmDir, d)).join(" ")]),
  ];
  const w0 = Math.max(...table.map((r) => (r[0] ?? "").length));
  const w1 = Math.max(...table.map((r) => (r[1] ?? "").length));
  return table.map((r) => `${(r[0] ?? "").padEnd(w0)}  ${(r[1] ?? "").padEnd(w1)}  ${r[2]}`)
    .join("\n");
}

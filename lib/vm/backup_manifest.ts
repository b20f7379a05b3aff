/**
 * What one backup of `vm backup` is, and the chains they form: the manifest
 * (`backup.json`: time, kind, disks, the dirty bitmap it left on the
 * VM's disks), backup ids, the file of each disk, the bitmap names, the
 * chain of a backup down to its full one, and the plan of `vm backup prune`
 * (which backups go and which successor takes over their data). Pure.
 * @module
 */

/** The manifest's format version. */
export const MANIFEST_VERSION = 1;

/** Bitmaps `vm backup` puts on a VM's qcow2 disks start with this. */
export const BITMAP_PREFIX = "vm-backup-";

/** One disk of a backup. */
export interface BackupDisk {
  /** The disk as the VM names it: relative to the VM directory, or absolute outside it. */
  name: string;
  /** Its qcow2 file in the backup's directory (`disk-0.qcow2`). */
  file: string;
  /** The VM disk's format (`qcow2`, `raw`): what a restore writes back. */
  format: string;
  /** The disk's virtual size, bytes. */
  size: number;
  /** Bytes of the backup's file (what this backup added). */
  bytes: number;
}

/** A backup's manifest. */
export interface Manifest {
  version: number;
  /** Its id: its directory's name (`20261206-093012`). */
  id: string;
  vm: string;
  /** Unix time (seconds) of the backup point. */
  time: number;
  kind: "full" | "incremental";
  /** The backup an incremental one is backed by (each disk's file by the same disk's). */
  parent?: string;
  /** Taken from the running VM (QMP block jobs) or from its image files. */
  live: boolean;
  /** Whether the guest's file systems were frozen (guest agent) at the backup point. */
  frozen: boolean;
  disks: BackupDisk[];
  /** The VM's files saved in `config/` (relative paths). */
  config: string[];
  /** The dirty bitmap this backup started on the VM's qcow2 disks (undefined: none). */
  bitmap?: string;
}

/** The shape of a backup id: UTC date and time, an optional `-N` when two fall in one second. */
const ID = /^[0-9]{8}-[0-9]{6}(-[0-9]{1,3})?$/;

/** Whether `name` is a backup id (a backup's directory name). Pure. */
export function isBackupId(name: string): boolean {
  return ID.test(name);
}

/** A new backup id for time `ms` (Unix ms), not among `taken`. Pure. */
export function newBackupId(ms: number, taken: readonly string[]): string {
  const base = new Date(ms).toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  if (!taken.includes(base)) return base;
  for (let n = 2;; n++) {
    const id = `${base}-${n}`;
    if (!taken.includes(id)) return id;
  }
}

/** The bitmap a backup `id` starts on the disks. Pure. */
export function bitmapName(id: string): string {
  return BITMAP_PREFIX + id;
}

/** The file of the `i`th disk in a backup's directory. Pure. */
export function diskFile(i: number): string {
  return `disk-${i}.qcow2`;
}

/** A manifest's check failed: `what`. */
function bad(what: string): never {
  throw new SyntaxError(`manifest: ${what}`);
}

const str = (v: unknown): v is string => typeof v === "string";
const num = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;

/**
 * The manifest in `text`, checked field by field (a backup directory may be
 * someone else's file); throws SyntaxError naming what is wrong. Pure.
 */
export function parseManifest(text: string): Manifest {
  const o = JSON.parse(text) as Record<string, unknown>;
  if (typeof o !== "object" || o === null) bad("not an object");
  if (o.version !== MANIFEST_VERSION) bad(`version ${String(o.version)}`);
  if (!str(o.id) || !isBackupId(o.id)) bad("id");
  if (!str(o.vm) || !num(o.time)) bad("vm or time");
  if (o.kind !== "full" && o.kind !== "incremental") bad("kind");
  if (o.kind === "incremental" && (!str(o.parent) || !isBackupId(o.parent))) bad("parent");
  if (o.kind === "full" && o.parent !== undefined) bad("parent of a full backup");
  if (typeof o.live !== "boolean" || typeof o.frozen !== "boolean") bad("live or frozen");
  if (o.bitmap !== undefined && !str(o.bitmap)) bad("bitmap");
  if (!Array.isArray(o.disks) || o.disks.length === 0) bad("disks");
  for (const d of o.disks as Record<string, unknown>[]) {
    if (typeof d !== "object" || d === null) bad("disk");
    if (!str(d.name) || !str(d.file) || !/^disk-[0-9]+\.qcow2$/.test(d.file)) bad("disk name");
    if (!str(d.format) || !num(d.size) || !num(d.bytes)) bad("disk format or size");
  }
  if (!Array.isArray(o.config) || !o.config.every(str)) bad("config");
  for (const c of o.config as string[]) {
    if (c.startsWith("/") || c.split("/").includes("..")) bad(`config file "${c}"`);
  }
  return o as unknown as Manifest;
}

/** Backups ordered oldest first (by time, then id). Pure. */
export function byAge(backups: readonly Manifest[]): Manifest[] {
  return [...backups].sort((a, b) => a.time - b.time || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * The chain backup `id` restores from: itself, its parent, …, down to its
 * full backup (newest first). Throws SyntaxError naming the missing link
 * when a parent is not among `backups` or the chain loops. Pure.
 */
export function chainOf(backups: readonly Manifest[], id: string): Manifest[] {
  const byId = new Map(backups.map((b) => [b.id, b]));
  const out: Manifest[] = [];
  for (let at: string | undefined = id; at !== undefined;) {
    const b = byId.get(at);
    if (b === undefined) {
      throw new SyntaxError(
        out.length === 0 ? `no backup "${at}"` : `backup "${out.at(-1)?.id}" needs "${at}"`,
      );
    }
    if (out.includes(b)) throw new SyntaxError(`backup "${at}" is in a loop of parents`);
    out.push(b);
    at = b.parent;
  }
  return out;
}

/**
 * Whether backup `next` can be incremental on top of `last`: same disks (by
 * name, size and format), every one qcow2, and `last` left a bitmap. Gives
 * the reason when not (for the one line saying the backup is full). Pure.
 */
export function incrementalBlocker(
  last: Manifest | undefined,
  disks: readonly Pick<BackupDisk, "name" | "size" | "format">[],
): string | undefined {
  if (last === undefined) return "the first backup";
  if (last.bitmap === undefined) return `backup ${last.id} left no bitmap on the disks`;
  const raw = disks.find((d) => d.format !== "qcow2");
  if (raw !== undefined) {
    return `disk "${raw.name}" is ${raw.format}, which holds no dirty bitmap: every backup is full`;
  }
  const same = last.disks.length === disks.length &&
    disks.every((d, i) => last.disks[i]?.name === d.name && last.disks[i]?.size === d.size);
  if (!same) return `the disks changed since backup ${last.id}`;
  return undefined;
}

/** One step of a prune: backup `remove` goes; its successors take its data in. */
export interface PruneStep {
  remove: string;
  /** The backups backed by `remove`, each rebased onto `newParent` (its data merged in). */
  successors: string[];
  /** The successors' new parent: `remove`'s own (undefined: they become full). */
  newParent?: string;
}

/**
 * What `vm backup prune --keep N` does with `backups`: every one but the
 * newest `keep` goes, oldest first; a backup's successor (the one backed by
 * it) is rebased onto its parent first, so every kept backup still restores
 * exactly. Pure.
 */
export function prunePlan(backups: readonly Manifest[], keep: number): PruneStep[] {
  const sorted = byAge(backups);
  const goes = sorted.slice(0, Math.max(0, sorted.length - keep));
  const parent = new Map(sorted.map((b) => [b.id, b.parent]));
  const steps: PruneStep[] = [];
  for (const b of goes) {
    const successors = sorted.filter((s) => parent.get(s.id) === b.id).map((s) => s.id);
    const step: PruneStep = { remove: b.id, successors };
    const p = parent.get(b.id);
    if (p !== undefined && successors.length > 0) step.newParent = p;
    for (const s of successors) parent.set(s, p);
    parent.delete(b.id);
    steps.push(step);
  }
  return steps;
}

/**
 * What the two ways of `vm backup` share (lib/actions/backup.ts,
 * backup_live.ts): its options and result, the disks as it sees them,
 * whether the next backup can be incremental (the last backup's bitmap on
 * every disk, sound, and its chain complete), and how a finished backup
 * enters the list (the VM's files, the manifest, private, one rename).
 * Reads the store; writes the backup's directory.
 * @module
 */

import { CheckFailedError, SystemError } from "../errors.ts";
import { BACKUP_FILES } from "../layout.ts";
import { join } from "../os/path.ts";
import { exists, makePrivate } from "../os/fs.ts";
import type { Config } from "../vm/config.ts";
import { diskFile, incrementalBlocker, type Manifest } from "../vm/backup_manifest.ts";
import { chainProblem, saveConfig, writeManifest } from "../vm/backup_store.ts";

/** How `vm backup` runs. */
export interface BackupOptions {
  /** A full backup even when an incremental one could be made. */
  full?: boolean;
  /** The store's parent directory (`--to DIR`); default `$VMDIR/.backups`. */
  to?: string;
  /** Bytes done and to do, as the jobs go. */
  onProgress?: (done: number, total: number) => void;
  /** Aborted: the backup is cancelled, nothing is kept. */
  signal?: AbortSignal;
}

/** What `vm backup` made. */
export interface BackupResult {
  manifest: Manifest;
  /** Its directory. */
  dir: string;
  /** Lines to show: why the backup is full, leftovers removed, the freeze. */
  notes: string[];
}

/** The backup was cancelled (Ctrl-C): nothing kept. */
export class BackupCancelled extends CheckFailedError {}

/** One disk as the backup sees it. */
export interface Disk {
  path: string;
  name: string;
  format: string;
  size: number;
  /** Its bitmaps (name → sound). */
  bitmaps: Map<string, boolean>;
  /** The running QEMU's format node. */
  node?: string;
}

/** The end of every failure: what the user can count on. */
export const NOTHING_KEPT = "nothing was kept and the last backup stays the base of the next one";

/** Why the next backup of `disks` cannot be incremental on `last` (undefined: it can). */
export function blocker(
  backups: readonly Manifest[],
  last: Manifest | undefined,
  disks: readonly Disk[],
  store: string,
): string | undefined {
  const why = incrementalBlocker(last, disks);
  if (why !== undefined || last === undefined || last.bitmap === undefined) return why;
  for (const d of disks) {
    const sound = d.bitmaps.get(last.bitmap);
    if (sound === undefined) {
      return `the bitmap of backup ${last.id} is gone from disk "${d.name}" ` +
        `(disk replaced or edited, or a backup to another store since)`;
    }
    if (!sound) {
      return `the bitmap of backup ${last.id} on disk "${d.name}" is inconsistent ` +
        `(QEMU did not close the disk cleanly)`;
    }
  }
  const broken = chainProblem(store, backups, last.id);
  if (broken !== undefined) return `the chain of backup ${last.id} is broken: ${broken}`;
  return undefined;
}

/** The manifest's disk entries, with the bytes of the files made in `dir`. */
export function manifestDisks(disks: readonly Disk[], dir: string): Manifest["disks"] {
  return disks.map((d, i) => ({
    name: d.name,
    file: diskFile(i),
    format: d.format,
    size: d.size,
    bytes: Deno.statSync(join(dir, diskFile(i))).size,
  }));
}

/** Puts the backup assembled in `partial` into the list: config, manifest, private, rename. */
export function commit(
  vmDir: string,
  paths: readonly string[],
  partial: string,
  final: string,
  m: Omit<Manifest, "config">,
): Manifest {
  const config = saveConfig(vmDir, paths, join(partial, BACKUP_FILES.config));
  const manifest: Manifest = { ...m, config };
  writeManifest(partial, manifest);
  makePrivate(partial);
  if (exists(final)) throw new SystemError(`"${final}" appeared meanwhile; ${NOTHING_KEPT}`);
  Deno.renameSync(partial, final);
  return manifest;
}

/** One backup being made. */
export interface Work {
  cfg: Config;
  name: string;
  vmDir: string;
  paths: string[];
  store: string;
  partial: string;
  id: string;
  backups: Manifest[];
  last: Manifest | undefined;
  notes: string[];
  opts: BackupOptions;
}

/** The line saying the backup is full, and why, when it could have been incremental. */
export function fullNote(why: string | undefined, last: Manifest | undefined): string | undefined {
  if (why === undefined || last === undefined) return undefined;
  return `full backup: ${why}`;
}

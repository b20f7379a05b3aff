/**
 * `vm backup`: a backup of every disk of a VM into its store
 * (lib/vm/backup_store.ts). Running: QMP block jobs on the live disks
 * (lib/qemu/block_backup.ts), started in one transaction with a new
 * persistent dirty bitmap per qcow2 disk, the guest's file systems frozen
 * for that moment when its agent answers (always thawed); incremental
 * (`sync=bitmap` with the last backup's bitmap, the target backed by the
 * last backup's file) when the last backup's bitmap is there and sound,
 * else full with one line saying why. Stopped: the same jobs on the disks
 * opened by qemu-storage-daemon (lib/actions/backup_daemon.ts), incremental
 * too; without that program, a full backup from the image files (`qemu-img
 * convert`), the bitmap started on the closed disks.
 * Raw disks hold no bitmap: their backups are always full. The old bitmaps
 * go only once the new backup is in the list; a failed or cancelled backup
 * removes what it made, and the last backup's bitmap stays, so the next one
 * is still exact. Reads the VM, writes its store and its disks' bitmaps.
 * @module
 */

import { CheckFailedError } from "../errors.ts";
import { join } from "../os/path.ts";
import { exists, makeDir, MODE, removeTree } from "../os/fs.ts";
import type { Config } from "../vm/config.ts";
import { disksOf, showDisk } from "../vm/disk_paths.ts";
import { inspectVm, type Vm } from "../vm/inspect.ts";
import {
  BITMAP_PREFIX,
  bitmapName,
  diskFile,
  type Manifest,
  MANIFEST_VERSION,
  newBackupId,
} from "../vm/backup_manifest.ts";
import {
  backupDir,
  backupStore,
  listBackups,
  makeStore,
  partialDir,
  withBackupLock,
} from "../vm/backup_store.ts";
import { bitmapsOf, imageBitmap, imageInfo, QemuImgFailed, qemuImgProgress } from "../qemu/img.ts";
import { checkStopped, running } from "../qemu/processes.ts";
import {
  endStrayDaemons,
  STORAGE_DAEMON,
  STORAGE_DAEMON_PACKAGE,
  storageDaemonPath,
} from "../qemu/storage_daemon.ts";
import { removeLeftover, storeLeftovers } from "../images/leftovers.ts";
import {
  BackupCancelled,
  type BackupOptions,
  type BackupResult,
  commit,
  type Disk,
  manifestDisks,
  NOTHING_KEPT,
  type Work,
} from "./backup_work.ts";
import { liveBackup } from "./backup_live.ts";
import { daemonBackup } from "./backup_daemon.ts";

export { BackupCancelled, type BackupOptions, type BackupResult };

/** Removes the half-made backups in `store` whose writer is gone; returns how many. */
function cleanStore(store: string): number {
  let n = 0;
  for (const l of storeLeftovers(store, false)) {
    if (!l.running && removeLeftover(l)) n++;
  }
  return n;
}

/**
 * Backs up every disk of VM `name` (running: live; stopped: from its
 * files) into its store. Throws CheckFailedError when the VM has no disk or
 * is starting or stopping, BackupCancelled when `opts.signal` aborted, and
 * SystemError naming QEMU's or qemu-img's error when a job fails (target
 * full, VM stopped meanwhile); nothing is left of a failed backup.
 */
export function backupVm(
  cfg: Config,
  name: string,
  opts: BackupOptions = {},
): Promise<BackupResult> {
  const vm = inspectVm(cfg.vmdir, name);
  return withBackupLock(cfg.vmdir, name, () => backupLocked(cfg, name, vm, opts));
}

/** {@link backupVm}, its lock held. */
async function backupLocked(
  cfg: Config,
  name: string,
  vm: Vm,
  opts: BackupOptions,
): Promise<BackupResult> {
  const paths = disksOf(cfg, vm);
  if (paths.length === 0) {
    throw new CheckFailedError(`VM "${name}" has no disk in its templates (no "-drive file=…")`);
  }
  const store = backupStore(cfg.vmdir, name, opts.to);
  makeStore(store);
  const notes: string[] = [];
  const cleaned = cleanStore(store);
  if (cleaned > 0) notes.push(`removed ${cleaned} unfinished backup(s) of a "vm backup" gone`);
  const { backups, broken } = listBackups(store);
  const last = backups.at(-1);
  const id = newBackupId(Date.now(), [...backups.map((b) => b.id), ...broken.keys()]);
  const r = running(vm.dir);
  if (r !== undefined && !(r.how === "runsv" && r.state === "run")) {
    throw new CheckFailedError(
      `VM "${name}" is starting or stopping (or runs without runsv); try again when it runs ` +
        `or is stopped`,
    );
  }
  const live = r !== undefined;
  const partial = partialDir(store, name);
  if (exists(partial)) removeTree(partial);
  const args = { cfg, name, vmDir: vm.dir, paths, store, partial, id, backups, last, notes, opts };
  return live ? await liveBackup(args) : await stoppedBackup(args);
}

/** The disks of stopped VM `w` as their files tell. */
async function stoppedDisks(w: Work): Promise<Disk[]> {
  const disks: Disk[] = [];
  for (const path of w.paths) {
    const info = await imageInfo(path);
    disks.push({
      path,
      name: showDisk(w.vmDir, path),
      format: info.format,
      size: info["virtual-size"],
      bitmaps: new Map(bitmapsOf(info).map((b) => [b.name, !b.flags.includes("in-use")])),
    });
  }
  return disks;
}

/** Copies `disks` into the backup's directory (`qemu-img convert` to qcow2), with progress. */
async function copyDisks(w: Work, disks: readonly Disk[]): Promise<void> {
  const cancelled = () =>
    new BackupCancelled(`Backup of VM "${w.name}" cancelled; ${NOTHING_KEPT}`);
  const total = disks.reduce((n, d) => n + d.size, 0);
  let before = 0;
  for (const [i, d] of disks.entries()) {
    const file = join(w.partial, diskFile(i));
    const args = ["convert", "-p", "-f", d.format, "-O", "qcow2", d.path, file];
    const report = (pct: number) => w.opts.onProgress?.(before + (pct / 100) * d.size, total);
    try {
      await qemuImgProgress(args, report, w.opts.signal);
    } catch (e) {
      throw w.opts.signal?.aborted ? cancelled() : e;
    }
    Deno.chmodSync(file, MODE.file);
    before += d.size;
  }
  if (w.opts.signal?.aborted) throw cancelled();
}

/**
 * The backup of a stopped VM: through qemu-storage-daemon (lib/actions/backup_daemon.ts) when
 * it is installed, else from its image files by `qemu-img convert`: then always full; when every
 * disk is qcow2, the new bitmap is started on the closed disks (the older
 * ones removed once the backup is listed).
 */
async function stoppedBackup(w: Work): Promise<BackupResult> {
  checkStopped(w.name, w.vmDir, "back it up from its files");
  // A daemon of a killed "vm backup" holds the disks' locks.
  const stray = await endStrayDaemons(w.vmDir);
  if (stray > 0) w.notes.push(`ended ${stray} ${STORAGE_DAEMON} of a "vm backup" gone`);
  const disks = await stoppedDisks(w);
  const daemon = storageDaemonPath();
  if (daemon !== undefined) return await daemonBackup(w, daemon, disks);
  if (!w.opts.full && w.last !== undefined) {
    w.notes.push(
      `full backup: the VM is stopped and ${STORAGE_DAEMON} is not installed (package ` +
        `${STORAGE_DAEMON_PACKAGE}): without it, only a running VM's backups are incremental`,
    );
  }
  const newBitmap = bitmapName(w.id);
  const time = Date.now() / 1000;
  const tracked = disks.every((d) => d.format === "qcow2");
  let added = false;
  // Bitmaps of backups not in the list are of no use; one qemu-img cannot remove stays.
  for (const d of disks) {
    for (const b of d.bitmaps.keys()) {
      if (b.startsWith(BITMAP_PREFIX) && b !== w.last?.bitmap) {
        await imageBitmap("remove", d.path, b).catch((e) => {
          if (!(e instanceof QemuImgFailed)) throw e;
        });
      }
    }
  }
  try {
    makeDir(w.partial);
    await copyDisks(w, disks);
    checkStopped(w.name, w.vmDir, "back it up from its files (it started meanwhile)");
    const m: Omit<Manifest, "config"> = {
      version: MANIFEST_VERSION,
      id: w.id,
      vm: w.name,
      time,
      kind: "full",
      live: false,
      frozen: false,
      disks: manifestDisks(disks, w.partial),
    };
    if (tracked) {
      for (const d of disks) await imageBitmap("add", d.path, newBitmap);
      added = true;
      m.bitmap = newBitmap;
    }
    const manifest = commit(w.vmDir, w.paths, w.partial, backupDir(w.store, w.id), m);
    const old = w.last?.bitmap;
    if (old !== undefined && old !== newBitmap && tracked) {
      for (const d of disks) {
        if (d.bitmaps.has(old)) await imageBitmap("remove", d.path, old);
      }
    }
    return { manifest, dir: backupDir(w.store, w.id), notes: w.notes };
  } catch (e) {
    removeTree(w.partial);
    if (added) {
      for (const d of disks) await imageBitmap("remove", d.path, newBitmap).catch(() => {});
    }
    throw e;
  }
}

/** `12 MiB` of backup `m` (its files' bytes). Pure. */
export function backupBytes(m: Manifest): number {
  return m.disks.reduce((n, d) => n + d.bytes, 0);
}

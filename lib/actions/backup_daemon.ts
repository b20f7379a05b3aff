/**
 * The backup of a stopped VM through `qemu-storage-daemon`
 * (lib/qemu/storage_daemon.ts): its disks opened by the daemon, then the
 * same QMP jobs as a live backup (lib/qemu/block_backup.ts: one
 * transaction with the new persistent bitmap, `sync=bitmap` on the last
 * backup's when it can be), so a stopped VM's backups are incremental too
 * and its bitmaps stay those a running QEMU would keep. The daemon quits
 * (writing the bitmaps) before the backup enters the list; it is ended on
 * every path. Starts the daemon; writes the backup's directory and the
 * disks' bitmaps.
 * @module
 */

import { SystemError } from "../errors.ts";
import {
  BITMAP_PREFIX,
  bitmapName,
  type Manifest,
  MANIFEST_VERSION,
} from "../vm/backup_manifest.ts";
import { backupDir } from "../vm/backup_store.ts";
import { imageBitmap, QemuImgFailed } from "../qemu/img.ts";
import {
  dismissJobs,
  onConnection,
  removeBitmap,
  removeTarget,
  startJobs,
  waitJobs,
} from "../qemu/block_backup.ts";
import { StorageDaemon } from "../qemu/storage_daemon.ts";
import { removeTree } from "../os/fs.ts";
import {
  BackupCancelled,
  type BackupResult,
  blocker,
  commit,
  type Disk,
  fullNote,
  manifestDisks,
  NOTHING_KEPT,
  type Work,
} from "./backup_work.ts";
import { addTargets, type Made, undoLive } from "./backup_live.ts";

/** The daemon's node name of disk `i`. Pure. */
export function daemonNode(i: number): string {
  return `vmdisk${i}`;
}

/**
 * Backs up stopped VM `w`'s `disks` (as their files tell: lib/actions/backup.ts)
 * through qemu-storage-daemon `program`: incremental on the last backup's
 * bitmap when it can be, else full with one line saying why.
 */
export async function daemonBackup(
  w: Work,
  program: string,
  disks: readonly Disk[],
): Promise<BackupResult> {
  const mine = disks.map((d, i) => ({ ...d, node: daemonNode(i) }));
  const why = w.opts.full ? "--full" : blocker(w.backups, w.last, mine, w.store);
  const since = why === undefined ? w.last?.bitmap : undefined;
  const note = w.opts.full ? undefined : fullNote(why, w.last);
  if (note !== undefined) w.notes.push(note);
  const made: Made = { targets: [], jobs: [], started: false, disks: mine };
  const cancelled = () =>
    new BackupCancelled(`Backup of VM "${w.name}" cancelled; ${NOTHING_KEPT}`);
  const daemon = await StorageDaemon.start(
    program,
    w.vmDir,
    mine.map((d) => ({ path: d.path, format: d.format, node: d.node })),
  ).catch((e) => {
    if (!(e instanceof SystemError)) throw e;
    throw new SystemError(`Backup of VM "${w.name}" failed: ${e.message}; ${NOTHING_KEPT}`);
  });
  const session = onConnection(daemon.qmp);
  let quit = false;
  try {
    const time = Date.now() / 1000;
    // Bitmaps of backups not in the list (failed, killed, another store's) are of no use.
    for (const d of mine) {
      for (const b of d.bitmaps.keys()) {
        if (b.startsWith(BITMAP_PREFIX) && b !== w.last?.bitmap) {
          await removeBitmap(daemon.qmp, d.node, b);
        }
      }
    }
    if (mine.every((d) => d.format === "qcow2")) made.bitmap = bitmapName(w.id);
    await addTargets(daemon.qmp, w, mine, since, made.bitmap, made);
    await startJobs(daemon.qmp, made.jobs);
    made.started = true;
    const ids = made.jobs.map((j) => j.id);
    const errors = await waitJobs(session, ids, w.opts.onProgress, w.opts.signal);
    await dismissJobs(daemon.qmp, ids);
    for (const t of made.targets.splice(0)) await removeTarget(daemon.qmp, t);
    if (w.opts.signal?.aborted) throw cancelled();
    if (errors.length > 0) {
      throw new SystemError(`Backup of VM "${w.name}" failed: ${errors[0]}; ${NOTHING_KEPT}`);
    }
    // Closed before the backup is listed: its bitmap is then on the disks.
    quit = true;
    await daemon.quit();
    return await listed(w, mine, made, since, time);
  } catch (e) {
    removeTree(w.partial);
    const there = !quit && daemon.alive && await undoLive(session, made);
    await daemon.end();
    if (w.opts.signal?.aborted) throw cancelled();
    if (!there && !quit && e instanceof SystemError) {
      throw new SystemError(
        `Backup of VM "${w.name}" failed: its qemu-storage-daemon went away (killed?); ` +
          NOTHING_KEPT,
      );
    }
    throw e;
  }
}

/**
 * Puts the backup made by the jobs `made` of `disks` into the list (incremental on bitmap
 * `since`, or full), then removes the last backup's bitmap from the closed disks.
 */
async function listed(
  w: Work,
  disks: readonly Disk[],
  made: Made,
  since: string | undefined,
  time: number,
): Promise<BackupResult> {
  const m: Omit<Manifest, "config"> = {
    version: MANIFEST_VERSION,
    id: w.id,
    vm: w.name,
    time,
    kind: since !== undefined ? "incremental" : "full",
    live: false,
    frozen: false,
    disks: manifestDisks(disks, w.partial),
  };
  if (since !== undefined && w.last !== undefined) m.parent = w.last.id;
  if (made.bitmap !== undefined) m.bitmap = made.bitmap;
  const manifest = commit(w.vmDir, w.paths, w.partial, backupDir(w.store, w.id), m);
  // In the list now: the last backup's bitmap is of no use any more (best effort: a VM
  // started meanwhile holds the disks; the next backup removes it then).
  const old = w.last?.bitmap;
  if (old !== undefined && old !== made.bitmap) {
    for (const d of disks) {
      if (!d.bitmaps.has(old)) continue;
      await imageBitmap("remove", d.path, old).catch((e) => {
        if (!(e instanceof QemuImgFailed)) throw e;
      });
    }
  }
  return { manifest, dir: backupDir(w.store, w.id), notes: w.notes };
}

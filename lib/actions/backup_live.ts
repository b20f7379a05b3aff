/**
 * The live way of `vm backup` (lib/actions/backup.ts): a running VM's disks
 * through QMP block jobs (lib/qemu/block_backup.ts) started in one
 * transaction with a new persistent dirty bitmap per qcow2 disk, the guest
 * frozen for that moment when its agent answers (always thawed),
 * incremental on the last backup's bitmap when it can be; the older
 * bitmaps go once the backup is listed, and a failed or cancelled backup
 * takes back what it made in QEMU. Talks to the VM's QEMU and agent;
 * writes the backup's directory.
 * @module
 */

import { CheckFailedError, SystemError } from "../errors.ts";
import { F } from "../layout.ts";
import { join } from "../os/path.ts";
import { makeDir, MODE, removeTree } from "../os/fs.ts";
import { isAlive } from "../os/proc.ts";
import { showDisk } from "../vm/disk_paths.ts";
import {
  BITMAP_PREFIX,
  bitmapName,
  diskFile,
  type Manifest,
  MANIFEST_VERSION,
} from "../vm/backup_manifest.ts";
import { backingName, backupDir } from "../vm/backup_store.ts";
import { createImage } from "../qemu/img.ts";
import { QmpClient } from "../qemu/qmp.ts";
import { withFrozenGuest } from "../qemu/guest_freeze.ts";
import {
  addTarget,
  type BackupJob,
  blockNodes,
  cancelJobs,
  dismissJobs,
  jobId,
  onConnection,
  type QmpSession,
  removeBitmap,
  removeStale,
  removeTarget,
  startJobs,
  targetNode,
  waitJobs,
} from "../qemu/block_backup.ts";
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

/** The disks of running VM `w` as its QEMU has them open. */
async function liveDisks(qmp: QmpClient, w: Work): Promise<Disk[]> {
  const nodes = await blockNodes(qmp, w.vmDir);
  const disks: Disk[] = [];
  for (const path of w.paths) {
    const n = nodes.find((x) => x.file === path);
    if (n === undefined) {
      throw new CheckFailedError(
        `Disk "${showDisk(w.vmDir, path)}" of VM "${w.name}" is not open in its QEMU ` +
          `(changed templates since the start?); restart the VM to back it up`,
      );
    }
    disks.push({
      path,
      name: showDisk(w.vmDir, path),
      format: n.format,
      size: n.size,
      bitmaps: new Map(
        n.bitmaps.filter((b) => b.persistent).map((b) => [b.name, !b.inconsistent]),
      ),
      node: n.node,
    });
  }
  return disks;
}

/** What a backup has made in QEMU so far (for its undoing). */
export interface Made {
  targets: string[];
  jobs: BackupJob[];
  started: boolean;
  disks: Disk[];
  /** The bitmap the jobs' transaction starts (undefined: a raw disk, none). */
  bitmap?: string;
}

/**
 * Makes the target file of each disk (backed by the last backup's when
 * `since`, its bitmap, is given) and opens it in QEMU; returns the jobs.
 */
export async function addTargets(
  qmp: QmpClient,
  w: Work,
  disks: readonly Disk[],
  since: string | undefined,
  newBitmap: string | undefined,
  made: Made,
): Promise<void> {
  makeDir(w.partial);
  for (const [i, d] of disks.entries()) {
    const file = join(w.partial, diskFile(i));
    const parent = since !== undefined ? w.last?.id : undefined;
    const backing = parent === undefined ? undefined : backingName(w.store, parent, diskFile(i));
    await createImage(file, String(d.size), backing);
    Deno.chmodSync(file, MODE.file);
    const target = targetNode(i);
    await addTarget(qmp, target, file);
    made.targets.push(target);
    const job: BackupJob = { id: jobId(i), node: d.node ?? "", target };
    if (since !== undefined) job.since = since;
    if (newBitmap !== undefined) job.newBitmap = newBitmap;
    made.jobs.push(job);
  }
}

/** How long a look at the jobs waits for QEMU's monitor (`vm stop` may hold it meanwhile). */
const LOOK_MS = 30_000;

/** Sessions of one QMP connection each, on the VM's socket. */
function sessions(w: Work): QmpSession {
  return async (fn) => {
    const qmp = await QmpClient.connect(join(w.vmDir, F.qmp), { timeoutMs: LOOK_MS });
    try {
      return await fn(qmp);
    } finally {
      qmp.close();
    }
  };
}

/**
 * Sets the backup up in QEMU (stale leftovers ended, disks, targets, old
 * bitmaps) and starts its jobs, frozen; fills `made`. Returns the bitmap
 * the last backup left (the incremental's base, undefined: full) and
 * whether the guest was frozen.
 */
async function setUp(
  qmp: QmpClient,
  w: Work,
  made: Made,
): Promise<{ since: string | undefined; frozen: boolean }> {
  const stale = await removeStale(qmp, (pid) => isAlive(pid));
  if (stale > 0) w.notes.push(`ended ${stale} job(s) and target(s) of a "vm backup" gone`);
  made.disks = await liveDisks(qmp, w);
  const why = w.opts.full ? "--full" : blocker(w.backups, w.last, made.disks, w.store);
  const since = why === undefined ? w.last?.bitmap : undefined;
  const note = w.opts.full ? undefined : fullNote(why, w.last);
  if (note !== undefined) w.notes.push(note);
  // Bitmaps of backups not in the list (failed, killed, another store's) are of no use.
  for (const d of made.disks) {
    for (const b of d.bitmaps.keys()) {
      if (b.startsWith(BITMAP_PREFIX) && b !== w.last?.bitmap) {
        await removeBitmap(qmp, d.node ?? "", b);
      }
    }
  }
  // Raw disks hold no bitmap: then none at all (every backup is full).
  if (made.disks.every((d) => d.format === "qcow2")) made.bitmap = bitmapName(w.id);
  await addTargets(qmp, w, made.disks, since, made.bitmap, made);
  const { frozen, notes } = await withFrozenGuest(w.vmDir, w.name, async () => {
    await startJobs(qmp, made.jobs);
    made.started = true;
  });
  w.notes.push(...notes);
  return { since, frozen };
}

/**
 * The backup of a running VM through QMP: set up and started on one
 * connection, then a short connection per look at the jobs (QEMU serves
 * one monitor client at a time: `vm stop` gets in between), then the end.
 */
export async function liveBackup(w: Work): Promise<BackupResult> {
  const session = sessions(w);
  const made: Made = { targets: [], jobs: [], started: false, disks: [] };
  try {
    const time = Date.now() / 1000;
    const { since, frozen } = await session((qmp) => setUp(qmp, w, made));
    const ids = made.jobs.map((j) => j.id);
    const errors = await waitJobs(session, ids, w.opts.onProgress, w.opts.signal);
    await session(async (qmp) => {
      await dismissJobs(qmp, ids);
      for (const t of made.targets.splice(0)) await removeTarget(qmp, t);
    });
    if (w.opts.signal?.aborted) {
      throw new BackupCancelled(`Backup of VM "${w.name}" cancelled; ${NOTHING_KEPT}`);
    }
    if (errors.length > 0) {
      throw new SystemError(`Backup of VM "${w.name}" failed: ${errors[0]}; ${NOTHING_KEPT}`);
    }
    const m: Omit<Manifest, "config"> = {
      version: MANIFEST_VERSION,
      id: w.id,
      vm: w.name,
      time,
      kind: since !== undefined ? "incremental" : "full",
      live: true,
      frozen,
      disks: manifestDisks(made.disks, w.partial),
    };
    if (since !== undefined && w.last !== undefined) m.parent = w.last.id;
    if (made.bitmap !== undefined) m.bitmap = made.bitmap;
    const manifest = commit(w.vmDir, w.paths, w.partial, backupDir(w.store, w.id), m);
    // In the list now: the last backup's bitmap is of no use any more (the next backup
    // removes it when this fails: it is not the base of anything listed).
    const old = w.last?.bitmap;
    if (old !== undefined && old !== made.bitmap) {
      await session(async (qmp) => {
        for (const d of made.disks) await removeBitmap(qmp, d.node ?? "", old);
      }).catch((e) => {
        if (!(e instanceof SystemError)) throw e;
      });
    }
    return { manifest, dir: backupDir(w.store, w.id), notes: w.notes };
  } catch (e) {
    removeTree(w.partial);
    if (!await undoLive(session, made) && e instanceof SystemError) {
      throw new SystemError(
        `Backup of VM "${w.name}" failed: its QEMU went away (the VM stopped?); ${NOTHING_KEPT}`,
      );
    }
    throw e;
  }
}

/**
 * Undoes what a live backup made in QEMU (jobs, targets, its bitmap);
 * returns false when QEMU is gone (nothing is left there then).
 */
export async function undoLive(session: QmpSession, made: Made): Promise<boolean> {
  const ids = made.jobs.map((j) => j.id);
  try {
    await session(async (qmp) => {
      if (made.started) {
        await cancelJobs(qmp, ids);
        await waitJobs(onConnection(qmp), ids);
        await dismissJobs(qmp, ids);
        if (made.bitmap !== undefined) {
          for (const d of made.disks) await removeBitmap(qmp, d.node ?? "", made.bitmap);
        }
      }
      for (const t of made.targets) await removeTarget(qmp, t);
    });
    return true;
  } catch (e) {
    if (!(e instanceof SystemError)) throw e;
    return false;
  }
}

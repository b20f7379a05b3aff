/**
 * `vm restore` and `vm backup prune`: a backup of `vm backup`
 * (lib/actions/backup.ts) written back over a stopped VM's disks and files,
 * or into a new VM (`--as`: assembled in `$VMDIR/.restore-<new>-<pid>`,
 * down, private, fresh MAC addresses); and the pruning of old backups, each
 * removed backup's data merged into its successor first (`qemu-img rebase`
 * in safe mode, which copies what the successor lacks: every kept backup
 * restores the same disks as before). Reads the store; writes the VM's
 * disks (`<disk>.new`, renamed once all are written) or the new VM, and the
 * store.
 * @module
 */

import { CheckFailedError, UsageError } from "../errors.ts";
import { BACKUP_FILES, F } from "../layout.ts";
import { dirname, isAbsolute, join } from "../os/path.ts";
import {
  makeDir,
  MODE,
  NEW_SUFFIX,
  removeIfExists,
  removeTree,
  writeFileAtomic,
} from "../os/fs.ts";
import type { Config } from "../vm/config.ts";
import { freeVmPath, requireVm } from "../vm/dir.ts";
import { chainOf, type Manifest, prunePlan } from "../vm/backup_manifest.ts";
import {
  backingName,
  backupDir,
  backupStore,
  listBackups,
  saveConfig,
  withBackupLock,
  writeManifest,
} from "../vm/backup_store.ts";
import { qemuImg } from "../qemu/img.ts";
import { checkStopped } from "../qemu/processes.ts";
import { randomMac, replaceMacs } from "../vm/mac.ts";
import { readTemplateText, templateNames } from "../vm/templates.ts";
import { macsInVmdir } from "./clone.ts";

/** Backup `id` of VM `name` in `store` and the chain it needs, checked; throws CheckFailedError. */
function findBackup(store: string, name: string, id: string): Manifest {
  const { backups, broken } = listBackups(store);
  const why = broken.get(id);
  if (why !== undefined) {
    throw new CheckFailedError(`Backup ${id} of VM "${name}" is broken (${why}); choose another`);
  }
  try {
    const chain = chainOf(backups, id);
    return chain[0] as Manifest;
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    throw new CheckFailedError(
      `Cannot restore backup ${id} of VM "${name}": ${e.message}; ` +
        `"vm backup list ${name}" shows the backups`,
    );
  }
}

/** What a restore wrote. */
export interface RestoreResult {
  /** The VM restored (the new one for `--as`). */
  vm: string;
  dir: string;
  manifest: Manifest;
}

/** Converts backup disk file `src` (qcow2, its chain followed) to `dst` in `format`. */
async function writeDisk(src: string, dst: string, format: string): Promise<void> {
  makeDir(dirname(dst), MODE.dir, true);
  await qemuImg(["convert", "-f", "qcow2", "-O", format, src, dst]);
  Deno.chmodSync(dst, MODE.file);
}

/**
 * Restores backup `id` of VM `name` (from `to`'s store when given): over
 * the stopped VM's disks and files, or, with `as`, into a new VM of that
 * name (down, fresh MACs; its disks must lie in the VM directory). Throws
 * VmRunningError when the VM runs (in place), CheckFailedError for a
 * missing or broken backup, VmExistsError when `as` is taken.
 */
export function restoreBackup(
  cfg: Config,
  name: string,
  id: string,
  opts: { as?: string; to?: string } = {},
): Promise<RestoreResult> {
  return withBackupLock(cfg.vmdir, name, () => restoreLocked(cfg, name, id, opts));
}

/** {@link restoreBackup}, the backup lock held. */
async function restoreLocked(
  cfg: Config,
  name: string,
  id: string,
  opts: { as?: string; to?: string },
): Promise<RestoreResult> {
  const store = backupStore(cfg.vmdir, name, opts.to);
  const m = findBackup(store, name, id);
  const src = backupDir(store, id);
  if (opts.as !== undefined) return await restoreAs(cfg, m, src, opts.as);
  const dir = requireVm(cfg.vmdir, name);
  checkStopped(name, dir, "restore a backup over it");
  const written: [string, string][] = [];
  try {
    for (const d of m.disks) {
      const path = isAbsolute(d.name) ? d.name : join(dir, d.name);
      const tmp = path + NEW_SUFFIX;
      written.push([tmp, path]);
      await writeDisk(join(src, d.file), tmp, d.format);
    }
    checkStopped(name, dir, "restore a backup over it");
  } catch (e) {
    for (const [tmp] of written) removeIfExists(tmp);
    throw e;
  }
  for (const [tmp, path] of written) Deno.renameSync(tmp, path);
  // The VM's files as they were: regular files only (links are vm's own).
  for (const rel of m.config) {
    const from = join(src, BACKUP_FILES.config, rel);
    const st = Deno.lstatSync(from);
    if (!st.isFile) continue;
    makeDir(dirname(join(dir, rel)), MODE.dir, true);
    writeFileAtomic(join(dir, rel), Deno.readFileSync(from), ((st.mode ?? 0) & 0o700) | MODE.file);
  }
  return { vm: name, dir, manifest: m };
}

/** Restores backup `m` (in `src`) as the new VM `as`. */
async function restoreAs(
  cfg: Config,
  m: Manifest,
  src: string,
  as: string,
): Promise<RestoreResult> {
  const final = freeVmPath(cfg.vmdir, as);
  const outside = m.disks.find((d) => isAbsolute(d.name));
  if (outside !== undefined) {
    throw new CheckFailedError(
      `Disk "${outside.name}" of backup ${m.id} lies outside its VM directory; restore it ` +
        `in place ("vm restore ${m.vm} ${m.id}") instead of as a new VM`,
    );
  }
  const tmp = join(cfg.vmdir, `.restore-${as}-${Deno.pid}`);
  try {
    saveConfig(join(src, BACKUP_FILES.config), [], tmp);
    writeFileAtomic(join(tmp, F.down), "");
    for (const d of m.disks) {
      await writeDisk(join(src, d.file), join(tmp, d.name), d.format);
    }
    const avoid = macsInVmdir(cfg.vmdir);
    const macs = new Map<string, string>();
    for (const n of templateNames(join(tmp, F.templates))) {
      const text = readTemplateText(tmp, n) ?? "";
      const fresh = replaceMacs(text, macs, randomMac, avoid);
      if (fresh !== text) writeFileAtomic(join(tmp, F.templates, n), fresh);
    }
    freeVmPath(cfg.vmdir, as);
    Deno.renameSync(tmp, final);
  } catch (e) {
    removeTree(tmp);
    throw e;
  }
  return { vm: as, dir: final, manifest: m };
}

/** What a prune did. */
export interface PruneResult {
  removed: string[];
  /** Backups that took a removed one's data in. */
  merged: string[];
}

/**
 * Keeps the newest `keep` backups of VM `name` (in `to`'s store when given)
 * and removes the others, oldest first, each one's data merged into its
 * successor first. Throws UsageError for `keep` < 1.
 */
export function pruneBackups(
  cfg: Config,
  name: string,
  keep: number,
  to?: string,
): Promise<PruneResult> {
  if (!Number.isInteger(keep) || keep < 1) {
    throw new UsageError(`--keep must be a whole number of at least 1, not "${keep}"`);
  }
  return withBackupLock(cfg.vmdir, name, () => pruneLocked(cfg, name, keep, to));
}

/** {@link pruneBackups}, the backup lock held. */
async function pruneLocked(
  cfg: Config,
  name: string,
  keep: number,
  to: string | undefined,
): Promise<PruneResult> {
  const store = backupStore(cfg.vmdir, name, to);
  const { backups } = listBackups(store);
  const byId = new Map(backups.map((b) => [b.id, b]));
  const result: PruneResult = { removed: [], merged: [] };
  for (const step of prunePlan(backups, keep)) {
    for (const s of step.successors) {
      const m = byId.get(s);
      if (m === undefined) continue;
      for (const d of m.disks) {
        const file = join(backupDir(store, s), d.file);
        const backing = step.newParent === undefined
          ? ""
          : backingName(store, step.newParent, d.file);
        const base = backing === "" ? ["-b", ""] : ["-F", "qcow2", "-b", backing];
        await qemuImg(["rebase", "-q", "-f", "qcow2", ...base, file]);
        d.bytes = Deno.statSync(file).size;
      }
      if (step.newParent === undefined) {
        m.kind = "full";
        delete m.parent;
      } else m.parent = step.newParent;
      writeManifest(backupDir(store, s), m);
      result.merged.push(s);
    }
    // Out of the list at once (a rename), then its files.
    const gone = join(store, `.prune-${step.remove}-${Deno.pid}`);
    Deno.renameSync(backupDir(store, step.remove), gone);
    removeTree(gone);
    result.removed.push(step.remove);
  }
  return result;
}

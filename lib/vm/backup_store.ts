/**
 * Where `vm backup` keeps a VM's backups and how an entry appears: the store
 * `$VMDIR/.backups/<vm>/` (or `<DIR>/<vm>/` for `--to DIR`), one directory
 * per backup named by its id (lib/vm/backup_manifest.ts), assembled in
 * `.backup-<vm>-<pid>/` beside them (a leftover of lib/images/leftovers.ts
 * when its writer dies) and renamed into place with its manifest written
 * last, so the list never shows half a backup. Everything private (0700,
 * 0600) whatever the umask. Reads and writes the store.
 * @module
 */

import { BACKUP_FILES, BACKUPS_DIR } from "../layout.ts";
import { join, relative, resolve } from "../os/path.ts";
import { lstatIfExists, makeDir, MODE, readTextIfExists, writeFileAtomic } from "../os/fs.ts";
import { byAge, chainOf, isBackupId, type Manifest, parseManifest } from "./backup_manifest.ts";
import { skipInClone } from "./dir.ts";
import { F } from "../layout.ts";
import { CheckFailedError } from "../errors.ts";
import { withLock } from "./lock.ts";
import { checkName } from "./name.ts";

/**
 * The store of VM `vm`'s backups: `<to>/<vm>` (absolute), or
 * `$VMDIR/.backups/<vm>`. Throws InvalidNameError for a name no VM may
 * have (the VM itself need not exist any more). Pure.
 */
export function backupStore(vmdir: string, vm: string, to?: string): string {
  checkName(vm);
  return to === undefined ? join(vmdir, BACKUPS_DIR, vm) : join(resolve(to), vm);
}

/** The directory a backup is assembled in, in its store, by process `pid`. Pure. */
export function partialDir(store: string, vm: string, pid: number = Deno.pid): string {
  return join(store, `.backup-${vm}-${pid}`);
}

/** What a store holds. */
export interface StoreListing {
  /** The backups, oldest first. */
  backups: Manifest[];
  /** Entries named as backups whose manifest is missing or wrong: id → why. */
  broken: Map<string, string>;
}

/** The backups in `store` (none when it does not exist). Reads the store's manifests. */
export function listBackups(store: string): StoreListing {
  const backups: Manifest[] = [];
  const broken = new Map<string, string>();
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(store)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { backups, broken };
    throw e;
  }
  for (const e of entries) {
    if (!e.isDirectory || !isBackupId(e.name)) continue;
    const text = readTextIfExists(join(store, e.name, BACKUP_FILES.manifest));
    if (text === undefined) {
      broken.set(e.name, "no manifest");
      continue;
    }
    try {
      const m = parseManifest(text);
      if (m.id !== e.name) broken.set(e.name, `its manifest says "${m.id}"`);
      else backups.push(m);
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
      broken.set(e.name, err.message);
    }
  }
  return { backups: byAge(backups), broken };
}

/**
 * Runs `fn` holding VM `name`'s backup lock (`$VMDIR/.backups/<vm>/.lock`,
 * whatever the store: the VM's bitmaps are one for all its stores), so that
 * two `vm backup`, `prune` or `restore` of one VM never run at once; throws
 * CheckFailedError at once when another holds it. Makes the default store.
 */
export function withBackupLock<T>(
  vmdir: string,
  name: string,
  fn: () => Promise<T>,
): Promise<T> {
  const store = backupStore(vmdir, name);
  makeStore(store);
  const busy = () =>
    new CheckFailedError(
      `Another "vm backup", "prune" or "restore" of VM "${name}" runs; try again when it is done`,
    );
  return withLock(join(store, F.lock), busy, fn, 0);
}

/** Makes the store (and the directories above it that are missing), 0700. */
export function makeStore(store: string): void {
  makeDir(store, MODE.dir, true);
  Deno.chmodSync(store, MODE.dir);
}

/**
 * Copies the VM's files in `vmDir` but its disks (`disks`, absolute), runit's
 * run-time state, sockets and the lock into `dst` (created): templates,
 * wait, ports, hooks, the seed, SSH keys, firmware vars, TPM state… Files
 * 0600 (scripts keep their owner's x), directories 0700, symlinks as links.
 * Returns the files and links copied (relative paths). Reads `vmDir`.
 */
export function saveConfig(vmDir: string, disks: readonly string[], dst: string): string[] {
  const saved: string[] = [];
  const walk = (rel: string) => {
    for (const e of Deno.readDirSync(join(vmDir, rel))) {
      const r = rel === "" ? e.name : `${rel}/${e.name}`;
      const from = join(vmDir, r);
      if (skipInClone(r) || r === F.lock || disks.includes(from)) continue;
      const to = join(dst, r);
      if (e.isSymlink) Deno.symlinkSync(Deno.readLinkSync(from), to);
      else if (e.isDirectory) {
        makeDir(to);
        walk(r);
        continue;
      } else if (e.isFile) {
        Deno.copyFileSync(from, to);
        Deno.chmodSync(to, ((Deno.statSync(from).mode ?? 0) & 0o700) | MODE.file);
      } else continue; // sockets and FIFOs are run-time state
      saved.push(r);
    }
  };
  makeDir(dst);
  walk("");
  return saved.sort();
}

/** Writes `m` as the manifest of the backup assembled in `dir`. */
export function writeManifest(dir: string, m: Manifest): void {
  writeFileAtomic(join(dir, BACKUP_FILES.manifest), JSON.stringify(m, null, 2) + "\n");
}

/** The path of backup `id`'s directory in `store`. Pure. */
export function backupDir(store: string, id: string): string {
  return join(store, id);
}

/** The backing file name a disk file of backup `parent` has from one beside it. Pure. */
export function backingName(store: string, parent: string, file: string): string {
  // Both live in `store`: relative, so the store can move as a whole.
  return relative(join(store, "x"), join(store, parent, file));
}

/** Whether `path` is there (a file, a link, a directory). */
export function present(path: string): boolean {
  return lstatIfExists(path) !== undefined;
}

/**
 * Why backup `id` of `backups` (in `store`) cannot be restored: a backup of
 * its chain or a file of one is missing; undefined when it can. Reads the store.
 */
export function chainProblem(
  store: string,
  backups: readonly Manifest[],
  id: string,
): string | undefined {
  try {
    for (const b of chainOf(backups, id)) {
      for (const d of b.disks) {
        if (!present(join(store, b.id, d.file))) return `"${b.id}/${d.file}" is missing`;
      }
    }
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    return e.message;
  }
  return undefined;
}

/**
 * Locks around changes to VM files. Every read-modify-write of a VM's file
 * (`ports` and the `known_hosts` that follows it, `templates/once`, the
 * cloud-init seed) holds that VM's lock, so concurrent `vm` commands apply
 * their changes one after the other and none is lost; a change that must
 * be unique across VMs (a forwarded host port) also holds the VMDIR's lock,
 * always taken first. Each lock is an exclusive flock(2) on the file
 * `.lock` in the directory, made 0600 when missing (O_CREAT|O_EXCL: never
 * through a planted symlink) and left in place; it is
 * released when the work ends or its process dies. A lock another command
 * holds is waited for, at most {@link LOCK_WAIT_MS}.
 * Creates and locks `<dir>/.lock`, `$VMDIR/.lock`.
 * @module
 */

import { SystemError } from "../errors.ts";
import { createExclusive, isMissing, lstatIfExists, MODE } from "../os/fs.ts";
import { join } from "../os/path.ts";
import { sleep } from "../os/poll.ts";
import { F } from "../layout.ts";

/** How long a command waits for a lock another one holds, in milliseconds. */
export const LOCK_WAIT_MS = 30_000;

/** Opens the lock file `path`, making it when missing; refuses anything but a regular file. */
function openLockFile(path: string): Deno.FsFile {
  createExclusive(path, MODE.file)?.close();
  const st = lstatIfExists(path);
  const refuse = () =>
    new SystemError(
      `"${path}" is not a regular file (a planted symbolic link?); vm locks only its own ` +
        `lock file: remove it`,
    );
  if (st?.isFile !== true) throw refuse();
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (e) {
    if (isMissing(e)) throw new SystemError(`"${path}" was removed while being locked`);
    throw e;
  }
  if (file.statSync().ino !== st.ino) {
    file.close();
    throw refuse();
  }
  return file;
}

/**
 * Runs `fn` holding an exclusive flock on the lock file `path`; throws
 * `busy()` when another process holds it for longer than `waitMs`.
 */
export async function withLock<T>(
  path: string,
  busy: () => Error,
  fn: () => Promise<T> | T,
  waitMs = LOCK_WAIT_MS,
): Promise<T> {
  const file = openLockFile(path);
  try {
    const end = performance.now() + waitMs;
    while (!file.tryLockSync(true)) {
      if (performance.now() >= end) throw busy();
      await sleep(5 + Math.random() * 20);
    }
    return await fn();
  } finally {
    file.close();
  }
}

/** Runs `fn` holding the lock of VM `name` (directory `dir`); see the module doc. */
export function withVmLock<T>(
  dir: string,
  name: string,
  fn: () => Promise<T> | T,
  waitMs = LOCK_WAIT_MS,
): Promise<T> {
  const path = join(dir, F.lock);
  const busy = () =>
    new SystemError(
      `VM "${name}" is being changed by another vm command (it holds "${path}" for more than ` +
        `${waitMs / 1000} s); try again when it is done`,
    );
  return withLock(path, busy, fn, waitMs);
}

/** Runs `fn` holding the lock of the whole VMDIR `vmdir` (taken before any VM's lock). */
export function withVmdirLock<T>(
  vmdir: string,
  fn: () => Promise<T> | T,
  waitMs = LOCK_WAIT_MS,
): Promise<T> {
  const path = join(vmdir, F.lock);
  const busy = () =>
    new SystemError(
      `Another vm command is changing the VMs of "${vmdir}" (it holds "${path}" for more ` +
        `than ${waitMs / 1000} s); try again when it is done`,
    );
  return withLock(path, busy, fn, waitMs);
}

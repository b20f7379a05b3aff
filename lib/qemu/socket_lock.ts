/**
 * One client per character socket: QEMU serves one client of a VM's serial
 * console or monitor at a time and leaves a second one connected but unheard
 * (its input silently lost). `vm console` and `vm monitor` therefore hold an
 * exclusive flock(2) on `supervise/console-lock` (`monitor-lock`) while
 * attached, and a second one is refused. Creates and locks that file (0600).
 * @module
 */

import { join } from "../os/path.ts";
import { F } from "../layout.ts";

/** A VM's character socket served to one client (as VmSocket of lib/qemu/console.ts). */
export type LockedSocket = "console" | "monitor";

/** The lock file of a VM's socket `which`, relative to the VM directory. Pure. */
export function lockFileOf(which: LockedSocket): string {
  return which === "console" ? F.consoleLock : F.monitorLock;
}

/**
 * Takes the lock of socket `which` of the VM in `dir`: the open file
 * (locked until closed or the process ends), or undefined when another
 * process holds it. Creates `<dir>/supervise/<which>-lock`.
 */
export function lockSocket(dir: string, which: LockedSocket): Deno.FsFile | undefined {
  const file = Deno.openSync(join(dir, lockFileOf(which)), {
    read: true,
    write: true,
    create: true,
    mode: 0o600,
  });
  if (file.tryLockSync(true)) return file;
  file.close();
  return undefined;
}

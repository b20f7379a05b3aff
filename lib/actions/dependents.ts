/**
 * Which other VMs depend on a VM's files: their disks lie in its directory,
 * or their backing chains reach into it (its linked clones, and linked
 * clones of those). destroy, rename and snapshot apply are refused while any
 * do; a check that cannot be completed (a template that does not parse,
 * qemu-img missing or failing) refuses too. Reads the templates and
 * top-level qcow2 files of every VM in `$VMDIR`; runs `qemu-img info
 * --backing-chain` on their disks.
 * @module
 */

import { dirname, normalize, resolve } from "../os/path.ts";
import { exists, realPathOrUndefined } from "../os/fs.ts";
import { CheckFailedError, SystemError, VmError } from "../errors.ts";
import type { Config } from "../vm/config.ts";
import { listVms, vmPath } from "../vm/dir.ts";
import { backingChain } from "../qemu/img.ts";
import { join } from "../os/path.ts";
import { isInside, showDisk, vmDisks } from "../vm/disk_paths.ts";

/** The canonical path of `path`, or `path` normalized when it cannot be resolved (missing). */
export function realOr(path: string): string {
  return realPathOrUndefined(path) ?? normalize(path);
}

/**
 * The disks the templates of VM `vm` (in `dir`) name. A template that cannot
 * be read means the check cannot be done: refused with CheckFailedError
 * naming the VM and why (`what` is the refused action).
 */
function disksForCheck(cfg: Config, vm: string, dir: string, what: string): string[] {
  try {
    return vmDisks(cfg, dir);
  } catch (e) {
    if (!(e instanceof VmError)) throw e;
    throw new CheckFailedError(
      `Cannot tell whether VM "${vm}" uses these disks (${e.message}); fix it before ${what}`,
    );
  }
}

/** Top-level files of `dir` that are qcow2 images (magic `QFI\xfb`). */
function qcow2Files(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (!e.isFile) continue;
    const p = join(dir, e.name);
    try {
      const f = Deno.openSync(p);
      try {
        const b = new Uint8Array(4);
        if (
          f.readSync(b) === 4 && b[0] === 0x51 && b[1] === 0x46 && b[2] === 0x49 && b[3] === 0xfb
        ) {
          out.push(p);
        }
      } finally {
        f.close();
      }
    } catch (e) {
      // Unreadable (not ours, or gone): not an image of this VMDIR's VMs to judge.
      if (!(e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotFound)) {
        throw e;
      }
    }
  }
  return out;
}

/** A disk of another VM that is, or is backed by, a file in a VM's directory. */
export interface Dependent {
  /** The other VM. */
  vm: string;
  /** Its disk (absolute). */
  disk: string;
  /** The file inside the VM's directory it needs (absolute). */
  backing: string;
}

/**
 * The disks of the other VMs in `cfg.vmdir` that lie in the directory of VM
 * `name` or whose backing chain reaches into it (its linked clones, and
 * linked clones of those). The
 * other VMs' disks are those of their templates and their top-level qcow2
 * files. Runs `qemu-img info --backing-chain` on them.
 */
export async function dependentsOf(
  cfg: Config,
  name: string,
  what = "checking it",
): Promise<Dependent[]> {
  const dir = realOr(vmPath(cfg.vmdir, name));
  const out: Dependent[] = [];
  for (const other of listVms(cfg.vmdir)) {
    if (other === name) continue;
    const odir = vmPath(cfg.vmdir, other);
    const disks = [...new Set([...disksForCheck(cfg, other, odir, what), ...qcow2Files(odir)])];
    for (const disk of disks) {
      if (!exists(disk)) continue;
      if (isInside(dir, realOr(disk))) {
        out.push({ vm: other, disk, backing: realOr(disk) }); // it names this VM's disk itself
        continue;
      }
      let chain;
      try {
        chain = await backingChain(disk);
      } catch (e) {
        if (!(e instanceof SystemError)) throw e;
        throw new CheckFailedError(
          `Cannot tell whether disk "${disk}" of VM "${other}" depends on VM "${name}" ` +
            `(${e.message}); ${what} is refused until it can be checked`,
        );
      }
      const backings = [
        ...chain.slice(1).map((i) => i.filename),
        ...chain.map((i) => i["full-backing-filename"]),
      ].filter((b): b is string => b !== undefined).map((b) => realOr(resolve(dirname(disk), b)));
      const hit = backings.find((b) => isInside(dir, b));
      if (hit !== undefined) out.push({ vm: other, disk, backing: hit });
    }
  }
  return out;
}

/** Throws CheckFailedError when linked clones depend on VM `name`; `what` is the refused action. */
export async function checkNoDependents(cfg: Config, name: string, what: string): Promise<void> {
  const deps = await dependentsOf(cfg, name, what);
  if (deps.length === 0) return;
  const vms = [...new Set(deps.map((d) => d.vm))];
  const shown = deps.map((d) => `"${showDisk(cfg.vmdir, d.disk)}"`);
  throw new CheckFailedError(
    `VM "${name}" has linked clones that use its disks: ${vms.map((v) => `"${v}"`).join(", ")} ` +
      `(${shown.join(", ")}); ${what} would break them: destroy them first, or make each a ` +
      `full copy ("vm clone ${vms[0]} <new>") and destroy the linked one`,
  );
}

/**
 * `vm destroy`: deleting a stopped VM, after checking everything first. The
 * VM is renamed to `.destroy-<vm>-<pid>` (runsvdir and `vm list` skip
 * dot-names, so runsvdir drops it), its runsv is told to exit and waited
 * for, then the directory is removed; disks outside it are kept. Refused
 * while it runs or while other VMs depend on its disks (lib/actions/dependents.ts).
 * Reads and removes `$VMDIR/<vm>/`; runs `qemu-img info` on its disks.
 * @module
 */

import { dirname, join } from "../os/path.ts";
import type { Config } from "../vm/config.ts";
import { SystemError } from "../errors.ts";
import { pollUntil } from "../os/poll.ts";
import { imageInfo } from "../qemu/img.ts";
import { isSupervised } from "../runit/status.ts";
import { control } from "../runit/control.ts";
import { checkStopped, qemuPidsIn } from "../qemu/processes.ts";
import { requireVm } from "../vm/dir.ts";
import { checkNoDependents, realOr } from "./dependents.ts";
import { isInside, vmDisks } from "../vm/disk_paths.ts";

/** Size on disk of everything under `path` (blocks actually used), not following symlinks. */
export function diskUsage(path: string): number {
  const st = Deno.lstatSync(path);
  let total = (st.blocks ?? 0) * 512;
  if (st.isDirectory) {
    for (const e of Deno.readDirSync(path)) total += diskUsage(join(path, e.name));
  }
  return total;
}

/** One disk of a VM as `vm destroy` shows it. */
export interface DiskUse {
  path: string;
  /** Bytes used on disk, undefined when qemu-img cannot read it. */
  actual?: number;
  virtual?: number;
}

/** What `vm destroy` would delete. */
export interface DestroyPlan {
  name: string;
  dir: string;
  /** Bytes the whole directory uses. */
  total: number;
  /** Disks inside the directory (deleted with it). */
  disks: DiskUse[];
  /** Disks outside it (kept). */
  kept: string[];
}

/**
 * Checks that VM `name` may be destroyed (exists, stopped, no linked clones
 * depend on it) and returns what would go. Throws VmNotFoundError,
 * VmRunningError, CheckFailedError. Reads the VM's directory and disks.
 */
export async function planDestroy(cfg: Config, name: string): Promise<DestroyPlan> {
  const dir = requireVm(cfg.vmdir, name);
  checkStopped(name, dir, "destroy it");
  await checkNoDependents(cfg, name, "destroying it");
  const real = realOr(dir);
  const all = vmDisks(cfg, dir);
  const disks: DiskUse[] = [];
  for (const path of all.filter((d) => isInside(real, realOr(d)))) {
    try {
      const info = await imageInfo(path);
      disks.push({ path, actual: info["actual-size"], virtual: info["virtual-size"] });
    } catch (e) {
      if (!(e instanceof SystemError)) throw e;
      disks.push({ path }); // shown as "(qemu-img cannot read it)"
    }
  }
  return {
    name,
    dir,
    total: diskUsage(dir),
    disks,
    kept: all.filter((d) => !isInside(real, realOr(d))),
  };
}

/** How long `vm destroy` waits for the VM's runsv to exit. */
const RUNSV_EXIT_MS = 10_000;

/**
 * Destroys the VM of `plan` (see the module doc); checks again that it is
 * stopped first. Nothing else in `$VMDIR` is touched. Throws SystemError when
 * its runsv does not exit (the dot-directory is left then, and named).
 */
export async function destroyVm(plan: DestroyPlan): Promise<void> {
  const { name, dir } = plan;
  checkStopped(name, dir, "destroy it");
  const gone = join(dirname(dir), `.destroy-${name}-${Deno.pid}`);
  Deno.renameSync(dir, gone);
  if (isSupervised(gone)) {
    try {
      control(gone, "x");
    } catch (e) {
      // runsv exited already (runsvdir saw the name go): nothing to tell.
      if (!(e instanceof SystemError)) throw e;
    }
    if (!await pollUntil(() => !isSupervised(gone), RUNSV_EXIT_MS)) {
      throw new SystemError(
        `The runsv of "${name}" did not exit within ${RUNSV_EXIT_MS / 1000} s; ` +
          `the VM was moved to "${gone}": remove it once that runsv is gone`,
      );
    }
  }
  const qemu = qemuPidsIn(gone);
  if (qemu.length > 0) {
    throw new SystemError(
      `QEMU (PID ${qemu.join(", ")}) started in "${name}" while it was being destroyed; ` +
        `it was moved to "${gone}": quit that QEMU, then remove it`,
    );
  }
  Deno.removeSync(gone, { recursive: true });
}

/**
 * `vm rename`: one rename(2) of a stopped VM's directory. runsvdir tracks
 * service directories by inode and runsv works relative to its directory,
 * so the same runsv keeps supervising the VM (want up/down, log/, disks and
 * `down` all move along). Refused while it runs, while linked clones depend
 * on it (their backing file names point into it), or when a template names
 * one of its disks by absolute path. Renames `$VMDIR/<vm>`.
 * @module
 */

import type { Config } from "../vm/config.ts";
import { isSupervised } from "../runit/status.ts";
import { checkStopped } from "../qemu/processes.ts";
import { freeVmPath, requireVm } from "../vm/dir.ts";
import { checkNoDependents } from "./dependents.ts";
import { checkRelocatable } from "./disks.ts";

/**
 * The directories of stopped VM `source` and of new VM `target`: throws when
 * `source` is missing or runs (`what` completes "stop it first … to <what>"),
 * or `target` is invalid or taken. For rename and clone.
 */
export function stoppedAndFree(
  cfg: Config,
  source: string,
  target: string,
  what: string,
): [string, string] {
  const src = requireVm(cfg.vmdir, source);
  const dst = freeVmPath(cfg.vmdir, target);
  checkStopped(source, src, what);
  return [src, dst];
}

/** What `vm rename` did. */
export interface RenameResult {
  from: string;
  to: string;
  /** Whether a runsv supervised (and still supervises) the VM. */
  supervised: boolean;
}

/**
 * Renames VM `oldName` to `newName` (one rename(2), see the module doc).
 * Refused (nothing changed) when it runs, when linked clones depend on it,
 * when `newName` is invalid or taken, or when a template names one of its
 * disks by absolute path.
 */
export async function renameVm(
  cfg: Config,
  oldName: string,
  newName: string,
): Promise<RenameResult> {
  const [from, to] = stoppedAndFree(cfg, oldName, newName, "rename it");
  await checkNoDependents(cfg, oldName, "renaming it");
  checkRelocatable(cfg, oldName, from, to, false);
  // Again, right before the rename: the dependents scan above takes a while.
  checkStopped(oldName, from, "rename it");
  freeVmPath(cfg.vmdir, newName);
  Deno.renameSync(from, to);
  return { from, to, supervised: isSupervised(to) };
}

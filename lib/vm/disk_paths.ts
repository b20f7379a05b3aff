/**
 * The disks of a VM: the local files its templates name (lib/qemu/drives.ts),
 * read with the VM's environment but without running its hooks, and how a
 * disk path is shown (relative to the VM directory when inside it).
 * Reads `<vm>/templates/*`.
 * @module
 */

import { relative } from "../os/path.ts";
import type { Config } from "./config.ts";
import { diskPaths } from "../qemu/drives.ts";
import { vmEnv } from "./dir.ts";
import { inspectDir, type Vm } from "./inspect.ts";

/**
 * Absolute paths of the disks of the VM in `vmDir`, in template order.
 * Throws ParseError for a template that cannot be parsed.
 */
export function vmDisks(cfg: Config, vmDir: string): string[] {
  return disksOf(cfg, inspectDir(vmDir));
}

/**
 * Absolute paths of the disks of `vm`, in template order: the local files
 * its templates name, read with its environment (hooks are not run).
 * Throws ParseError for a template that cannot be parsed.
 */
export function disksOf(cfg: Config, vm: Vm): string[] {
  return diskPaths(vm.dir, vm.readTemplates(vmEnv(cfg, vm.dir)).flatMap((t) => t.args));
}

/** How a disk is shown: relative to the VM directory when inside it, else absolute. Pure. */
export function showDisk(vmDir: string, path: string): string {
  const rel = relative(vmDir, path);
  return rel.startsWith("..") || rel === "" ? path : rel;
}

/** Whether `path` lies inside directory `dir` (both absolute, normalized). Pure. */
export function isInside(dir: string, path: string): boolean {
  return path.startsWith(dir.endsWith("/") ? dir : dir + "/");
}

/**
 * A VM's disks: the local file drives its templates name (lib/qemu/drives.ts),
 * read with the VM's environment but without running its hooks; choosing
 * one, resizing it through `qemu-img`, and checking that they stay the VM's
 * own when its templates are used in another directory (rename, clone).
 * Reads `<vm>/templates/*`; runs `qemu-img` on the disks.
 * @module
 */

import { join, relative } from "../os/path.ts";
import type { Config } from "../vm/config.ts";
import { diskPaths } from "../qemu/drives.ts";
import { CheckFailedError, UsageError } from "../errors.ts";
import { formatBytes, type NewSize } from "../text/units.ts";
import { imageInfo, resizeImage } from "../qemu/img.ts";
import { inspectDir } from "../vm/inspect.ts";
import { vmEnv } from "../vm/dir.ts";
import { disksOf, showDisk } from "../vm/disk_paths.ts";
import { isInside } from "../vm/disk_paths.ts";

/**
 * The disk `vm disk` works on: the one given by `want` (a path as in the
 * templates, relative to the VM directory, or absolute), else the only disk.
 * Throws UsageError naming the disks when `want` is none of them or several
 * exist without `want`, CheckFailedError when there is none. Pure.
 */
export function chooseDisk(
  name: string,
  vmDir: string,
  disks: readonly string[],
  want?: string,
): string {
  const shown = disks.map((d) => `"${showDisk(vmDir, d)}"`).join(", ");
  if (disks.length === 0) {
    throw new CheckFailedError(`VM "${name}" has no disk in its templates (no "-drive file=…")`);
  }
  if (want === undefined) {
    if (disks.length === 1) return disks[0] ?? "";
    throw new UsageError(`VM "${name}" has several disks (${shown}); choose one with --drive`);
  }
  const found = disks.find((d) => d === want || showDisk(vmDir, d) === want.replace(/^\.\//, ""));
  if (found === undefined) {
    throw new UsageError(`"${want}" is not a disk of VM "${name}"; its disks: ${shown}`);
  }
  return found;
}

/** What `vm disk resize` did. */
export interface ResizeResult {
  path: string;
  before: number;
  after: number;
}

/**
 * Resizes disk `path` to `size` with qemu-img. A size below the current one
 * needs `shrink` (data past it is lost); refused with UsageError otherwise.
 * The caller has checked the VM is stopped. Runs qemu-img on `path`.
 */
export async function resizeDisk(
  path: string,
  size: NewSize,
  shrink: boolean,
): Promise<ResizeResult> {
  const info = await imageInfo(path);
  const before = info["virtual-size"];
  const target = size.grow ? before + size.bytes : size.bytes;
  if (target < before && !shrink) {
    throw new UsageError(
      `"${size.text}" is smaller than the disk's ${formatBytes(before)}; data past it would ` +
        `be lost: shrink the file systems first, then add --shrink`,
    );
  }
  await resizeImage(path, info.format, size.text, target < before);
  return { path, before, after: (await imageInfo(path))["virtual-size"] };
}

/**
 * Checks that the disks of the VM whose templates are in `srcDir` stay the
 * VM's own when those templates are used at `dstDir`: a disk inside `srcDir`
 * must be named relative to the VM (`./drive.qcow2` or `$VM_DIR/…`), not by
 * an absolute path into `srcDir`. With `mustBeInside` (a clone), disks
 * outside `srcDir` are refused too: the clone would share them. Returns the
 * source's disks. Throws CheckFailedError naming the disk.
 */
export function checkRelocatable(
  cfg: Config,
  name: string,
  srcDir: string,
  dstDir: string,
  mustBeInside: boolean,
): string[] {
  const vm = inspectDir(srcDir);
  const src = disksOf(cfg, vm);
  const atDst = diskPaths(dstDir, vm.readTemplates(vmEnv(cfg, dstDir)).flatMap((t) => t.args));
  src.forEach((disk, i) => {
    if (!isInside(srcDir, disk)) {
      if (!mustBeInside) return;
      throw new CheckFailedError(
        `Disk "${disk}" of VM "${name}" is outside its directory; a clone would share it: ` +
          `move it into "${srcDir}" and name it relative ("./${disk.split("/").pop()}")`,
      );
    }
    if (atDst[i] !== join(dstDir, relative(srcDir, disk))) {
      throw new CheckFailedError(
        `A template of VM "${name}" names disk "${disk}" by its absolute path; ` +
          `write it relative to the VM ("./${relative(srcDir, disk)}") first`,
      );
    }
  });
  return src;
}

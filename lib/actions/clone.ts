/**
 * `vm clone`: a new VM (down) from a stopped one, assembled in
 * `$VMDIR/.clone-<new>-<pid>` (skipped by runsvdir and `vm list`) and renamed
 * into place: every file but runit's run-time state; each disk a full copy
 * (`qemu-img convert`) or, linked, a qcow2 overlay whose backing file name is
 * relative (`../src/drive.qcow2`, so the whole VMDIR can move); every MAC
 * address in the templates replaced by a fresh one. The copy is private
 * whatever the umask: directories 0700, files keep only their owner's bits
 * (at least 0600), disks 0600. Reads `$VMDIR/<vm>/` and the templates of
 * every VM; writes `$VMDIR/<new>/`.
 * @module
 */

import { dirname, join, relative } from "../os/path.ts";
import { makeDir, MODE, removeTree, writeFileAtomic } from "../os/fs.ts";
import type { Config } from "../vm/config.ts";
import { CheckFailedError } from "../errors.ts";
import { SymlinkError } from "../os/lookup.ts";
import { F } from "../layout.ts";
import { macsIn, randomMac, replaceMacs } from "../vm/mac.ts";
import { convertImage, createImage, imageInfo } from "../qemu/img.ts";
import { checkStopped } from "../qemu/processes.ts";
import { readTemplateText, templateNames } from "../vm/templates.ts";
import { freeVmPath, listVms, requireVm, skipInClone } from "../vm/dir.ts";
import { withVmdirLock } from "../vm/lock.ts";
import { reattachCopy } from "./net_new.ts";
import { checkRelocatable } from "./disks.ts";
import { showDisk } from "../vm/disk_paths.ts";

/**
 * Copies the tree `src` to `dst` (created): files, directories and symlinks;
 * directories 0700, files with their owner's bits only (at least 0600).
 */
function copyTree(src: string, dst: string, skip: (rel: string, path: string) => boolean): void {
  const walk = (rel: string) => {
    for (const e of Deno.readDirSync(join(src, rel))) {
      const r = rel === "" ? e.name : `${rel}/${e.name}`;
      const from = join(src, r);
      if (skip(r, from)) continue;
      const to = join(dst, r);
      if (e.isSymlink) Deno.symlinkSync(Deno.readLinkSync(from), to);
      else if (e.isDirectory) {
        makeDir(to);
        walk(r);
      } else if (e.isFile) {
        Deno.copyFileSync(from, to);
        Deno.chmodSync(to, ((Deno.statSync(from).mode ?? 0) & 0o700) | MODE.file);
      }
      // Sockets and FIFOs are run-time state: never copied.
    }
  };
  makeDir(dst);
  walk("");
}

/** The MAC addresses of the templates of every VM in `vmdir`. */
export function macsInVmdir(vmdir: string): string[] {
  const out: string[] = [];
  for (const vm of listVms(vmdir)) {
    const t = join(vmdir, vm, F.templates);
    try {
      for (const n of templateNames(t)) {
        out.push(...macsIn(readTemplateText(join(vmdir, vm), n) ?? ""));
      }
    } catch (e) {
      // A VM without templates, or with one vm does not follow (a link out of it; unsafe).
      if (!(e instanceof Deno.errors.NotFound) && !(e instanceof SymlinkError)) throw e;
    }
  }
  return out;
}

/** One disk of a clone. */
export interface ClonedDisk {
  /** Path relative to the VM directory. */
  rel: string;
  /** For a linked clone: the backing file name written into the overlay. */
  backing?: string;
}

/** What `vm clone` made. */
export interface CloneResult {
  dir: string;
  disks: ClonedDisk[];
  /** Old MAC → new MAC. */
  macs: Map<string, string>;
}

/**
 * Clones stopped VM `srcName` to a new VM `dstName` (down): every file of the
 * VM but runit's run-time state; each disk a full copy (`qemu-img convert`,
 * same format, no backing file, internal snapshots not copied) or, `linked`,
 * a qcow2 overlay whose backing file is the source's disk by relative name;
 * each MAC address in the templates replaced by a fresh one. Refused when the
 * source runs, a disk lies outside the source's directory or is named by
 * absolute path, or (linked) a disk is not qcow2. `onProgress` hears each
 * full copy's progress (the disk relative to the VM, bytes of its virtual
 * size done and that size). Writes
 * `$VMDIR/.clone-<dst>-<pid>/`, renamed to `$VMDIR/<dst>`.
 */
export async function cloneVm(
  cfg: Config,
  srcName: string,
  dstName: string,
  linked: boolean,
  onProgress?: (disk: string, done: number, total: number) => void,
): Promise<CloneResult> {
  const src = requireVm(cfg.vmdir, srcName);
  const final = freeVmPath(cfg.vmdir, dstName);
  checkStopped(srcName, src, "clone it (its disks are changing)");
  const disks = checkRelocatable(cfg, srcName, src, final, true);
  const formats = new Map<string, string>();
  const sizes = new Map<string, number>();
  for (const d of disks) {
    const info = await imageInfo(d);
    if (linked && info.format !== "qcow2") {
      throw new CheckFailedError(
        `Disk "${showDisk(src, d)}" of VM "${srcName}" is ${info.format}; a linked clone ` +
          `needs qcow2 disks: clone without --linked for a full copy`,
      );
    }
    formats.set(d, info.format);
    sizes.set(d, info["virtual-size"]);
  }
  const avoid = macsInVmdir(cfg.vmdir);
  const tmp = join(cfg.vmdir, `.clone-${dstName}-${Deno.pid}`);
  const result: CloneResult = { dir: final, disks: [], macs: new Map() };
  try {
    copyTree(src, tmp, (rel, path) => skipInClone(rel) || disks.includes(path));
    writeFileAtomic(join(tmp, F.down), "");
    for (const d of disks) {
      const rel = relative(src, d);
      const to = join(tmp, rel);
      makeDir(dirname(to), MODE.dir, true);
      if (linked) {
        // Relative to the overlay's directory, which has the same depth in tmp and final.
        const backing = relative(dirname(join(final, rel)), d);
        await createImage(to, undefined, backing);
        result.disks.push({ rel, backing });
      } else {
        const size = sizes.get(d) ?? 0;
        const report = onProgress && ((pct: number) => onProgress(rel, (pct / 100) * size, size));
        await convertImage(d, to, formats.get(d) ?? "qcow2", report);
        result.disks.push({ rel });
      }
      Deno.chmodSync(to, MODE.file);
    }
    const tdir = join(tmp, F.templates);
    for (const n of templateNames(tdir)) {
      const text = readTemplateText(tmp, n) ?? "";
      const fresh = replaceMacs(text, result.macs, randomMac, avoid);
      if (fresh !== text) writeFileAtomic(join(tdir, n), fresh);
    }
    // Its own NICs on the source's networks (fresh MACs and addresses), picked under VMDIR's lock.
    await withVmdirLock(cfg.vmdir, () => {
      for (const [o, n] of reattachCopy(cfg.vmdir, tmp, dstName)) result.macs.set(o, n);
      freeVmPath(cfg.vmdir, dstName);
      checkStopped(srcName, src, "clone it (its disks are changing)");
      Deno.renameSync(tmp, final);
    });
  } catch (e) {
    removeTree(tmp);
    throw e;
  }
  return result;
}

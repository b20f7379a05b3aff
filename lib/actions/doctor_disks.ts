/**
 * `vm doctor`'s look at disk images, as vm checks the images it takes in
 * (lib/qemu/image_check.ts): every disk the VMs' templates name, with its
 * backing chain, must have no external data file and no json:/protocol
 * name, and its backing files must lie in `$VMDIR` or beside the disk (any
 * format: a VM's own disks are its owner's choice); every image in the cache
 * must be standalone raw or qcow2 (an ISO: raw). A disk that is not a
 * regular file (a block device given to a VM) or a template vm cannot read
 * is left to the other checks. Reads the templates; runs `qemu-img info`.
 * @module
 */

import { dirname } from "../os/path.ts";
import { statIfExists } from "../os/fs.ts";
import { ParseError } from "../errors.ts";
import type { Config } from "../vm/config.ts";
import { listVms, vmPath } from "../vm/dir.ts";
import { vmDisks } from "../vm/disk_paths.ts";
import {
  type ImagePolicy,
  inspectImage,
  SAFE_FORMATS,
  UnsafeImageError,
} from "../qemu/image_check.ts";
import { imagesDir, scanStore } from "../images/store.ts";

/** The problem of image `path` under `policy`, as a message, or undefined. Runs qemu-img. */
async function problemOf(path: string, policy: ImagePolicy): Promise<string | undefined> {
  try {
    await inspectImage(path, policy);
    return undefined;
  } catch (e) {
    if (e instanceof UnsafeImageError) return e.message;
    throw e;
  }
}

/** The disks of VM `dir` that are regular files; none when its templates cannot be read. */
function regularDisks(cfg: Config, dir: string): string[] {
  try {
    return vmDisks(cfg, dir).filter((d) => statIfExists(d)?.isFile === true);
  } catch (e) {
    if (e instanceof ParseError) return []; // the VM does not start: its log and vm start say why
    throw e;
  }
}

/** The problem lines of every VM's disks and every cached image (see the module doc). */
export async function diskProblems(cfg: Config): Promise<string[]> {
  const out: string[] = [];
  for (const vm of listVms(cfg.vmdir)) {
    for (const disk of regularDisks(cfg, vmPath(cfg.vmdir, vm))) {
      const p = await problemOf(disk, { backingDirs: [cfg.vmdir, dirname(disk)], formats: [] });
      if (p !== undefined) {
        out.push(`VM "${vm}": ${p}; fix: stop it and replace that disk with one you trust`);
      }
    }
  }
  for (const f of scanStore(imagesDir(cfg.vmdir)).filter((s) => !s.partial)) {
    const formats = f.ext === "iso" ? ["raw"] : SAFE_FORMATS;
    const p = await problemOf(f.path, { backingDirs: [], formats });
    if (p !== undefined) out.push(`${p}; fix: vm image rm ${f.name}`);
  }
  return out;
}

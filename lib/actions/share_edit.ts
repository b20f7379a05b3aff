/**
 * `vm share add|rm`: adding and removing shared folders in a VM's `shares`
 * file (lib/vm/shares.ts). The host folder must exist and be a directory
 * (kept as its real absolute path), the tag be valid and not shared yet by
 * the VM. A change takes effect at the VM's next start (virtiofs devices are
 * not added to a running QEMU). Each change holds the VM's lock
 * (lib/vm/lock.ts). Reads and writes `<vm>/shares`; stats the host folder.
 * @module
 */

import { UsageError } from "../errors.ts";
import { running } from "../qemu/processes.ts";
import { basename, join, resolve } from "../os/path.ts";
import { exists } from "../os/fs.ts";
import { SEED_FILES } from "../layout.ts";
import { withVmLock } from "../vm/lock.ts";
import {
  formatShare,
  guestPathProblem,
  hostPathProblem,
  readShares,
  type ShareRule,
  tagProblem,
  writeShares,
} from "../vm/shares.ts";

/** What a change did. */
export interface ShareChange {
  share: ShareRule;
  /** Whether the VM runs now (the change then takes effect at its next start). */
  running: boolean;
  /** Whether the VM has cloud-init sources (made with --image): its seed mounts the shares. */
  cloudInit: boolean;
}

/** What `vm share add` asks for. */
export interface ShareRequest {
  /** The host folder as typed (relative to the current directory, or absolute). */
  folder: string;
  tag?: string;
  readonly: boolean;
  guestPath?: string;
}

/**
 * The host folder `folder` as a real absolute path. Throws UsageError when
 * it does not exist or is not a directory. Stats it.
 */
export function hostFolder(folder: string): string {
  const abs = resolve(Deno.cwd(), folder);
  let real: string;
  try {
    real = Deno.realPathSync(abs);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    throw new UsageError(`Folder "${folder}" does not exist; create it or name another`);
  }
  if (!Deno.statSync(real).isDirectory) {
    throw new UsageError(`"${folder}" is not a directory; share a folder`);
  }
  const problem = hostPathProblem(real);
  if (problem !== undefined) throw new UsageError(`Cannot share "${folder}": ${problem}`);
  return real;
}

/**
 * The share `req` asks for, checked: the folder (see {@link hostFolder}),
 * the tag (default the folder's base name), the guest path. Throws UsageError.
 */
export function shareOf(req: ShareRequest): ShareRule {
  const path = hostFolder(req.folder);
  const tag = req.tag ?? basename(path);
  const problem = tagProblem(tag);
  if (problem !== undefined) {
    throw new UsageError(
      req.tag === undefined
        ? `The folder's name makes no tag: ${problem}; give one with --tag`
        : `Bad --tag: ${problem}`,
    );
  }
  if (req.guestPath !== undefined) {
    const p = guestPathProblem(req.guestPath);
    if (p !== undefined) throw new UsageError(`Bad --guest-path: ${p}`);
  }
  return {
    tag,
    path,
    readonly: req.readonly,
    ...(req.guestPath === undefined ? {} : { guestPath: req.guestPath }),
  };
}

/** Adds the share `req` to VM `name` (directory `dir`). Throws UsageError (see shareOf; a taken tag). */
export async function addShare(
  name: string,
  dir: string,
  req: ShareRequest,
): Promise<ShareChange> {
  const share = shareOf(req);
  return await withVmLock(dir, name, () => {
    const shares = readShares(dir);
    const same = shares.find((s) => s.tag === share.tag);
    if (same !== undefined) {
      throw new UsageError(
        `VM "${name}" already shares a folder with tag "${share.tag}" (${formatShare(same)}); ` +
          "choose another with --tag",
      );
    }
    writeShares(dir, [...shares, share]);
    return changeOf(dir, share);
  });
}

/** What changing `share` of the VM in `dir` did. Looks at the VM's processes and files. */
function changeOf(dir: string, share: ShareRule): ShareChange {
  return {
    share,
    running: running(dir) !== undefined,
    cloudInit: exists(join(dir, SEED_FILES.userData)),
  };
}

/** Removes the share tagged `tag` from VM `name`. Throws UsageError when there is none. */
export function removeShare(name: string, dir: string, tag: string): Promise<ShareChange> {
  return withVmLock(dir, name, () => {
    const shares = readShares(dir);
    const share = shares.find((s) => s.tag === tag);
    if (share === undefined) {
      throw new UsageError(
        `VM "${name}" shares no folder tagged "${tag}"; see "vm share list ${name}"`,
      );
    }
    writeShares(dir, shares.filter((s) => s !== share));
    return changeOf(dir, share);
  });
}

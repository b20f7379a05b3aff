/**
 * Whole-VM operations on stopped VMs: destroy, rename and clone. Each checks
 * everything before it changes anything, and works so that no half-done VM is
 * ever visible in `$VMDIR` (runsvdir and `vm list` skip dot-names):
 * - destroy renames the VM to `.destroy-<vm>-<pid>` (runsvdir then drops it),
 *   tells its runsv to exit, waits until it has, and removes the directory;
 * - rename is one rename(2); runsvdir tracks service directories by inode and
 *   runsv works relative to its directory, so the same runsv keeps
 *   supervising the VM (want up/down, log/, disks and `down` all move along);
 * - clone assembles the new VM in `.clone-<vm>-<pid>` and renames it into place.
 * Linked clones are qcow2 overlays whose backing file name is relative
 * (`../src/drive.qcow2`), so the whole VMDIR can move; destroying or renaming
 * their source is refused, naming them.
 * Reads and writes `$VMDIR/<vm>/` of the VMs named; reads the disks of the
 * other VMs in `$VMDIR`.
 * @module
 */

import { dirname, join, normalize, relative, resolve } from "../os/path.ts";
import { exists, writeFileAtomic } from "../os/fs.ts";
import type { Config } from "../vm/config.ts";
import { diskPaths } from "../qemu/drives.ts";
import { CheckFailedError, SystemError, VmExistsError } from "../errors.ts";
import { F } from "../vm/files.ts";
import { pollUntil } from "../os/poll.ts";
import { macsIn, randomMac, replaceMacs } from "../vm/mac.ts";
import { backingChain, convertImage, createImage, imageInfo } from "../qemu/img.ts";
import { control, isSupervised } from "../runit/status.ts";
import { checkStopped, qemuPidsIn } from "../qemu/processes.ts";
import { formatBytes, isInside, showDisk, vmDisks } from "./disks.ts";
import { vmEnv } from "../service/run.ts";
import { readTemplates, templateNames } from "../vm/templates.ts";
import { listVms, requireVm, vmPath } from "../vm/dir.ts";

function realOr(path: string): string {
  try {
    return Deno.realPathSync(path);
  } catch {
    return normalize(path);
  }
}

/** The disks of a VM as far as they can be read: a template that does not parse gives none. */
function disksOrNone(cfg: Config, dir: string): string[] {
  try {
    return vmDisks(cfg, dir);
  } catch {
    return [];
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
    } catch { /* unreadable: not ours to judge */ }
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
export async function dependentsOf(cfg: Config, name: string): Promise<Dependent[]> {
  const dir = realOr(vmPath(cfg.vmdir, name));
  const out: Dependent[] = [];
  for (const other of listVms(cfg.vmdir)) {
    if (other === name) continue;
    const odir = vmPath(cfg.vmdir, other);
    const disks = [...new Set([...disksOrNone(cfg, odir), ...qcow2Files(odir)])];
    for (const disk of disks) {
      if (!exists(disk)) continue;
      if (isInside(dir, realOr(disk))) {
        out.push({ vm: other, disk, backing: realOr(disk) }); // it names this VM's disk itself
        continue;
      }
      let chain;
      try {
        chain = await backingChain(disk);
      } catch {
        continue; // not an image qemu-img can read: it depends on nothing
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
  const deps = await dependentsOf(cfg, name);
  if (deps.length === 0) return;
  const vms = [...new Set(deps.map((d) => d.vm))];
  const shown = deps.map((d) => `"${showDisk(cfg.vmdir, d.disk)}"`);
  throw new CheckFailedError(
    `VM "${name}" has linked clones that use its disks: ${vms.map((v) => `"${v}"`).join(", ")} ` +
      `(${shown.join(", ")}); ${what} would break them: destroy them first, or make each a ` +
      `full copy ("vm clone ${vms[0]} <new>") and destroy the linked one`,
  );
}

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
  const all = disksOrNone(cfg, dir);
  const disks: DiskUse[] = [];
  for (const path of all.filter((d) => isInside(real, realOr(d)))) {
    try {
      const info = await imageInfo(path);
      disks.push({ path, actual: info["actual-size"], virtual: info["virtual-size"] });
    } catch {
      disks.push({ path });
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
    } catch { /* runsv exited already (runsvdir saw the name go) */ }
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
  const src = vmDisks(cfg, srcDir);
  const atDst = diskPaths(dstDir, readTemplates(srcDir, vmEnv(cfg, dstDir)).flatMap((t) => t.args));
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
  const from = requireVm(cfg.vmdir, oldName);
  const to = vmPath(cfg.vmdir, newName);
  if (exists(to)) throw new VmExistsError(newName, cfg.vmdir);
  checkStopped(oldName, from, "rename it");
  await checkNoDependents(cfg, oldName, "renaming it");
  checkRelocatable(cfg, oldName, from, to, false);
  // Again, right before the rename: the dependents scan above takes a while.
  checkStopped(oldName, from, "rename it");
  if (exists(to)) throw new VmExistsError(newName, cfg.vmdir);
  Deno.renameSync(from, to);
  return { from, to, supervised: isSupervised(to) };
}

/** Paths (relative to the VM directory) a clone never copies: runit's and svlogd's run-time state. */
export function skipInClone(rel: string): boolean {
  if (rel === F.supervise || rel === `${F.log}/${F.supervise}`) return true;
  if (rel === F.backoff || rel === F.down) return true;
  // svlogd's files: current, rotated logs, lock, state; its config is kept.
  return rel.startsWith(F.logMain + "/") && rel !== `${F.logMain}/config`;
}

/** Copies the tree `src` to `dst` (created): files, directories and symlinks as they are. */
function copyTree(src: string, dst: string, skip: (rel: string, path: string) => boolean): void {
  const walk = (rel: string) => {
    for (const e of Deno.readDirSync(join(src, rel))) {
      const r = rel === "" ? e.name : `${rel}/${e.name}`;
      const from = join(src, r);
      if (skip(r, from)) continue;
      const to = join(dst, r);
      if (e.isSymlink) Deno.symlinkSync(Deno.readLinkSync(from), to);
      else if (e.isDirectory) {
        Deno.mkdirSync(to, { mode: (Deno.statSync(from).mode ?? 0o755) & 0o7777 });
        walk(r);
      } else if (e.isFile) Deno.copyFileSync(from, to);
      // Sockets and FIFOs are run-time state: never copied.
    }
  };
  Deno.mkdirSync(dst, { mode: (Deno.statSync(src).mode ?? 0o755) & 0o7777 });
  walk("");
}

/** The MAC addresses of the templates of every VM in `vmdir`. */
function macsInVmdir(vmdir: string): string[] {
  const out: string[] = [];
  for (const vm of listVms(vmdir)) {
    const t = join(vmdir, vm, F.templates);
    try {
      for (const n of templateNames(t)) out.push(...macsIn(Deno.readTextFileSync(join(t, n))));
    } catch { /* no templates */ }
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
 * absolute path, or (linked) a disk is not qcow2. Writes
 * `$VMDIR/.clone-<dst>-<pid>/`, renamed to `$VMDIR/<dst>`.
 */
export async function cloneVm(
  cfg: Config,
  srcName: string,
  dstName: string,
  linked: boolean,
): Promise<CloneResult> {
  const src = requireVm(cfg.vmdir, srcName);
  const final = vmPath(cfg.vmdir, dstName);
  if (exists(final)) throw new VmExistsError(dstName, cfg.vmdir);
  checkStopped(srcName, src, "clone it (its disks are changing)");
  const disks = checkRelocatable(cfg, srcName, src, final, true);
  const formats = new Map<string, string>();
  for (const d of disks) {
    const info = await imageInfo(d);
    if (linked && info.format !== "qcow2") {
      throw new CheckFailedError(
        `Disk "${showDisk(src, d)}" of VM "${srcName}" is ${info.format}; a linked clone ` +
          `needs qcow2 disks: clone without --linked for a full copy`,
      );
    }
    formats.set(d, info.format);
  }
  const avoid = macsInVmdir(cfg.vmdir);
  const tmp = join(cfg.vmdir, `.clone-${dstName}-${Deno.pid}`);
  const result: CloneResult = { dir: final, disks: [], macs: new Map() };
  try {
    copyTree(src, tmp, (rel, path) => skipInClone(rel) || disks.includes(path));
    Deno.writeTextFileSync(join(tmp, F.down), "");
    for (const d of disks) {
      const rel = relative(src, d);
      const to = join(tmp, rel);
      Deno.mkdirSync(dirname(to), { recursive: true });
      if (linked) {
        // Relative to the overlay's directory, which has the same depth in tmp and final.
        const backing = relative(dirname(join(final, rel)), d);
        await createImage(to, undefined, backing);
        result.disks.push({ rel, backing });
      } else {
        await convertImage(d, to, formats.get(d) ?? "qcow2");
        result.disks.push({ rel });
      }
    }
    const tdir = join(tmp, F.templates);
    for (const n of templateNames(tdir)) {
      const path = join(tdir, n);
      const text = Deno.readTextFileSync(path);
      const fresh = replaceMacs(text, result.macs, randomMac, avoid);
      if (fresh !== text) writeFileAtomic(path, fresh);
    }
    if (exists(final)) throw new VmExistsError(dstName, cfg.vmdir);
    checkStopped(srcName, src, "clone it (its disks are changing)");
    Deno.renameSync(tmp, final);
  } catch (e) {
    try {
      Deno.removeSync(tmp, { recursive: true });
    } catch { /* never created */ }
    throw e;
  }
  return result;
}

/** The text `vm destroy` shows before it asks: the directory, its size, the disks going and kept. Pure. */
export function formatDestroyPlan(p: DestroyPlan): string {
  const bytes = formatBytes;
  const head = `VM "${p.name}" ("${p.dir}", ${bytes(p.total)} on disk) will be deleted`;
  const lines = [
    p.disks.length === 0 ? `${head}; it has no disk in its directory` : `${head}, with:`,
  ];
  for (const d of p.disks) {
    const size = d.actual === undefined
      ? "(qemu-img cannot read it)"
      : `${bytes(d.actual)} on disk` +
        (d.virtual === undefined ? "" : ` (${bytes(d.virtual)} virtual)`);
    lines.push(`  ${showDisk(p.dir, d.path)}  ${size}`);
  }
  for (const k of p.kept) lines.push(`Kept (outside the VM's directory): ${k}`);
  return lines.join("\n");
}

/**
 * `vm export tar <vm> [FILE|-]` and `vm import tar <FILE|-> [<vm>]`: a
 * stopped VM as one archive, in the layout of tar_plan.ts, written and read
 * by the system's GNU tar with `--sparse` (holes in disks stay holes, both
 * in the archive and on import). Export stages the archive's tree as
 * symlinks in a temporary directory and runs `tar --dereference`, so files
 * are read once, where they are; a FILE is written as `FILE.new`, then
 * renamed. Import extracts under a dot-name in `$VMDIR`, accepts only
 * regular files and directories, sets modes (directories 0700, files 0600,
 * executables 0700), rebases each overlay onto its backing image, and
 * renames the VM into place (assemble.ts): a name that exists is refused and
 * a failure leaves nothing. A VM made with --image gets this VMDIR's SSH key
 * in its seed (import_login.ts). Runs `tar` and `qemu-img`.
 * Area lib/export, at the level of actions.
 * @module
 */

import { networkNeeds } from "../vm/network.ts";
import { dirname, join, relative } from "../os/path.ts";
import {
  exists,
  isInsideDir,
  makeDir,
  MODE,
  openAtomic,
  realPathOrUndefined,
  removeTree,
  writeFileAtomic,
} from "../os/fs.ts";
import { UsageError, VmExistsError } from "../errors.ts";
import type { Config } from "../vm/config.ts";
import { F } from "../layout.ts";
import { checkName } from "../vm/name.ts";
import { defaultDir, requireVm, skipInClone, vmPath } from "../vm/dir.ts";
import { inspectDir, type Vm } from "../vm/inspect.ts";
import { diskPaths } from "../qemu/drives.ts";
import { qemuImg } from "../qemu/img.ts";
import { inspectImage, inspectOne, UnsafeImageError } from "../qemu/image_check.ts";
import { imagesDir } from "../images/store.ts";
import { distrustTree, type Untrusted } from "./import_trust.ts";
import { checkStopped } from "../qemu/processes.ts";
import { readVmArgs, readVmModel, type VmModel } from "./vm_model.ts";
import {
  MANIFEST,
  parseManifest,
  planExport,
  planRebases,
  type Staged,
  type TarManifest,
  VM_ROOT,
} from "./tar_plan.ts";
import { recordOutside } from "../images/leftovers.ts";
import { assembleVm } from "./assemble.ts";
import { pipeCounted, runTar } from "./tar_process.ts";
import { vmEnv } from "../vm/dir.ts";
import { type MovedLogin, readyMovedLogin } from "./import_login.ts";

/** Where an archive goes: a file, or a stream (stdout). */
export type ArchiveEnd = { file: string } | { stream: WritableStream<Uint8Array> };
/** Where an archive comes from: a file, or a stream (stdin). */
export type ArchiveSource = { file: string } | { stream: ReadableStream<Uint8Array> };

/** Choices of `vm export tar`. */
export interface TarExportOptions {
  /** Leave backing images out (the target host has them). */
  noBacking: boolean;
  /** Bytes of archive written so far. */
  onProgress?: (done: number, total?: number) => void;
  /** Ends the export (InterruptedError), leaving nothing. */
  signal?: AbortSignal;
}

/** Entries of a VM directory the archive never holds: run-time state and vm's own scripts. */
function skipInArchive(rel: string): boolean {
  return skipInClone(rel) || rel === F.run || rel === F.finish || rel === F.control ||
    rel === `${F.log}/${F.run}`;
}

/** Relative paths of the regular files and directories to archive from `dir`. Reads `dir`. */
export function archiveEntries(dir: string): { files: string[]; dirs: string[] } {
  const files: string[] = [];
  const dirs: string[] = [];
  const walk = (rel: string) => {
    for (const e of Deno.readDirSync(join(dir, rel))) {
      const r = rel === "" ? e.name : `${rel}/${e.name}`;
      if (skipInArchive(r)) continue;
      // A symlinked template counts as the file it names (vm start reads it so); other links are vm's.
      const templateLink = e.isSymlink && rel === F.templates;
      const st = templateLink ? Deno.statSync(join(dir, r)) : undefined;
      if (e.isDirectory) {
        dirs.push(r);
        walk(r);
      } else if (e.isFile || st?.isFile) files.push(r);
    }
  };
  walk("");
  return { files, dirs };
}

/** Refuses disks the archive cannot carry: outside the VM, named absolutely, or with a missing backing file. */
function checkPortable(cfg: Config, vm: Vm, model: VmModel): void {
  const elsewhere = join(dirname(model.dir), ".export-elsewhere");
  const there = diskPaths(elsewhere, readVmArgs(vm, vmEnv(cfg, elsewhere)).map((a) => a.value));
  model.disks.forEach((d, i) => {
    const rel = relative(model.dir, d.path);
    if (rel.startsWith("..")) {
      throw new UsageError(
        `Disk "${d.path}" of VM "${model.name}" is outside its directory; move it in and name ` +
          `it relative ("./${rel.split("/").pop()}") to export the VM`,
      );
    }
    if (there[i] !== join(elsewhere, rel)) {
      throw new UsageError(
        `A template of VM "${model.name}" names disk "${d.path}" by an absolute path or by the ` +
          `VM's name; write "./${rel}" to export the VM`,
      );
    }
    if (d.missingBacking !== undefined) {
      throw new UsageError(
        `Disk "${rel}" of VM "${model.name}" needs backing file "${d.missingBacking}", which ` +
          `cannot be opened; restore it first`,
      );
    }
  });
}

/**
 * Stages the archive's tree in `stage`: the manifest, and `vm/` of symlinks
 * to the VM's files and backing images (tar reads them through the links).
 */
function stageTree(
  stage: string,
  manifest: TarManifest,
  dirs: readonly string[],
  staged: readonly Staged[],
): void {
  writeFileAtomic(join(stage, MANIFEST), JSON.stringify(manifest, null, 2) + "\n");
  for (const d of ["", ...dirs]) makeDir(join(stage, VM_ROOT, d));
  for (const s of staged) {
    makeDir(dirname(join(stage, VM_ROOT, s.path)), MODE.dir, true);
    Deno.symlinkSync(s.source, join(stage, VM_ROOT, s.path));
  }
}

/**
 * Writes stopped VM `name` as an archive to `out` (see the module doc). The
 * staging directory is `$VMDIR/.export-<vm>-<pid>` (lib/images/leftovers.ts
 * knows it, and the `FILE.new` it records); `opts.signal` (Ctrl-C, TERM)
 * ends the export with InterruptedError and nothing left.
 */
export async function exportTar(
  cfg: Config,
  name: string,
  out: ArchiveEnd,
  opts: TarExportOptions,
): Promise<void> {
  const vm = inspectDir(requireVm(cfg.vmdir, name));
  const model = await readVmModel(cfg, vm);
  checkStopped(name, model.dir, "export it (its disks are changing)");
  checkPortable(cfg, vm, model);
  const { files, dirs } = archiveEntries(model.dir);
  const top = new Set([...files, ...dirs].map((p) => p.split("/")[0] ?? ""));
  const plan = planExport(name, model.dir, cfg.vmdir, model.disks, top, opts.noBacking);
  const stage = join(cfg.vmdir, `.export-${name}-${Deno.pid}`);
  removeTree(stage); // a PID's earlier run, killed
  makeDir(stage);
  try {
    const staged = [
      ...files.map((f) => ({ source: join(model.dir, f), path: f })),
      ...plan.backing,
    ];
    stageTree(stage, plan.manifest, dirs, staged);
    checkStopped(name, model.dir, "export it (its disks are changing)");
    const args = [
      "--create",
      "--sparse",
      "--dereference",
      "--format=gnu",
      "--owner=0",
      "--group=0",
    ];
    args.push("--numeric-owner", "--file=-", `--directory=${stage}`, MANIFEST, VM_ROOT);
    await writeArchive(args, out, stage, opts);
  } finally {
    removeTree(stage);
  }
}

/**
 * Runs tar `args` and sends its output to `out`: a file through `<file>.new`
 * (lib/os/fs.ts openAtomic: created exclusively, never through a symlink,
 * recorded in `stage` for the leftover finder), renamed when whole.
 */
async function writeArchive(
  args: string[],
  out: ArchiveEnd,
  stage: string,
  opts: TarExportOptions,
): Promise<void> {
  const signal = opts.signal;
  if ("stream" in out) {
    const stdout = (r: ReadableStream<Uint8Array>) =>
      pipeCounted(r, out.stream, opts.onProgress, signal);
    return await runTar(args, signal ? { stdout, signal } : { stdout });
  }
  const f = openAtomic(out.file);
  try {
    recordOutside(stage, f.tmp);
    const stdout = (r: ReadableStream<Uint8Array>) =>
      pipeCounted(r, f.writable, opts.onProgress, signal);
    await runTar(args, signal ? { stdout, signal } : { stdout });
    f.commit();
  } catch (e) {
    f.abort();
    throw e;
  }
}

/** Choices of `vm import tar`. */
export interface TarImportOptions {
  /** The new VM's name (default: the archive's). */
  name?: string;
  /** Keep the archive's hooks and QEMU arguments that reach the host (import_trust.ts). */
  trust?: boolean;
  /** Bytes of archive read so far. */
  onProgress?: (done: number, total?: number) => void;
  /** Ends the import (InterruptedError), leaving nothing. */
  signal?: AbortSignal;
}

/** What `vm import tar` made. */
export interface TarImportResult {
  name: string;
  dir: string;
  /** What it brought that reaches the host, and how each was disabled (import_trust.ts). */
  untrusted: Untrusted[];
  /** What was done for the SSH login of a VM made with --image (import_login.ts). */
  login?: MovedLogin;
  /** What of its private networks needs doing here (missingNetworks). */
  networks: string[];
}

/** Refuses anything but regular files and directories; sets modes. Reads and changes `dir`. */
function checkExtracted(dir: string): void {
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    const st = Deno.lstatSync(p);
    if (st.isDirectory) {
      Deno.chmodSync(p, 0o700);
      checkExtracted(p);
    } else if (st.isFile && st.nlink === 1) {
      Deno.chmodSync(p, ((st.mode ?? 0) & 0o100) !== 0 ? 0o700 : 0o600);
    } else {
      throw new UsageError(
        `The archive holds "${e.name}", which is not a plain file or directory; ` +
          `"vm export tar" never writes one: refusing the archive`,
      );
    }
  }
}

/** The bytes of archive `file`; UsageError when it does not exist. */
function openArchive(file: string): ReadableStream<Uint8Array> {
  try {
    return Deno.openSync(file, { read: true }).readable;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(`Archive "${file}" does not exist; give the file "vm export tar" wrote`);
    }
    throw e;
  }
}

/** The regular files under `dir`, walked. Reads `dir`. */
function regularFiles(dir: string): string[] {
  return [...Deno.readDirSync(dir)].flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory ? regularFiles(p) : e.isFile ? [p] : [];
  });
}

/**
 * What `check` (an image check of a file in `vm`) gives; its refusal names
 * the file as the archive does, not where the VM is being assembled.
 */
async function archived<T>(vm: string, check: Promise<T>): Promise<T> {
  try {
    return await check;
  } catch (e) {
    if (!(e instanceof UnsafeImageError) || !isInsideDir(vm, e.file)) throw e;
    throw new UsageError(`The archive's "${VM_ROOT}/${relative(vm, e.file)}" ${e.problem}`);
  }
}

/**
 * Makes the disks of the VM being assembled in `vm` (to become `final`)
 * whole and safe: each overlay checked alone (no data file; qemu-img rebase
 * opens it for writing) and rebased onto its backing image where it now is;
 * a backing image outside the archive must be in the image cache. Then
 * every file of the VM that QEMU could open as an image is checked with its
 * chain (lib/qemu/image_check.ts): raw or qcow2, no data file, backing files
 * only in the VM or the cache. Throws UsageError naming the file.
 */
async function rebaseChecked(
  m: TarManifest,
  vm: string,
  final: string,
  vmdir: string,
): Promise<void> {
  const cache = imagesDir(vmdir);
  for (const img of m.images) {
    if (img.path !== undefined && !exists(join(vm, img.path))) {
      throw new UsageError(`The archive lacks disk image "${img.path}" its manifest names`);
    }
  }
  for (const r of planRebases(m, vm, final, vmdir)) {
    if (r.external !== undefined && !exists(r.external)) {
      throw new UsageError(
        `Backing image "${r.external}" is not on this host; copy it here, or export with ` +
          `its backing images (without --no-backing)`,
      );
    }
    const real = r.external === undefined ? undefined : realPathOrUndefined(r.external);
    if (real !== undefined && !isInsideDir(realPathOrUndefined(cache) ?? cache, real)) {
      const where = real === r.external ? "" : ` (${real})`;
      throw new UsageError(
        `The archive's ${MANIFEST} names backing image "${r.external}"${where}, outside ` +
          `the image cache "${cache}"; import an archive made with its backing images`,
      );
    }
    await archived(vm, inspectOne(r.image, { backingDirs: [] }));
    await qemuImg(["rebase", "-u", "-F", r.format, "-b", r.backing, r.image]);
  }
  for (const file of regularFiles(vm)) {
    await archived(vm, inspectImage(file, { backingDirs: [vm, cache] }));
  }
}

/**
 * Imports an archive of `vm export tar` as a new VM (see the module doc): its
 * images checked (rebaseChecked), its hooks and host-reaching arguments
 * disabled unless `opts.trust` (import_trust.ts).
 */
export async function importTar(
  cfg: Config,
  src: ArchiveSource,
  opts: TarImportOptions,
): Promise<TarImportResult> {
  if (opts.name !== undefined && exists(vmPath(cfg.vmdir, opts.name))) {
    throw new VmExistsError(opts.name, cfg.vmdir);
  }
  defaultDir(cfg.vmdir); // before reading the archive: VMDIR and .default are there, or one line says how to make them
  const x = join(cfg.vmdir, `.untar-${opts.name ?? "vm"}-${Deno.pid}`);
  removeTree(x); // a PID's earlier run, killed
  makeDir(x);
  try {
    const args = ["--extract", "--no-same-owner", "--no-same-permissions", `--directory=${x}`];
    const stream = "file" in src ? openArchive(src.file) : src.stream;
    const stdin = (w: WritableStream<Uint8Array>) =>
      pipeCounted(stream, w, opts.onProgress, opts.signal);
    await runTar([...args, "--file=-"], opts.signal ? { stdin, signal: opts.signal } : { stdin });
    if (!exists(join(x, MANIFEST)) || !exists(join(x, VM_ROOT))) {
      throw new UsageError(
        `The archive has no ${MANIFEST} and ${VM_ROOT}/; is it made by "vm export tar"?`,
      );
    }
    checkExtracted(x);
    const manifest = parseManifest(Deno.readTextFileSync(join(x, MANIFEST)));
    const name = checkName(opts.name ?? manifest.name);
    let untrusted: Untrusted[] = [];
    let login: MovedLogin | undefined;
    const dir = await assembleVm(cfg.vmdir, name, "import", async (tmp, final) => {
      // The VM is `tmp` itself, as deep in VMDIR as `final`: relative backing names hold in both.
      const from = join(x, VM_ROOT);
      for (const e of Deno.readDirSync(from)) {
        Deno.renameSync(join(from, e.name), join(tmp, e.name));
      }
      await rebaseChecked(manifest, tmp, final, cfg.vmdir);
      login = await readyMovedLogin(cfg.vmdir, tmp, name);
      untrusted = distrustTree(tmp, final, vmEnv(cfg, final), opts.trust === true);
      return tmp;
    });
    const networks = networkNeeds(cfg.vmdir, name, dir);
    return { name, dir, untrusted, networks, ...(login === undefined ? {} : { login }) };
  } finally {
    removeTree(x);
  }
}

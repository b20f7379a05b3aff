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

import { dirname, join, relative } from "../os/path.ts";
import { exists } from "../os/fs.ts";
import { UsageError, VmExistsError } from "../errors.ts";
import type { Config } from "../vm/config.ts";
import { F } from "../vm/files.ts";
import { checkName } from "../vm/name.ts";
import { defaultDir, vmPath } from "../vm/dir.ts";
import { diskPaths } from "../qemu/drives.ts";
import { qemuImg } from "../qemu/img.ts";
import { checkStopped } from "../qemu/processes.ts";
import { readVmArgs, readVmModel, type VmModel } from "./vm_model.ts";
import { MANIFEST, parseManifest, planExport, planRebases, VM_ROOT } from "./tar_plan.ts";
import { assembleVm, removeTree } from "./assemble.ts";
import { pipeCounted, runTar } from "./tar_process.ts";
import { vmEnv } from "../vm/dir.ts";
import { skipInClone } from "../actions/clone.ts";
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
function checkPortable(cfg: Config, model: VmModel): void {
  const elsewhere = join(dirname(model.dir), ".export-elsewhere");
  const there = diskPaths(
    elsewhere,
    readVmArgs(model.dir, vmEnv(cfg, elsewhere)).map((a) => a.value),
  );
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

/** Writes stopped VM `name` as an archive to `out` (see the module doc). */
export async function exportTar(
  cfg: Config,
  name: string,
  out: ArchiveEnd,
  opts: TarExportOptions,
): Promise<void> {
  const model = await readVmModel(cfg, name);
  checkStopped(name, model.dir, "export it (its disks are changing)");
  checkPortable(cfg, model);
  const { files, dirs } = archiveEntries(model.dir);
  const top = new Set([...files, ...dirs].map((p) => p.split("/")[0] ?? ""));
  const plan = planExport(name, model.dir, cfg.vmdir, model.disks, top, opts.noBacking);
  const stage = Deno.makeTempDirSync({ prefix: "vm-export-" });
  try {
    Deno.writeTextFileSync(join(stage, MANIFEST), JSON.stringify(plan.manifest, null, 2) + "\n");
    Deno.mkdirSync(join(stage, VM_ROOT), { mode: 0o700 });
    for (const d of dirs) Deno.mkdirSync(join(stage, VM_ROOT, d), { mode: 0o700 });
    const staged = [
      ...files.map((f) => ({ source: join(model.dir, f), path: f })),
      ...plan.backing,
    ];
    for (const s of staged) {
      Deno.mkdirSync(dirname(join(stage, VM_ROOT, s.path)), { recursive: true, mode: 0o700 });
      Deno.symlinkSync(s.source, join(stage, VM_ROOT, s.path));
    }
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
    await writeArchive(args, out, opts.onProgress);
  } finally {
    removeTree(stage);
  }
}

/** Runs tar `args` and sends its output to `out` (a file through `<file>.new`). */
async function writeArchive(
  args: string[],
  out: ArchiveEnd,
  onProgress?: (done: number) => void,
): Promise<void> {
  if ("stream" in out) {
    return await runTar(args, { stdout: (r) => pipeCounted(r, out.stream, onProgress) });
  }
  const tmp = out.file + ".new";
  const f = await Deno.open(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
  try {
    await runTar(args, { stdout: (r) => pipeCounted(r, f.writable, onProgress) });
    Deno.renameSync(tmp, out.file);
  } catch (e) {
    removeTree(tmp);
    throw e;
  }
}

/** Choices of `vm import tar`. */
export interface TarImportOptions {
  /** The new VM's name (default: the archive's). */
  name?: string;
  /** Bytes of archive read so far. */
  onProgress?: (done: number, total?: number) => void;
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

/** Imports an archive of `vm export tar` as a new VM (see the module doc). Returns the VM's name. */
export async function importTar(
  cfg: Config,
  src: ArchiveSource,
  opts: TarImportOptions,
): Promise<{ name: string; dir: string; login?: MovedLogin }> {
  if (opts.name !== undefined && exists(vmPath(cfg.vmdir, opts.name))) {
    throw new VmExistsError(opts.name, cfg.vmdir);
  }
  defaultDir(cfg.vmdir); // before reading the archive: the VM's scripts link into .default
  const x = join(cfg.vmdir, `.untar-${opts.name ?? "vm"}-${Deno.pid}`);
  Deno.mkdirSync(x, { mode: 0o700 });
  try {
    const args = ["--extract", "--no-same-owner", "--no-same-permissions", `--directory=${x}`];
    const stream = "file" in src ? openArchive(src.file) : src.stream;
    await runTar([...args, "--file=-"], { stdin: (w) => pipeCounted(stream, w, opts.onProgress) });
    if (!exists(join(x, MANIFEST)) || !exists(join(x, VM_ROOT))) {
      throw new UsageError(
        `The archive has no ${MANIFEST} and ${VM_ROOT}/; is it made by "vm export tar"?`,
      );
    }
    checkExtracted(x);
    const manifest = parseManifest(Deno.readTextFileSync(join(x, MANIFEST)));
    const name = checkName(opts.name ?? manifest.name);
    let login: MovedLogin | undefined;
    const dir = await assembleVm(cfg.vmdir, name, "import", async (tmp, final) => {
      const vm = join(tmp, VM_ROOT);
      Deno.renameSync(join(x, VM_ROOT), vm);
      for (const img of manifest.images) {
        if (img.path !== undefined && !exists(join(vm, img.path))) {
          throw new UsageError(
            `The archive lacks disk image "${img.path}" its manifest names`,
          );
        }
      }
      for (const r of planRebases(manifest, vm, final, cfg.vmdir)) {
        if (r.external !== undefined && !exists(r.external)) {
          throw new UsageError(
            `Backing image "${r.external}" is not on this host; copy it here, or export with ` +
              `its backing images (without --no-backing)`,
          );
        }
        await qemuImg(["rebase", "-u", "-F", r.format, "-b", r.backing, r.image]);
      }
      login = await readyMovedLogin(cfg.vmdir, vm, name);
      return vm;
    });
    return { name, dir, ...(login === undefined ? {} : { login }) };
  } finally {
    removeTree(x);
  }
}

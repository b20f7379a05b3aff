/**
 * The image cache beside the catalog: `vm image list` (every catalog entry
 * and every cached image: size on disk, cached yes/no/partial n%, and the VMs
 * whose disks are backed by it), `vm image import` (a local disk image
 * copied in as a standalone qcow2, raw converted, with progress) and
 * `vm image rm` (refused while a VM disk's backing chain uses the image).
 * Reads `$VMDIR/*` (VM templates and disks, through `qemu-img info
 * --backing-chain`); writes `$VMDIR/.images/`. Level: actions (lib/images,
 * uses lib/qemu and lib/vm/disk_paths.ts).
 * @module
 */

import { dirname, join, resolve } from "../os/path.ts";
import { makeDir, realPathOrUndefined, removeTree } from "../os/fs.ts";
import { openStreamHash } from "../os/stream_hash.ts";
import { CheckFailedError, ParseError, SystemError, UsageError } from "../errors.ts";
import type { Config } from "../vm/config.ts";
import { listVms, vmPath } from "../vm/dir.ts";
import { backingChain, qemuImgProgress } from "../qemu/img.ts";
import { inspectImage } from "../qemu/image_check.ts";
import { type CatalogEntry, checkImageName, type ImageKind } from "./catalog.ts";
import { hashPrefix, readPartMeta } from "./download.ts";
import { ensureImagesDir, imageFile, imagesDir, scanStore, type StoredFile } from "./store.ts";
import { type ImportMeta, readMeta, removeMeta, writeMeta } from "./meta.ts";
import { vmDisks } from "../vm/disk_paths.ts";

/** The disks of the VM in `dir` to look at: those its templates name and its top-level *.qcow2 files. */
function diskCandidates(cfg: Config, dir: string): string[] {
  let disks: string[] = [];
  try {
    disks = vmDisks(cfg, dir);
  } catch (e) {
    if (!(e instanceof ParseError)) throw e; // a broken template: its top-level disks still count
  }
  for (const e of Deno.readDirSync(dir)) {
    if (e.isFile && e.name.endsWith(".qcow2")) disks.push(join(dir, e.name));
  }
  return [...new Set(disks)];
}

/** The real paths of every file in the backing chain of `disk` (not the disk itself). Runs qemu-img. */
async function backingFiles(disk: string): Promise<string[]> {
  const chain = await backingChain(disk);
  const names = [
    ...chain.slice(1).map((i) => i.filename),
    ...chain.map((i) => i["full-backing-filename"] ?? i["backing-filename"]),
  ].filter((b): b is string => b !== undefined);
  return names.map((b) => {
    const abs = resolve(dirname(disk), b);
    return realPathOrUndefined(abs) ?? abs;
  });
}

/**
 * Which VMs use which backing files: real path of a backing file → names of
 * the VMs with a disk whose chain contains it. A disk qemu-img cannot read
 * depends on nothing. Reads every VM's templates; runs qemu-img per disk.
 */
export async function backingUsers(cfg: Config): Promise<Map<string, string[]>> {
  const users = new Map<string, string[]>();
  for (const vm of listVms(cfg.vmdir)) {
    for (const disk of diskCandidates(cfg, vmPath(cfg.vmdir, vm))) {
      let files: string[];
      try {
        files = await backingFiles(disk);
      } catch (e) {
        if (e instanceof SystemError) continue; // qemu-img cannot read it: it depends on nothing
        throw e;
      }
      for (const f of files) {
        const list = users.get(f) ?? [];
        if (!list.includes(vm)) users.set(f, [...list, vm]);
      }
    }
  }
  return users;
}

/** One line of `vm image list`. */
export interface ImageRow {
  name: string;
  /** QEMU arch; "" when unknown or any. */
  arch: string;
  kind: ImageKind;
  /** Bytes on disk of the cached image or its `.part`. */
  size?: number;
  cached: "yes" | "no" | "partial";
  /** For a partial download whose size is known: percent done. */
  percent?: number;
  usedBy: string[];
  /** The cached file. */
  path?: string;
  /** The catalog has the name. */
  inCatalog: boolean;
}

/** Bytes on disk of `path` (blocks used). */
function onDisk(path: string): number {
  const st = Deno.statSync(path);
  return (st.blocks ?? 0) * 512 || st.size;
}

/** A row for the stored file `f` (complete or partial), with its users. */
function storedRow(f: StoredFile, users: Map<string, string[]>, base: Partial<ImageRow>): ImageRow {
  const meta = readPartMeta(f.path);
  const row: ImageRow = {
    name: f.name,
    arch: base.arch ?? meta?.arch ?? "",
    kind: base.kind ?? (f.ext === "iso" ? "iso" : "disk"),
    size: onDisk(f.path),
    cached: f.partial ? "partial" : "yes",
    usedBy: f.partial ? [] : users.get(realPathOrUndefined(f.path) ?? f.path) ?? [],
    path: f.path,
    inCatalog: base.inCatalog ?? false,
  };
  if (f.partial && meta?.total) {
    row.percent = Math.min(100, Math.floor((Deno.statSync(f.path).size / meta.total) * 100));
  }
  return row;
}

/**
 * The catalog entries for `arch` (and any arch) and every cached image,
 * catalog order first: a cached file counts for the entry of its name whose
 * arch it was pulled for (or any, when not recorded). Reads `$VMDIR/.images`
 * and every VM's disks.
 */
export async function imageRows(
  cfg: Config,
  allEntries: readonly CatalogEntry[],
  arch: string,
): Promise<ImageRow[]> {
  const catalog = allEntries.filter((e) => e.arch === arch || e.arch === "");
  const stored = scanStore(imagesDir(cfg.vmdir));
  const users = await backingUsers(cfg);
  const used = new Set<StoredFile>();
  const rows: ImageRow[] = [];
  for (const e of catalog) {
    const f = stored.find((s) => {
      const arch = readPartMeta(s.path)?.arch;
      return s.name === e.name && !used.has(s) &&
        (arch === undefined || arch === e.arch || e.arch === "");
    });
    const base = { arch: e.arch, kind: e.kind, inCatalog: true };
    if (f === undefined) {
      rows.push({
        name: e.name,
        arch: e.arch,
        kind: e.kind,
        cached: "no",
        usedBy: [],
        inCatalog: true,
      });
      continue;
    }
    used.add(f);
    rows.push(storedRow(f, users, base));
  }
  for (const f of stored) if (!used.has(f)) rows.push(storedRow(f, users, {}));
  return rows;
}

/** The VMs whose disks are backed by `path`. Reads every VM's disks. */
export async function usersOf(cfg: Config, path: string): Promise<string[]> {
  return (await backingUsers(cfg)).get(realPathOrUndefined(path) ?? path) ?? [];
}

/** What `vm image import` did. */
export interface ImportResult {
  name: string;
  path: string;
  /** The source's format (qcow2, raw, …). */
  from: string;
}

/** The SHA-256 of the whole file `path`, hex. Reads it. */
async function sha256Of(path: string): Promise<string> {
  const file = await Deno.open(path, { read: true });
  const hash = await openStreamHash("sha256");
  try {
    await hashPrefix(file, (await file.stat()).size, hash);
    return hash.hex();
  } finally {
    hash.close();
    file.close();
  }
}

/**
 * Whether the cached `image` was imported from a file with the same bytes
 * as `file`: same size, and the same mtime or (else) the same SHA-256 as
 * recorded at import. False when nothing was recorded (pulled, or imported
 * by an older vm). Reads `file` (hashing it only when its mtime differs).
 */
export async function sameImport(image: string, file: string): Promise<boolean> {
  const meta = readMeta(image)?.import;
  if (meta === undefined) return false;
  const st = Deno.statSync(file);
  if (st.size !== meta.size) return false;
  return st.mtime?.getTime() === meta.mtime || await sha256Of(file) === meta.sha256;
}

/**
 * Copies the disk image `file` into the cache as `<name>.qcow2` (0400): a
 * standalone qcow2 (raw converted, a qcow2's backing chain flattened),
 * written in `$VMDIR/.images/.image-import-<name>-<pid>/` (a leftover
 * lib/images/leftovers.ts knows when killed), with the file's size, mtime and
 * SHA-256 recorded in its `.meta` (lib/images/meta.ts, see sameImport). The
 * file is checked first (lib/qemu/image_check.ts): raw or qcow2, no data
 * file, backing files only in the cache. Refused (UsageError) for a name already cached or being
 * pulled, or a file qemu-img cannot read. `onProgress` gets bytes of the
 * virtual size. Runs qemu-img; writes `$VMDIR/.images/`.
 */
export async function importImage(
  cfg: Config,
  name: string,
  file: string,
  onProgress?: (done: number, total?: number) => void,
): Promise<ImportResult> {
  checkImageName(name);
  const dir = ensureImagesDir(cfg.vmdir);
  if (scanStore(dir).some((f) => f.name === name)) {
    throw new UsageError(
      `An image "${name}" is already cached (or being pulled); choose another name, or ` +
        `remove it first with "vm image rm ${name}"`,
    );
  }
  const src = resolve(file);
  const [info] = await inspectImage(src, { backingDirs: [dir] });
  const path = imageFile(dir, name, "qcow2");
  const work = join(dir, `.image-import-${name}-${Deno.pid}`); // the cache's file system
  removeTree(work); // a PID's earlier run, killed
  makeDir(work);
  const tmp = join(work, `${name}.qcow2`);
  const size = info["virtual-size"];
  try {
    const st = Deno.statSync(src);
    const [sha256] = await Promise.all([
      sha256Of(src),
      qemuImgProgress(
        ["convert", "-p", "-f", info.format, "-O", "qcow2", src, tmp],
        (pct) => onProgress?.(Math.round((pct / 100) * size), size),
      ),
    ]);
    const meta: ImportMeta = { size: st.size, mtime: st.mtime?.getTime() ?? 0, sha256 };
    writeMeta(path, { import: meta }); // before the image: one killed here is a leftover
    Deno.chmodSync(tmp, 0o400);
    Deno.renameSync(tmp, path);
  } finally {
    removeTree(work);
  }
  return { name, path, from: info.format };
}

/**
 * Removes the cached image `name` (and a `.part` of it, and its `.meta`).
 * Refused with CheckFailedError naming the VMs while any VM disk is backed by it;
 * UsageError when nothing of that name is cached. Returns the files removed.
 * Writes `$VMDIR/.images/`.
 */
export async function removeImage(cfg: Config, name: string): Promise<string[]> {
  const files = scanStore(imagesDir(cfg.vmdir)).filter((f) => f.name === name);
  if (files.length === 0) {
    throw new UsageError(`No image "${name}" in the cache; "vm image list" shows what is cached`);
  }
  const whole = files.find((f) => !f.partial);
  const users = whole === undefined ? [] : await usersOf(cfg, whole.path);
  if (users.length > 0) {
    throw new CheckFailedError(
      `Image "${name}" is the base of the disks of ${users.map((v) => `"${v}"`).join(", ")}; ` +
        `removing it would break them: destroy those VMs, or give each a standalone disk ` +
        `("vm clone <vm> <new>" makes a full copy), then remove it`,
    );
  }
  for (const f of files) {
    Deno.removeSync(f.path);
    removeMeta(f.path);
  }
  return files.map((f) => f.path);
}

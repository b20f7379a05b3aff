/**
 * Where images are kept: `$VMDIR/.images/<name>.<ext>` (read-only, 0400,
 * once complete and verified) and `<name>.<ext>.part` while downloading.
 * The extension is the source file's (qcow2, img, raw or iso); compressed
 * files are refused (QEMU cannot boot them). Names follow the VM name rules.
 * Pure but for `ensureImagesDir` and `scanStore`, which touch `$VMDIR/.images`.
 * Level: vm (lib/images, no qemu).
 * @module
 */

import { join } from "../os/path.ts";
import { SystemError, UsageError } from "../errors.ts";
import type { ImageKind } from "./catalog.ts";
import { isValidName } from "../vm/name.ts";
import { IMAGES_DIR } from "../layout.ts";

/** Suffix of a download in progress (or interrupted: resumable). */
export const PART_SUFFIX = ".part";

/** Extensions a cached disk image may have. */
export const DISK_EXTS = ["qcow2", "img", "raw"] as const;

/** The extension of a cached ISO. */
export const ISO_EXT = "iso";

const COMPRESSED = ["xz", "gz", "zst", "bz2", "zip", "tar", "tgz", "7z"];

/** `$VMDIR/.images`. Pure. */
export function imagesDir(vmdir: string): string {
  return join(vmdir, IMAGES_DIR);
}

/**
 * Creates `$VMDIR/.images` (mode 0700) when missing; returns its path. Throws
 * SystemError when VMDIR is missing or it cannot be made. Writes `$VMDIR/.images`.
 */
export function ensureImagesDir(vmdir: string): string {
  const dir = imagesDir(vmdir);
  try {
    Deno.mkdirSync(dir, { mode: 0o700 });
    Deno.chmodSync(dir, 0o700);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new SystemError(
        `VMDIR "${vmdir}" does not exist; run ./install.sh, or set VMDIR to your VMs' directory`,
      );
    }
    if (!(e instanceof Deno.errors.AlreadyExists)) {
      throw new SystemError(`Cannot create "${dir}": ${(e as Error).message}`);
    }
  }
  return dir;
}

/** Path of the complete image `name`.`ext` in `dir`. Pure. */
export function imageFile(dir: string, name: string, ext: string): string {
  return join(dir, `${name}.${ext}`);
}

/** The last path part of a URL's path (percent-decoding kept as is). Pure. */
export function urlFileName(url: string): string {
  const path = new URL(url).pathname;
  return path.slice(path.lastIndexOf("/") + 1);
}

/**
 * The cache extension for a source file name: its own when it is qcow2, img,
 * raw or iso (any case); otherwise `img` for a disk, `iso` for an ISO. Throws
 * UsageError for a compressed file. Pure.
 */
export function extFor(fileName: string, kind: ImageKind): string {
  const dot = fileName.lastIndexOf(".");
  const ext = dot < 0 ? "" : fileName.slice(dot + 1).toLowerCase();
  if (COMPRESSED.includes(ext)) {
    throw new UsageError(
      `"${fileName}" is compressed (.${ext}); QEMU cannot use it as it is: decompress it and ` +
        `add it with "vm image import <name> <file>"`,
    );
  }
  if (kind === "iso") return ISO_EXT;
  return (DISK_EXTS as readonly string[]).includes(ext) ? ext : "img";
}

/**
 * An image name made from a source file name: the name without its
 * extension, characters a name may not have replaced by `-`, at most 64
 * bytes. Throws UsageError when nothing usable is left. Pure.
 */
export function nameFromFile(fileName: string): string {
  const dot = fileName.lastIndexOf(".");
  const stem = dot > 0 ? fileName.slice(0, dot) : fileName;
  const name = stem.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 64);
  if (!isValidName(name)) {
    throw new UsageError(
      `Cannot make an image name of "${fileName}"; add it with "vm image import <name> <file>"`,
    );
  }
  return name;
}

/** One file of the cache. */
export interface StoredFile {
  name: string;
  ext: string;
  path: string;
  /** A `.part`: a download not finished. */
  partial: boolean;
}

/** Reads a cache file name (`<name>.<ext>` or `<name>.<ext>.part`); undefined for other files. Pure. */
export function parseStoredName(dir: string, fileName: string): StoredFile | undefined {
  const partial = fileName.endsWith(PART_SUFFIX);
  const base = partial ? fileName.slice(0, -PART_SUFFIX.length) : fileName;
  const dot = base.lastIndexOf(".");
  if (dot <= 0) return undefined;
  const name = base.slice(0, dot);
  const ext = base.slice(dot + 1);
  if (![...DISK_EXTS, ISO_EXT].includes(ext) || !isValidName(name)) return undefined;
  return { name, ext, path: join(dir, fileName), partial };
}

/** The images and partial downloads in `dir`, sorted by name; [] when it does not exist. Reads `dir`. */
export function scanStore(dir: string): StoredFile[] {
  const out: StoredFile[] = [];
  try {
    for (const e of Deno.readDirSync(dir)) {
      const f = e.isFile ? parseStoredName(dir, e.name) : undefined;
      if (f !== undefined) out.push(f);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The complete cached image `name` in `dir`, if any. Reads `dir`. */
export function findStored(dir: string, name: string): StoredFile | undefined {
  return scanStore(dir).find((f) => f.name === name && !f.partial);
}

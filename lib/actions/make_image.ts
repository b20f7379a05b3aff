/**
 * `vm make --image` and `vm make <vm> <catalog-iso>`: from what the user
 * named (a catalog or cached image name, a URL, a local file) to a cached
 * image, pulled or imported when needed, and from there to the VM's disk (a
 * qcow2 overlay on the cached image, or with `--copy` a standalone copy).
 * The caller (`vm make`) resolves the image before it writes anything, then
 * creates the disk inside the VM directory it assembles.
 * Reads the catalog and `$VMDIR/.images/`; may download or import into it;
 * writes the disk it is told to create.
 * @module
 */

import { basename, resolve } from "../os/path.ts";
import { UsageError } from "../errors.ts";
import type { Config } from "../vm/config.ts";
import { type CatalogEntry, findEntry, type ImageKind } from "../images/catalog.ts";
import { importImage, type ImportResult, sameImport } from "../images/cache.ts";
import type { TransferEvents } from "../images/download.ts";
import { createImageDisk, type ImageDisk, parseSize } from "../images/overlay.ts";
import { isUrlArg, pullImage, type PullOutcome, type PullRequest } from "../images/pull.ts";
import { findStored, imagesDir, nameFromFile } from "../images/store.ts";
import type { Checksum } from "../images/sums.ts";
import { statIfExists } from "../os/fs.ts";

/** What `--image` (or the ISO argument) names, and how to fetch it. */
export interface ImageArg {
  /** A catalog or cached image name, an https://, http:// or file:// URL, or a local file. */
  image: string;
  /** QEMU arch for catalog entries. */
  arch: string;
  checksum?: Checksum;
  insecure?: boolean;
}

/** An image ready to make a disk from. */
export interface ResolvedImage {
  name: string;
  /** The image file: in the cache, or (a local file with `--copy`) where it is. */
  path: string;
  kind: ImageKind;
  /** Set when it was pulled now (or found cached by the pull). */
  pulled?: PullOutcome;
  /** Set when a local file was imported now. */
  imported?: ImportResult;
}

/** How an image argument reads. */
export type ImageArgKind = "url" | "name" | "file";

/**
 * How `arg` reads: a URL (scheme://), a file (it has a `/`, or it exists and
 * is no known image name), else a name. Pure but for the two lookups given.
 */
export function classifyImageArg(
  arg: string,
  isKnownName: (name: string) => boolean,
  isFile: (path: string) => boolean,
): ImageArgKind {
  if (isUrlArg(arg)) return "url";
  if (arg.includes("/")) return "file";
  if (isKnownName(arg)) return "name";
  return isFile(arg) ? "file" : "name";
}

function isFile(path: string): boolean {
  return statIfExists(path)?.isFile === true;
}

/**
 * Imports the local `file` under the name of its file name; when that name
 * is cached already, the cached image is used if it was imported from the
 * same bytes (sameImport), else refused.
 */
async function importLocal(
  cfg: Config,
  file: string,
  onProgress?: (done: number, total?: number) => void,
): Promise<ResolvedImage> {
  if (!isFile(file)) throw new UsageError(`Image file "${file}" does not exist or is not a file`);
  const name = nameFromFile(basename(file));
  const stored = findStored(imagesDir(cfg.vmdir), name);
  if (stored !== undefined) {
    if (await sameImport(stored.path, file)) return { name, path: stored.path, kind: "disk" };
    throw new UsageError(
      `An image "${name}" is already cached, not imported from these bytes; give --image ` +
        `${name} to use it, or add this file under another name with "vm image import <name> ` +
        `${file}"`,
    );
  }
  const imported = await importImage(cfg, name, file, onProgress);
  return { name, path: imported.path, kind: "disk", imported };
}

/**
 * Makes `arg` a usable image: a name or URL is pulled (nothing fetched when
 * cached), a local file is imported into the cache, or with `copy` used
 * where it is. `ev.onProgress` reports the download or import. Throws
 * UsageError for an unknown name or unusable file, SystemError for a failed
 * pull; see pullImage.
 */
export async function resolveImage(
  cfg: Config,
  catalog: readonly CatalogEntry[],
  arg: ImageArg,
  copy: boolean,
  ev: TransferEvents = {},
): Promise<ResolvedImage> {
  const known = (n: string) =>
    catalog.some((e) => e.name === n) || findStored(imagesDir(cfg.vmdir), n) !== undefined;
  const how = classifyImageArg(arg.image, known, isFile);
  if (how === "file") {
    if (!copy) return await importLocal(cfg, arg.image, ev.onProgress);
    if (!isFile(arg.image)) {
      throw new UsageError(`Image file "${arg.image}" does not exist or is not a file`);
    }
    return { name: basename(arg.image), path: resolve(arg.image), kind: "disk" };
  }
  const stored = how === "name" ? findStored(imagesDir(cfg.vmdir), arg.image) : undefined;
  if (stored !== undefined && !catalog.some((e) => e.name === arg.image)) {
    return { name: stored.name, path: stored.path, kind: stored.ext === "iso" ? "iso" : "disk" };
  }
  const req: PullRequest = { what: arg.image, arch: arg.arch };
  if (arg.checksum !== undefined) req.checksum = arg.checksum;
  if (arg.insecure !== undefined) req.insecure = arg.insecure;
  const pulled = await pullImage(cfg.vmdir, catalog, req, ev);
  return { name: pulled.name, path: pulled.path, kind: pulled.kind, pulled };
}

/**
 * Creates the VM disk `drive` (must not exist) from `img`: an overlay on it,
 * or with `copy` a standalone qcow2 (progress through `onProgress`); its size
 * is `disk` (default VMCONF_DEFAULT_DRIVE), raised to the image's size when
 * smaller. Throws UsageError for an ISO or a bad size. Writes `drive`.
 */
export async function makeImageDisk(
  cfg: Config,
  drive: string,
  img: ResolvedImage,
  opts: { disk?: string; copy?: boolean; onProgress?: (done: number, total?: number) => void },
): Promise<ImageDisk> {
  if (img.kind === "iso") {
    throw new UsageError(
      `"${img.name}" is an ISO, not a disk image; boot it with "vm make <vm> ${img.name}"`,
    );
  }
  const asked = parseSize(opts.disk ?? cfg.defaultDrive);
  return await createImageDisk(drive, img.path, asked, opts);
}

/**
 * For `vm make <vm> <iso>`: when `arg` names an ISO of the catalog (or a
 * cached one) and is not an existing file, pulls it if needed and returns its
 * cached path; otherwise undefined (the caller takes `arg` as a path). Throws
 * UsageError when `arg` names a disk image, SystemError for a failed pull.
 */
export async function resolveIso(
  cfg: Config,
  catalog: readonly CatalogEntry[],
  arg: string,
  arch: string,
  ev: TransferEvents = {},
): Promise<string | undefined> {
  if (arg.includes("/") || isFile(arg)) return undefined;
  const cached = findStored(imagesDir(cfg.vmdir), arg);
  const entry = catalog.some((e) => e.name === arg) ? findEntry(catalog, arg, arch) : undefined;
  if (entry === undefined && cached === undefined) return undefined;
  if ((entry?.kind ?? (cached?.ext === "iso" ? "iso" : "disk")) !== "iso") {
    throw new UsageError(
      `"${arg}" is a disk image, not an ISO; make a VM from it with "vm make <vm> --image ${arg}"`,
    );
  }
  const img = await resolveImage(cfg, catalog, { image: arg, arch }, false, ev);
  return img.path;
}

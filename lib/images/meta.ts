/**
 * What the image cache knows of a file beyond its bytes, in `<image>.meta`
 * beside it (JSON, 0600, written atomically): for a download, its URL, size,
 * validator and arch, written when the `.part` starts and kept when it
 * becomes the image (for the resume, `vm image list`, readyForUse and
 * nomad's artifact); for an import, the source file's size, mtime and
 * SHA-256. It is removed with the `.part` or the image; one left without
 * either is a leftover (lib/images/leftovers.ts), named after the PID that wrote
 * it. Reads and writes `$VMDIR/.images/<image>.meta`.
 * Level: vm (lib/images, no qemu).
 * @module
 */

import { NEW_SUFFIX, readTextIfExists, removeIfExists, writeFileAtomic } from "../os/fs.ts";
import { PART_SUFFIX } from "./store.ts";

/** Suffix of the file holding an image's metadata. */
export const META_SUFFIX = ".meta";

/** What a download records: where from, its size and validator, the arch it is for. */
export interface PartMeta {
  url: string;
  total?: number;
  validator?: string;
  arch?: string;
}

/** What an imported image records of its source file: its size, mtime (ms) and SHA-256. */
export interface ImportMeta {
  size: number;
  mtime: number;
  sha256: string;
}

/** The content of a `.meta` file. */
export interface ImageMeta {
  /** The PID of the vm that wrote it. */
  pid: number;
  download?: PartMeta;
  import?: ImportMeta;
}

/** The metadata file of the cached image or `.part` `file`. Pure. */
export function metaPath(file: string): string {
  const image = file.endsWith(PART_SUFFIX) ? file.slice(0, -PART_SUFFIX.length) : file;
  return image + META_SUFFIX;
}

/**
 * The image file name a metadata file name (`<image>.meta`, or the
 * `<image>.meta.new` of a write cut short) belongs to, or undefined when
 * `name` is no metadata file's. Pure.
 */
export function metaOwner(name: string): string | undefined {
  for (const suffix of [META_SUFFIX, META_SUFFIX + NEW_SUFFIX]) {
    if (name.endsWith(suffix) && name.length > suffix.length) return name.slice(0, -suffix.length);
  }
  return undefined;
}

/** The metadata in the file `path`, or undefined when it is missing or not one vm wrote. */
export function readMetaFile(path: string): ImageMeta | undefined {
  const text = readTextIfExists(path);
  if (text === undefined) return undefined;
  let meta: unknown;
  try {
    meta = JSON.parse(text);
  } catch (e) {
    if (e instanceof SyntaxError) return undefined; // cut short, or not ours: nothing known
    throw e;
  }
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) return undefined;
  const m = meta as ImageMeta;
  return typeof m.pid === "number" ? m : undefined;
}

/** The metadata of the cached image or `.part` `file`, if any. Reads `<image>.meta`. */
export function readMeta(file: string): ImageMeta | undefined {
  return readMetaFile(metaPath(file));
}

/** Records `meta` for the cached image or `.part` `file`, with this PID. Writes `<image>.meta`. */
export function writeMeta(file: string, meta: Omit<ImageMeta, "pid">): void {
  writeFileAtomic(metaPath(file), JSON.stringify({ pid: Deno.pid, ...meta }) + "\n");
}

/** Removes the metadata of the cached image or `.part` `file` (and a write of it cut short). */
export function removeMeta(file: string): void {
  removeIfExists(metaPath(file));
  removeIfExists(metaPath(file) + NEW_SUFFIX);
}

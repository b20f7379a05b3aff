/**
 * Disk images from outside are hostile until checked: a qcow2 can name an
 * external data file (`data-file`, any host file, which QEMU then gives the
 * guest as its disk), a backing file anywhere on the host, or a `json:` or
 * protocol filename (`nbd://…`, `json:{"driver":…}`) that makes QEMU open a
 * network connection; a vmdk names extent files. So every image vm takes in
 * (pull, `vm image import`, `vm make --image`, `vm import tar|libvirt`) and
 * every disk `vm doctor` looks at is inspected here, one image of its chain
 * at a time: a qcow2's header is read first for a data file (a `qemu-img`
 * without the CVE-2024-4467 fix opens it), then `qemu-img info
 * --output=json` (which opens no backing file) runs on the regular file,
 * then on the backing file it names, only once that name has passed the
 * checks (`--backing-chain` would open it first: a FIFO there hangs
 * qemu-img, a protocol name connects). Runs `qemu-img`; reads the images'
 * headers.
 * @module
 */

import { dirname, resolve } from "../os/path.ts";
import { isInsideDir, realPathOrUndefined, statIfExists } from "../os/fs.ts";
import { UsageError } from "../errors.ts";
import { type ImageInfo, qemuImg, QemuImgFailed } from "./img.ts";

/** What an image's chain may hold. */
export interface ImagePolicy {
  /** Directories backing files may lie in (their real paths are compared); none: no backing file. */
  backingDirs: readonly string[];
  /** Formats every image of the chain may have; default raw and qcow2. Empty: any. */
  formats?: readonly string[];
}

/** The formats vm takes in: neither names other files (a vmdk, for one, names its extents). */
export const SAFE_FORMATS = ["raw", "qcow2"] as const;

/** Longest chain followed (a loop of backing files ends here). */
const MAX_DEPTH = 16;

/** An image vm will not use, and why: one line naming the file. */
export class UnsafeImageError extends UsageError {
  constructor(readonly file: string, readonly problem: string) {
    super(`Image "${file}" ${problem}`);
  }
}

/** Whether a backing file name is a protocol or `json:` name (a `:` before any `/`), as QEMU reads it. Pure. */
export function isProtocolName(name: string): boolean {
  return /^[^/]*:/.test(name);
}

/** The external data file a qcow2's info names, if any. Pure. */
export function dataFileOf(info: ImageInfo): string | undefined {
  const df = info["format-specific"]?.data?.["data-file"];
  return typeof df === "string" ? df : undefined;
}

/** The problem of an image with the external data file `name`. Pure. */
function dataFileProblem(name: string): string {
  return `names an external data file "${name}", which QEMU would give the guest as its disk ` +
    "(any file of this host); vm refuses such images";
}

/** qcow2's magic, its incompatible feature "external data file", and its header extension. */
const QCOW2_MAGIC = 0x514649fb;
const INCOMPAT_DATA_FILE = 1n << 2n;
const EXT_DATA_FILE = 0x44415441;

/**
 * The external data file the qcow2 header `head` (the file's first bytes)
 * declares: its name from the header extension, "" when only the feature
 * bit says so; undefined when it has none or is no qcow2 (version 3). Pure.
 */
export function qcow2DataFile(head: Uint8Array): string | undefined {
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (head.length < 104 || v.getUint32(0) !== QCOW2_MAGIC || v.getUint32(4) < 3) return undefined;
  if ((v.getBigUint64(72) & INCOMPAT_DATA_FILE) === 0n) return undefined;
  for (let at = v.getUint32(100); at + 8 <= head.length;) {
    const [type, len] = [v.getUint32(at), v.getUint32(at + 4)];
    if (type === 0 || at + 8 + len > head.length) break;
    if (type === EXT_DATA_FILE) {
      return new TextDecoder().decode(head.subarray(at + 8, at + 8 + len));
    }
    at += 8 + Math.ceil(len / 8) * 8;
  }
  return "";
}

/** The first 64 KiB of `path` (a qcow2 header and its extensions fit in them). Reads it. */
function headOf(path: string): Uint8Array {
  const f = Deno.openSync(path, { read: true });
  try {
    const buf = new Uint8Array(65536);
    let n = 0;
    while (n < buf.length) {
      const got = f.readSync(buf.subarray(n));
      if (got === null) break;
      n += got;
    }
    return buf.subarray(0, n);
  } finally {
    f.close();
  }
}

/** What is wrong with one image of a chain (its info read), or undefined. Pure. */
export function infoProblem(info: ImageInfo, policy: ImagePolicy): string | undefined {
  const formats = policy.formats ?? SAFE_FORMATS;
  if (formats.length > 0 && !formats.includes(info.format)) {
    return `is a ${info.format} image; vm takes ${formats.join(" or ")} only: convert it ` +
      `("qemu-img convert -O qcow2 …") if you trust it`;
  }
  const df = dataFileOf(info);
  if (df !== undefined) return dataFileProblem(df);
  const b = info["backing-filename"];
  if (b !== undefined && isProtocolName(b)) {
    return `names backing file "${b}", a json: or protocol name (QEMU would open what it says); ` +
      "vm refuses such images";
  }
  return undefined;
}

/** Where a backing file must be, in words. Pure. */
function placesLine(dirs: readonly string[]): string {
  return dirs.length === 0
    ? "an image from outside must be standalone"
    : `backing files must be in ${dirs.map((d) => `"${d}"`).join(" or ")}`;
}

/**
 * The real path of backing file `name` of `image`, checked to lie inside one
 * of the policy's directories (a missing one, or not a regular file, is
 * refused when read next). Throws UnsafeImageError.
 */
function checkedBacking(image: string, name: string, policy: ImagePolicy): string {
  const path = resolve(dirname(image), name);
  const real = realPathOrUndefined(path) ?? path;
  const dirs = policy.backingDirs.map((d) => realPathOrUndefined(d) ?? d);
  if (dirs.some((d) => isInsideDir(d, real))) return real;
  const where = real === name ? "" : ` (${real})`;
  const flatten = dirs.length === 0 ? "" : "; flatten it (qemu-img convert) if you trust it";
  throw new UnsafeImageError(
    image,
    `has backing file "${name}"${where}; ${placesLine(policy.backingDirs)}${flatten}`,
  );
}

/** `qemu-img info` of the regular file `path` (of `format` when known). Throws UnsafeImageError. */
async function infoOf(path: string, format?: string): Promise<ImageInfo> {
  const st = statIfExists(path);
  if (st === undefined) throw new UnsafeImageError(path, "does not exist");
  if (!st.isFile) throw new UnsafeImageError(path, "is not a regular file");
  const df = format === undefined || format === "qcow2" ? qcow2DataFile(headOf(path)) : undefined;
  if (df !== undefined) throw new UnsafeImageError(path, dataFileProblem(df || "(unnamed)"));
  const args = ["info", "-U", "--output=json", ...(format ? ["-f", format] : []), path];
  try {
    return JSON.parse(await qemuImg(args)) as ImageInfo;
  } catch (e) {
    if (!(e instanceof QemuImgFailed)) throw e; // not installed: a system failure
    throw new UnsafeImageError(path, `cannot be read as a disk image (${e.message})`);
  }
}

/**
 * Inspects the one image `path` (of `format` when known) as inspectImage
 * does, without following its backing file (its name is only checked not to
 * be a protocol name). Throws UnsafeImageError.
 */
export async function inspectOne(
  path: string,
  policy: ImagePolicy,
  format?: string,
): Promise<ImageInfo> {
  const info = await infoOf(path, format);
  const problem = infoProblem(info, policy);
  if (problem !== undefined) throw new UnsafeImageError(path, problem);
  return info;
}

/**
 * Inspects the image `path` (absolute; of `format` when known) and its whole
 * backing chain as the module doc says; returns the infos, top first.
 * Throws UnsafeImageError (exit 100) naming the image and its problem.
 */
export async function inspectImage(
  path: string,
  policy: ImagePolicy,
  format?: string,
): Promise<[ImageInfo, ...ImageInfo[]]> {
  const chain: ImageInfo[] = [];
  let at: string | undefined = resolve(path);
  let fmt = format;
  while (at !== undefined) {
    if (chain.length === MAX_DEPTH) {
      throw new UnsafeImageError(path, `has a backing chain deeper than ${MAX_DEPTH} images`);
    }
    const info = await inspectOne(at, policy, fmt);
    chain.push(info);
    const b = info["backing-filename"];
    fmt = info["backing-filename-format"];
    at = b === undefined ? undefined : checkedBacking(at, b, policy);
  }
  return chain as [ImageInfo, ...ImageInfo[]];
}

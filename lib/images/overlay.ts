/**
 * A VM's disk made from a cached image: a qcow2 overlay whose backing file is
 * the image (by absolute path, its format recorded with `-F`, so QEMU never
 * probes it), or with `copy` a standalone qcow2 (`qemu-img convert`). Its
 * virtual size is the size asked for (`--disk`, else VMCONF_DEFAULT_DRIVE) or
 * the image's own when that is larger: a disk never shrinks below its image.
 * Runs `qemu-img`; writes the new disk only. Level: actions (lib/images,
 * uses lib/qemu).
 * @module
 */

import { resolve } from "../os/path.ts";
import { readyForUse } from "./download.ts";
import { UsageError } from "../errors.ts";
import { type ImageInfo, qemuImg, qemuImgProgress, resizeImage } from "../qemu/img.ts";
import { inspectImage } from "../qemu/image_check.ts";
import { checkSize, sizeBytes } from "../text/units.ts";

/** The size a new disk gets. */
export interface DiskSize {
  bytes: number;
  /** The size asked for was below the image's: the image's size is used. */
  raisedToImage: boolean;
}

/** Bytes of a qemu-img size (`20G`, `512M`, `1.5T`, `1048576`); throws UsageError for anything else. Pure. */
export function parseSize(text: string): number {
  return sizeBytes(checkSize(text)) ?? 0;
}

/**
 * The virtual size of a disk made from an image of `imageBytes`: `asked`
 * (bytes), raised to the image's size when smaller (never shrink). Pure.
 */
export function diskSize(asked: number, imageBytes: number): DiskSize {
  return asked >= imageBytes
    ? { bytes: asked, raisedToImage: false }
    : { bytes: imageBytes, raisedToImage: true };
}

/** qemu-img's arguments for an overlay `drive` on `backing` (absolute) of `format`, `bytes` large. Pure. */
export function overlayArgs(
  drive: string,
  backing: string,
  format: string,
  bytes: number,
): string[] {
  return ["create", "-q", "-f", "qcow2", "-b", backing, "-F", format, drive, String(bytes)];
}

/** qemu-img's arguments to copy `image` (of `format`) into a standalone qcow2 `drive`, with progress. Pure. */
export function copyArgs(image: string, format: string, drive: string): string[] {
  return ["convert", "-p", "-f", format, "-O", "qcow2", image, drive];
}

/** A disk made from an image. */
export interface ImageDisk {
  path: string;
  /** The backing file (absolute), for an overlay. */
  backing?: string;
  /** The image's format (qcow2, raw). */
  imageFormat: string;
  /** The image's virtual size. */
  imageBytes: number;
  size: DiskSize;
}

/**
 * `qemu-img info` of a cached image, checked to be usable as a base: a disk
 * format (not an ISO), raw or qcow2 with no backing file of its own and no
 * external data file (lib/qemu/image_check.ts: an image from the network
 * must not name other files). Throws UsageError (UnsafeImageError).
 */
export async function baseInfo(image: string): Promise<ImageInfo> {
  if (/\.iso$/i.test(image)) {
    throw new UsageError(
      `"${image}" is an ISO, not a disk image; boot it with "vm make <vm> <iso>"`,
    );
  }
  const [info] = await inspectImage(image, { backingDirs: [] });
  return info;
}

/**
 * Creates `drive` (must not exist) from the cached `image` (checked whole
 * and flushed to disk first, see readyForUse, then by baseInfo): an overlay, or
 * with `copy` a standalone qcow2 (`onProgress` gets bytes of the image's
 * virtual size as qemu-img reports its percent). `asked` is the size wanted,
 * in bytes. Runs qemu-img; writes `drive`.
 */
export async function createImageDisk(
  drive: string,
  image: string,
  asked: number,
  opts: { copy?: boolean; onProgress?: (done: number, total?: number) => void } = {},
): Promise<ImageDisk> {
  readyForUse(image);
  const info = await baseInfo(image);
  const imageBytes = info["virtual-size"];
  const size = diskSize(asked, imageBytes);
  const base = { path: drive, imageFormat: info.format, imageBytes, size };
  if (opts.copy !== true) {
    const backing = resolve(image);
    await qemuImg(overlayArgs(drive, backing, info.format, size.bytes));
    return { ...base, backing };
  }
  const report = opts.onProgress;
  await qemuImgProgress(
    copyArgs(image, info.format, drive),
    (pct) => report?.(Math.round((pct / 100) * imageBytes), imageBytes),
  );
  if (size.bytes > imageBytes) await resizeImage(drive, "qcow2", String(size.bytes));
  return base;
}

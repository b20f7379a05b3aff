/**
 * Disk images through `qemu-img`: create, inspect, convert, resize, snapshots.
 * Every function runs `qemu-img` and throws SystemError with its own message
 * when it fails.
 * @module
 */

import { SystemError } from "../errors.ts";

/** Runs qemu-img with `args`; returns its stdout. Throws SystemError naming its error. */
export async function qemuImg(args: readonly string[]): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("qemu-img", { args: [...args], stdin: "null" }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new SystemError('"qemu-img" is not installed; install the "qemu-utils" package');
    }
    throw e;
  }
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().replace(/^qemu-img: /, "");
    throw new SystemError(`qemu-img ${args[0] ?? ""} failed: ${err.split("\n")[0] ?? ""}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** Creates a qcow2 image `path` of `size`, optionally backed by `backing` (a qcow2). */
export async function createImage(path: string, size?: string, backing?: string): Promise<void> {
  const args = ["create", "-q", "-f", "qcow2"];
  if (backing !== undefined) args.push("-b", backing, "-F", "qcow2");
  args.push(path);
  if (size !== undefined) args.push(size);
  await qemuImg(args);
}

/** What `qemu-img info --output=json` says of an image (the fields we use). */
export interface ImageInfo {
  filename: string;
  format: string;
  "virtual-size": number;
  "actual-size"?: number;
  "backing-filename"?: string;
  "full-backing-filename"?: string;
  snapshots?: { name: string; "vm-state-size": number; "date-sec": number }[];
}

/** Runs `qemu-img info --output=json` on `path` (with `-U`: safe while a VM runs). */
export async function imageInfo(path: string): Promise<ImageInfo> {
  return JSON.parse(await qemuImg(["info", "-U", "--output=json", path])) as ImageInfo;
}

/**
 * `qemu-img info --backing-chain`: the image `path` and every image below it,
 * top first. When a backing file is missing, only `path` (its backing file
 * names still tell what it needs). Reads the images.
 */
export async function backingChain(path: string): Promise<ImageInfo[]> {
  try {
    const out = await qemuImg(["info", "-U", "--backing-chain", "--output=json", path]);
    return JSON.parse(out) as ImageInfo[];
  } catch (e) {
    if (!(e instanceof SystemError)) throw e;
    return [await imageInfo(path)];
  }
}

/** Copies image `src` (format `format`) into a new, independent image `dst` of the same format. */
export async function convertImage(src: string, dst: string, format: string): Promise<void> {
  await qemuImg(["convert", "-q", "-f", format, "-O", format, src, dst]);
}

/** Resizes image `path` (format `format`) to `size` (qemu-img syntax, `+10G` grows). */
export async function resizeImage(
  path: string,
  format: string,
  size: string,
  shrink = false,
): Promise<void> {
  await qemuImg(["resize", "-q", "-f", format, ...(shrink ? ["--shrink"] : []), path, size]);
}

/** Internal snapshot operations of `qemu-img snapshot`: create, apply, delete. */
export type SnapshotOp = "create" | "apply" | "delete";

const SNAPSHOT_FLAG: Record<SnapshotOp, string> = { create: "-c", apply: "-a", delete: "-d" };

/** Creates, applies or deletes the internal snapshot `name` of qcow2 image `path`. */
export async function snapshotImage(op: SnapshotOp, path: string, name: string): Promise<void> {
  await qemuImg(["snapshot", "-q", SNAPSHOT_FLAG[op], name, path]);
}

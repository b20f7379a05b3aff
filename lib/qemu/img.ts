/**
 * Disk images through `qemu-img`: create, inspect, convert, resize, snapshots.
 * Every function runs `qemu-img` and throws SystemError with its own message
 * when it fails.
 * @module
 */

import { SystemError } from "../errors.ts";

/** The error for qemu-img that could not be started: SystemError when it is missing, else `e`. */
function notStarted(e: unknown): unknown {
  return e instanceof Deno.errors.NotFound
    ? new SystemError('"qemu-img" is not installed; install the "qemu-utils" package')
    : e;
}

/** qemu-img ran and failed (it could not open or use the image): its first line of stderr. */
export class QemuImgFailed extends SystemError {}

/** The error for a failed qemu-img run, with the first line of its stderr. */
function failed(args: readonly string[], stderr: Uint8Array): QemuImgFailed {
  const err = new TextDecoder().decode(stderr).trim().replace(/^qemu-img: /, "");
  return new QemuImgFailed(`qemu-img ${args[0] ?? ""} failed: ${err.split("\n")[0] ?? ""}`);
}

/** Runs qemu-img with `args`; returns its stdout. Throws SystemError naming its error. */
export async function qemuImg(args: readonly string[], signal?: AbortSignal): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    const opts: Deno.CommandOptions = { args: [...args], stdin: "null" };
    if (signal !== undefined) opts.signal = signal;
    out = await new Deno.Command("qemu-img", opts).output();
  } catch (e) {
    throw notStarted(e);
  }
  if (!out.success) throw failed(args, out.stderr);
  return new TextDecoder().decode(out.stdout);
}

/** The last `(n.nn/100%)` of qemu-img's `-p` output in `text`, as a number, or undefined. Pure. */
export function lastPercent(text: string): number | undefined {
  const all = [...text.matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)];
  const last = all.at(-1)?.[1];
  return last === undefined ? undefined : Number(last);
}

/**
 * Runs qemu-img with `args` (which include `-p`), calling `onProgress(percent,
 * 100)` as its progress output comes; `signal` kills it. Throws SystemError
 * naming its error.
 */
export async function qemuImgProgress(
  args: readonly string[],
  onProgress: (done: number, total?: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  let child: Deno.ChildProcess;
  try {
    const opts: Deno.CommandOptions = {
      args: [...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    };
    if (signal !== undefined) opts.signal = signal;
    child = new Deno.Command("qemu-img", opts).spawn();
  } catch (e) {
    throw notStarted(e);
  }
  const stderr = new Response(child.stderr).bytes();
  const dec = new TextDecoder();
  let tail = "";
  for await (const chunk of child.stdout) {
    tail = (tail + dec.decode(chunk, { stream: true })).slice(-64);
    const pct = lastPercent(tail);
    if (pct !== undefined) onProgress(pct, 100);
  }
  const status = await child.status;
  if (!status.success) throw failed(args, await stderr);
}

/** Creates a qcow2 image `path` of `size`, optionally backed by `backing` (a qcow2). */
export async function createImage(path: string, size?: string, backing?: string): Promise<void> {
  const args = ["create", "-q", "-f", "qcow2"];
  if (backing !== undefined) args.push("-b", backing, "-F", "qcow2");
  args.push(path);
  if (size !== undefined) args.push(size);
  await qemuImg(args);
}

/** A persistent dirty bitmap of a qcow2 image, as `qemu-img info` shows it. */
export interface ImageBitmap {
  name: string;
  /** `in-use` (QEMU has it open, or crashed with it), `auto` (enabled). */
  flags: string[];
}

/** Adds (enabled) or removes the persistent dirty bitmap `name` of qcow2 image `path`. */
export async function imageBitmap(op: "add" | "remove", path: string, name: string): Promise<void> {
  await qemuImg(["bitmap", `--${op}`, "-f", "qcow2", path, name]);
}

/** The persistent dirty bitmaps of a qcow2 image's `info`. Pure. */
export function bitmapsOf(info: ImageInfo): ImageBitmap[] {
  const list = info["format-specific"]?.data?.bitmaps;
  return Array.isArray(list) ? list as ImageBitmap[] : [];
}

/** What `qemu-img info --output=json` says of an image (the fields we use). */
export interface ImageInfo {
  filename: string;
  format: string;
  "virtual-size": number;
  "actual-size"?: number;
  "backing-filename"?: string;
  "full-backing-filename"?: string;
  "backing-filename-format"?: string;
  /** qcow2's `data` holds `data-file` when the image has an external data file. */
  "format-specific"?: { type: string; data?: Record<string, unknown> };
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

/**
 * Copies image `src` (format `format`) into a new, independent image `dst` of
 * the same format; with `onProgress`, reports qemu-img's percent as it goes.
 */
export async function convertImage(
  src: string,
  dst: string,
  format: string,
  onProgress?: (done: number, total?: number) => void,
): Promise<void> {
  if (onProgress === undefined) {
    await qemuImg(["convert", "-q", "-f", format, "-O", format, src, dst]);
  } else {
    await qemuImgProgress(["convert", "-p", "-f", format, "-O", format, src, dst], onProgress);
  }
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

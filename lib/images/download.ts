/**
 * Downloading one image into the cache, never holding it in memory: the
 * bytes stream into `<image>.part` (mode 0600) and through the hash as they
 * come; a `.part` left by an earlier try is resumed with a Range request (its
 * bytes hashed again first), or started over when the server ignores ranges,
 * the file changed upstream or the `.part` came from another URL (the
 * `onNotice` callback says so). When complete and verified the `.part` is
 * made read-only (0400) and renamed to `<image>`; a wrong checksum deletes
 * it. It is flushed to disk before its first use as a base (`readyForUse`),
 * not here: a pull runs at the network's speed. Two downloads of one image cooperate: the `.part` is
 * locked (flock) while written, the second waits for the lock, then finds the
 * image done. On any failure only the `.part` is left, with its expected size
 * and URL in `<image>.meta` beside it (lib/images/meta.ts: for `vm image list`
 * and the resume; kept with the image). Writes
 * `$VMDIR/.images/<name>.<ext>{,.part,.meta}`.
 * Level: vm (lib/images, no qemu).
 * @module
 */

import { exists, openPlainFile } from "../os/fs.ts";
import { SystemError, VmError } from "../errors.ts";
import { type Checksum, type HashAlgo } from "./sums.ts";
import { brokeOffLine } from "./fetch_errors.ts";
import { BlockSink } from "./sink.ts";
import { ThreadWriter } from "./block_writer.ts";
import { formatBytes } from "../text/units.ts";
import { openSource, type Source } from "./source.ts";
import type { NetOptions } from "./http.ts";
import { PART_SUFFIX } from "./store.ts";
import { type PartMeta, readMeta, removeMeta, writeMeta } from "./meta.ts";
import { openStreamHash, type StreamHash } from "../os/stream_hash.ts";

/** Exit code of an interrupted download (as a shell reports SIGINT). */
export const EXIT_INTERRUPTED = 130;

/** The pull was interrupted (Ctrl-C); the `.part`, if any, is kept for a resume. */
export class InterruptedError extends VmError {
  constructor(part?: string) {
    const kept = part === undefined ? "" : `; "${part}" is kept: pull again to resume`;
    super(`Interrupted${kept}`, EXIT_INTERRUPTED);
  }
}

/** Whether `e` is the AbortError of an aborted fetch or stream. Pure. */
export function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === "AbortError";
}

/** What to download, and where. */
export interface Transfer {
  url: string;
  /** The complete image's path; the download goes to this + ".part". */
  path: string;
  /** The checksum it must have; undefined (--insecure): its SHA-256 is computed and returned. */
  expected?: Checksum;
  /** The QEMU arch it is for, recorded with the image (for `vm image list`). */
  arch?: string;
}

/** Callbacks of a download, its waits (lib/images/http.ts) and its signal; all optional. */
export interface TransferEvents extends NetOptions {
  /** Bytes received so far, a block at a time (from the file's start), and the whole size when known. */
  onProgress?: (done: number, total?: number) => void;
  /** Something the user should know: waiting for another pull, starting over. */
  onNotice?: (text: string) => void;
  /** Aborts the download (Ctrl-C): InterruptedError, the `.part` kept (removed when empty). */
  signal?: AbortSignal;
}

/** What a download did. */
export interface TransferResult {
  path: string;
  /** Size of the image. */
  bytes: number;
  /** Bytes received from the source by this call. */
  fetched: number;
  /** Where this call started in the file (0, or the size of the resumed `.part`). */
  resumedAt: number;
  /** The image's checksum. */
  checksum: Checksum;
  /** It was compared with `expected` and matched (false: --insecure, nothing to compare with). */
  verified: boolean;
  /** Another download finished the image while this one waited for it. */
  byOther: boolean;
}

/** The download metadata of `part` (or of the image it became), or undefined. Reads `<image>.meta`. */
export function readPartMeta(part: string): PartMeta | undefined {
  const m = readMeta(part)?.download;
  return typeof m?.url === "string" ? m : undefined;
}

/** Locks `file` (flock, exclusive); `onWait` is called when that takes more than a moment. */
async function lockWaiting(file: Deno.FsFile, onWait: () => void): Promise<void> {
  let locked = false;
  const timer = setTimeout(() => locked || onWait(), 200);
  try {
    await file.lock(true);
    locked = true;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Opens and locks `<path>.part` (created 0600), or returns undefined when
 * `path` exists (done, maybe by another download while this one waited). A
 * `.part` renamed or deleted by another download while waiting is opened anew.
 */
async function lockPart(path: string, ev: TransferEvents): Promise<Deno.FsFile | undefined> {
  const part = path + PART_SUFFIX;
  for (let i = 0; i < 100; i++) {
    if (exists(path)) return undefined;
    const file = openPlainFile(part, 0o600); // a planted symlink is refused, never followed
    await lockWaiting(file, () => ev.onNotice?.(`Another pull is downloading "${path}"; waiting`));
    let same = false;
    try {
      same = Deno.statSync(part).ino === (await file.stat()).ino;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (same && !exists(path)) return file;
    file.close(); // done or replaced by the other download: look again
  }
  throw new SystemError(`Cannot lock "${part}": it keeps being replaced; try again`);
}

/** Feeds `n` bytes of `file` from its start into `hash`. Throws SystemError when it is shorter. */
export async function hashPrefix(file: Deno.FsFile, n: number, hash: StreamHash): Promise<void> {
  await file.seek(0, Deno.SeekMode.Start);
  const buf = new Uint8Array(1 << 20);
  let left = n;
  while (left > 0) {
    const got = await file.read(buf.subarray(0, Math.min(buf.length, left)));
    if (got === null) throw new SystemError("A file shrank while being read (hashing it)");
    await hash.update(buf.subarray(0, got));
    left -= got;
  }
}

/** Reads `src` into `sink`; errors become one line (broke off, interrupted; writes: see BlockSink). */
async function receive(
  src: Source,
  sink: BlockSink,
  t: Transfer,
  signal?: AbortSignal,
): Promise<void> {
  const part = t.path + PART_SUFFIX;
  try {
    for (;;) {
      if (signal?.aborted) throw new InterruptedError(part);
      let n: number | null;
      try {
        n = await src.read(sink.space());
      } catch (e) {
        if (e instanceof VmError) throw e;
        if (signal?.aborted) throw new InterruptedError(part);
        throw new SystemError(brokeOffLine(t.url, sink.done, src.total, e, part));
      }
      if (n === null) break;
      await sink.advance(n);
    }
  } catch (e) {
    await sink.drain().catch(() => {}); // keep what arrived, for a resume; a failed write adds nothing to `e`
    throw e;
  } finally {
    src.close();
  }
  if (src.total !== undefined && sink.done !== src.total) {
    const why = new Error(
      `${formatBytes(sink.done, true)} received of ${formatBytes(src.total, true)}`,
    );
    throw new SystemError(brokeOffLine(t.url, sink.done, src.total, why, part));
  }
}

/** Writes what is left, checks the hash, then protects (0400) and renames the `.part` into place. */
async function place(sink: BlockSink, t: Transfer): Promise<Checksum> {
  const part = t.path + PART_SUFFIX;
  const algo: HashAlgo = t.expected?.algo ?? "sha256";
  await sink.drain();
  const got: Checksum = { algo, hex: sink.hash.hex() };
  if (t.expected !== undefined && got.hex !== t.expected.hex) {
    Deno.removeSync(part);
    removeMeta(part);
    throw new SystemError(
      `"${t.url}" has ${algo.toUpperCase()} ${got.hex}, not the expected ${t.expected.hex}; ` +
        "the download was deleted: pull again (if it fails again, the source or the checksum is wrong)",
    );
  }
  Deno.chmodSync(part, 0o400);
  Deno.renameSync(part, t.path);
  return got;
}

/** Removes `part` (still locked by this download) and its metadata when nothing was written to it. */
async function dropIfEmpty(file: Deno.FsFile, part: string): Promise<void> {
  try {
    if ((await file.stat()).size > 0) return;
    Deno.removeSync(part);
    removeMeta(part);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** Downloads into the locked, open `.part` `file` (resuming it when it can) and places the image. */
async function fetchInto(
  file: Deno.FsFile,
  t: Transfer,
  ev: TransferEvents,
): Promise<TransferResult> {
  const part = t.path + PART_SUFFIX;
  const meta = readPartMeta(part);
  const have = (await file.stat()).size;
  // Without metadata (a kill before it was written) the .part is trusted: the checksum decides.
  const offset = meta === undefined || meta.url === t.url ? have : 0;
  if (have > 0 && offset === 0) ev.onNotice?.(`"${part}" is from another URL; starting over`);
  const src = await openSource(t.url, offset, meta?.validator, ev);
  if (offset > 0 && src.start === 0) {
    const why = meta?.validator === undefined
      ? "the server does not support ranges"
      : "changed upstream, or the server does not support ranges";
    ev.onNotice?.(`"${t.url}" cannot be resumed (${why}); starting over`);
  }
  const hash = await openStreamHash(t.expected?.algo ?? "sha256");
  try {
    if (src.start > 0) await hashPrefix(file, src.start, hash);
    // Only a longer .part is cut: ext4 flushes a file truncated to zero and rewritten when it is
    // closed (auto_da_alloc), which would make a fresh pull wait for the disk.
    if (have > src.start) await file.truncate(src.start);
    await file.seek(src.start, Deno.SeekMode.Start);
    const keep: PartMeta = { url: t.url, total: src.total, validator: src.validator, arch: t.arch };
    writeMeta(part, { download: keep });
    const sink = new BlockSink(
      new ThreadWriter(file),
      hash,
      src.start,
      part,
      (d) => ev.onProgress?.(d, src.total),
    );
    try {
      ev.onProgress?.(src.start, src.total);
      await receive(src, sink, t, ev.signal);
      const checksum = await place(sink, t);
      const result = { path: t.path, bytes: sink.done, fetched: sink.done - src.start };
      return { ...result, resumedAt: src.start, checksum, verified: !!t.expected, byOther: false };
    } finally {
      await sink.quiesce();
    }
  } finally {
    hash.close();
  }
}

/**
 * Downloads `t.url` to `t.path` as the module doc says. Throws SystemError
 * (one line) for network, HTTP, write and checksum failures, InterruptedError
 * when `ev.signal` aborts; the `.part` is kept but for a wrong checksum.
 */
export async function transfer(t: Transfer, ev: TransferEvents = {}): Promise<TransferResult> {
  const part = t.path + PART_SUFFIX;
  const file = await lockPart(t.path, ev);
  if (file === undefined) {
    const result = { path: t.path, bytes: Deno.statSync(t.path).size, fetched: 0, resumedAt: 0 };
    const checksum = t.expected ?? { algo: "sha256" as const, hex: "" };
    return { ...result, checksum, verified: !!t.expected, byOther: true };
  }
  try {
    return await fetchInto(file, t, ev);
  } catch (e) {
    await dropIfEmpty(file, part);
    if (isAbort(e) || ev.signal?.aborted) throw new InterruptedError(part);
    throw e;
  } finally {
    file.close();
  }
}

/**
 * Makes sure the cached image `path` is whole and on disk before a VM disk
 * is based on it: its size must be the one its download recorded (a system
 * that stopped before the image reached the disk leaves it short), then it
 * is flushed to disk (fdatasync; nearly free once written back). Throws
 * SystemError for a short image. Reads `path` and its `.meta`.
 */
export function readyForUse(path: string): void {
  const total = readPartMeta(path)?.total;
  const size = Deno.statSync(path).size;
  if (total !== undefined && size !== total) {
    throw new SystemError(
      `Image "${path}" is ${formatBytes(size, true)}, not the ${
        formatBytes(total, true)
      } downloaded (the system ` +
        `stopped before it reached the disk?); remove it with "vm image rm" and pull it again`,
    );
  }
  const f = Deno.openSync(path, { read: true });
  try {
    f.syncDataSync();
  } finally {
    f.close();
  }
}

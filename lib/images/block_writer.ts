/**
 * How a download's blocks reach its file, off the thread that receives and
 * hashes them: as chains of 32 KiB writes run by the kernel's io_uring
 * workers (see lib/os/uring.ts for why small writes), or, where io_uring
 * cannot be used, as one write per block on Deno's I/O thread. Several
 * blocks may be in flight; either way they land in the order they were
 * started, so the file is always a prefix of the download.
 * Writes the open file it is given (and opens its path once more for the
 * ring's fd).
 * Level: vm (lib/images, no qemu).
 * @module
 */

import { writeAll } from "../os/io.ts";
import { closeFd, openWriteNoFollow } from "../os/libc.ts";
import { WriteRing } from "../os/uring.ts";

/** Bytes per write of a ring. */
export const PIECE = 32 << 10;

/**
 * Writes blocks into a file in the order they are started, one after the
 * other; several may be started before the first is finished.
 */
export interface BlockWriter {
  /** Starts writing `block` at `offset`, the end of the blocks started before it. */
  start(block: Uint8Array, offset: number): void;
  /** Waits for the oldest block not finished yet; throws why it could not be written (Deno's error). */
  finish(): Promise<void>;
  /** Frees what the writer holds (the file stays open); waits only for the ring's writes. */
  close(): void;
}

/** One write per block on Deno's I/O thread, at the file's position (`offset` is where it is). */
export class ThreadWriter implements BlockWriter {
  /** The writes started and not finished, oldest first; each starts when the one before succeeded. */
  #writes: Promise<void>[] = [];
  constructor(readonly file: Deno.FsFile) {}

  start(block: Uint8Array, _offset: number): void {
    const before = this.#writes.at(-1) ?? Promise.resolve();
    const write = before.then(() => writeAll(this.file, block));
    write.catch(() => {}); // thrown by finish()
    this.#writes.push(write);
  }

  async finish(): Promise<void> {
    await this.#writes.shift();
  }

  close(): void {}
}

/** A block in a ring: its chain, or none when it is written by Deno's writes after a failure. */
interface RingBlock {
  block: Uint8Array;
  offset: number;
  chain?: number;
}

/**
 * Chains of PIECE-byte writes on an io_uring (see the module doc). Should a
 * chain fall short (disk full…), its rest and every block after it are
 * written with Deno's writes instead: they succeed or say why not.
 */
export class RingWriter implements BlockWriter {
  #blocks: RingBlock[] = [];
  /** Set once a chain fell short. */
  #thread: ThreadWriter | undefined;
  constructor(readonly file: Deno.FsFile, readonly ring: WriteRing, readonly fd: number) {}

  start(block: Uint8Array, offset: number): void {
    if (this.#thread !== undefined) {
      this.#thread.start(block, offset);
      this.#blocks.push({ block, offset });
    } else {
      this.#blocks.push({ block, offset, chain: this.ring.start(this.fd, block, offset) });
    }
  }

  async finish(): Promise<void> {
    const b = this.#blocks.shift();
    if (b === undefined) return;
    if (b.chain === undefined) return await this.#thread?.finish();
    const n = this.ring.finish(b.chain);
    if (n < b.block.length) await this.#recover(b, n);
  }

  /** After `b`'s chain wrote only `n` bytes: rewrites the rest of it and the blocks after it. */
  async #recover(b: RingBlock, n: number): Promise<void> {
    const later = this.#blocks.splice(0);
    // Later chains ran after this one ended (drained): whatever they wrote lies past a gap.
    let past = 0;
    for (const l of later) past += this.ring.finish(l.chain ?? -1);
    if (past > 0) await this.file.truncate(b.offset + n);
    this.#thread = new ThreadWriter(this.file);
    await this.file.seek(b.offset + n, Deno.SeekMode.Start);
    await writeAll(this.file, b.block.subarray(n));
    for (const l of later) this.start(l.block, l.offset);
  }

  close(): void {
    this.ring.close();
    closeFd(this.fd);
  }
}

/**
 * A writer into `file`, open at `path`, for up to `blocks` blocks of
 * `blockSize` bytes in flight: a RingWriter when this system has io_uring
 * and `path` opens again as the same file, otherwise a ThreadWriter.
 */
export async function openBlockWriter(
  file: Deno.FsFile,
  path: string,
  blockSize: number,
  blocks: number,
): Promise<BlockWriter> {
  const ring = WriteRing.open(blocks * Math.ceil(blockSize / PIECE), PIECE);
  if (ring === undefined) return new ThreadWriter(file);
  const fd = openWriteNoFollow(path);
  if (fd !== undefined && await sameFile(file, fd)) return new RingWriter(file, ring, fd);
  if (fd !== undefined) closeFd(fd);
  ring.close();
  return new ThreadWriter(file);
}

/** Whether the fd `fd` of this process is the file `file` (same device and inode). */
async function sameFile(file: Deno.FsFile, fd: number): Promise<boolean> {
  const a = await file.stat();
  try {
    const b = Deno.statSync(`/proc/self/fd/${fd}`);
    return a.dev === b.dev && a.ino === b.ino;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false; // no /proc: the other writer will do
    throw e;
  }
}

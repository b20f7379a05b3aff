/**
 * How a download's blocks reach its file, off the thread that receives and
 * hashes them: as chains of 32 KiB writes run by the kernel's io_uring
 * workers (see lib/os/uring.ts for why small writes), or, where io_uring
 * cannot be used, as one write per block on Deno's I/O thread. Either way
 * the file is written in order, so it is always a prefix of the download.
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

/** Writes one block at a time into a file; the next starts once the last is finished. */
export interface BlockWriter {
  /** Starts writing `block` at `offset`, the end of what was written before. */
  start(block: Uint8Array, offset: number): void;
  /** Waits for the block started last; throws why it could not be written (Deno's error). */
  finish(): Promise<void>;
  /** Frees what the writer holds (the file stays open); waits for nothing. */
  close(): void;
}

/** One write per block on Deno's I/O thread, at the file's position (`offset` is where it is). */
export class ThreadWriter implements BlockWriter {
  #writing: Promise<void> | undefined;
  constructor(readonly file: Deno.FsFile) {}

  start(block: Uint8Array, _offset: number): void {
    this.#writing = writeAll(this.file, block);
    this.#writing.catch(() => {}); // thrown by finish()
  }

  async finish(): Promise<void> {
    const w = this.#writing;
    this.#writing = undefined;
    await w;
  }

  close(): void {}
}

/** Chains of PIECE-byte writes on an io_uring (see the module doc). */
export class RingWriter implements BlockWriter {
  #block: Uint8Array | undefined;
  #offset = 0;
  constructor(readonly file: Deno.FsFile, readonly ring: WriteRing, readonly fd: number) {}

  start(block: Uint8Array, offset: number): void {
    this.ring.start(this.fd, block, offset);
    this.#block = block;
    this.#offset = offset;
  }

  async finish(): Promise<void> {
    const block = this.#block;
    this.#block = undefined;
    if (block === undefined) return;
    const n = this.ring.finish();
    // The rest (disk full…) is written again with Deno's writes: they succeed or say why not.
    if (n < block.length) {
      await this.file.seek(this.#offset + n, Deno.SeekMode.Start);
      await writeAll(this.file, block.subarray(n));
    }
  }

  close(): void {
    this.ring.close();
    closeFd(this.fd);
  }
}

/**
 * A writer into `file`, open at `path`, for blocks of `blockSize` bytes: a
 * RingWriter when this system has io_uring and `path` opens again as the
 * same file, otherwise a ThreadWriter.
 */
export async function openBlockWriter(
  file: Deno.FsFile,
  path: string,
  blockSize: number,
): Promise<BlockWriter> {
  const ring = WriteRing.open(Math.ceil(blockSize / PIECE), PIECE);
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

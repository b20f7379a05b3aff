/**
 * Writing a received byte stream into a file in 1 MiB blocks, hashing each
 * block as it is written, with little memory and no copy: the source reads
 * straight into the free part of a block; a full block is written on
 * Deno's I/O threads (block_writer.ts) while it is hashed
 * (lib/os/stream_hash.ts) and the next one fills. BLOCKS blocks take
 * turns, so that a moment's lag of the writing does not stop the
 * receiving; the file is written in order. The file is not flushed to disk
 * here: an image is flushed before its first use (see download.ts
 * `readyForUse`), so a pull runs at the network's speed, not the disk's.
 * Writes only through the BlockWriter it is given.
 * Level: vm (lib/images, no qemu).
 * @module
 */

import { SystemError } from "../errors.ts";
import { writeFailedLine } from "./fetch_errors.ts";
import type { BlockWriter } from "./block_writer.ts";
import type { StreamHash } from "../os/stream_hash.ts";

/** Bytes per block. */
export const BLOCK = 1 << 20;

/** Blocks in memory: one filling, the others being written and hashed. */
export const BLOCKS = 4;

/** A full block handed over: its buffer and its hashing. */
interface Flushed {
  buf: Uint8Array;
  hashed: Promise<void>;
}

/** Blocks of a stream, written to a file and hashed. */
export class BlockSink {
  /** The block filling. */
  #buf: Uint8Array = new Uint8Array(BLOCK);
  #fill = 0;
  /** Blocks free to fill next. */
  #free: Uint8Array[] = [];
  /** Blocks being written and hashed, oldest first. */
  #flushed: Flushed[] = [];
  /** The hashing of the last block handed over (the next one is hashed after it). */
  #hashTail: Promise<void> = Promise.resolve();
  /** Bytes received so far (in the file, or in a block not yet written), from the file's start. */
  done: number;

  constructor(
    /** Has room for BLOCKS blocks in flight. */
    readonly writer: BlockWriter,
    /** Fed every block, in order; the caller opens and closes it. */
    readonly hash: StreamHash,
    start: number,
    /** Path shown in errors. */
    readonly name: string,
    /** Called as each block is handed over to be written, with the bytes received then. */
    readonly onBlock: (done: number) => void,
  ) {
    this.done = start;
    for (let i = 1; i < BLOCKS; i++) this.#free.push(new Uint8Array(BLOCK));
  }

  /** The free part of the block, to read into. */
  space(): Uint8Array {
    return this.#buf.subarray(this.#fill);
  }

  /** Takes the `n` bytes just read into `space()`; a full block is flushed. */
  async advance(n: number): Promise<void> {
    this.#fill += n;
    this.done += n;
    if (this.#fill === BLOCK) await this.flush();
  }

  /**
   * Hands the block over to be written (after the blocks before it: the
   * file is written in order) and hashed, on other threads, then takes a
   * free block, waiting for the oldest one when none is. A failed write is
   * thrown by a later flush, or by drain.
   */
  async flush(): Promise<void> {
    if (this.#fill === 0) return;
    const block = this.#buf.subarray(0, this.#fill);
    this.writer.start(block);
    const hashed = this.#hashTail.then(() => this.hash.update(block));
    hashed.catch(() => {}); // thrown by #waitOldest
    this.#hashTail = hashed;
    this.#flushed.push({ buf: this.#buf, hashed });
    this.#fill = 0;
    this.onBlock(this.done);
    if (this.#free.length === 0) await this.#waitOldest();
    this.#buf = this.#free.pop()!;
  }

  /** Waits for the oldest block handed over to be written and hashed, and frees it; throws its SystemError. */
  async #waitOldest(): Promise<void> {
    const f = this.#flushed.shift();
    if (f === undefined) return;
    let written = true;
    let why: unknown;
    try {
      await this.writer.finish();
    } catch (e) {
      [written, why] = [false, e];
    }
    await f.hashed; // before anything is thrown: the block is not refilled while it is hashed
    if (!written) throw new SystemError(writeFailedLine(this.name, why));
    this.#free.push(f.buf);
  }

  /** Writes everything received so far into the file. Throws SystemError (disk full…). */
  async drain(): Promise<void> {
    await this.flush();
    while (this.#flushed.length > 0) await this.#waitOldest();
  }

  /**
   * Waits for the writes and hashings in flight, then frees the writer
   * (before the file is closed); a failure of either does not matter then.
   */
  async quiesce(): Promise<void> {
    // The download failed already: that error is the one reported.
    for (const f of this.#flushed.splice(0)) {
      await this.writer.finish().catch(() => {});
      await f.hashed.catch(() => {});
    }
    this.writer.close();
  }
}

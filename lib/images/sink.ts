/**
 * Writing a received byte stream into a file in 1 MiB blocks, hashing each
 * block as it is written, with little memory and no copy: the source reads
 * straight into the free part of a block; a full block is written off this
 * thread (block_writer.ts) while it is hashed here and the other block
 * fills (two blocks take turns, the file is written in order). The file is
 * not flushed to disk here: an image is flushed before its first use (see
 * download.ts `readyForUse`), so a pull runs at the network's speed, not the
 * disk's. Writes only through the BlockWriter it is given.
 * Level: vm (lib/images, no qemu).
 * @module
 */

import type { Hash } from "node:crypto";
import { SystemError } from "../errors.ts";
import { writeFailedLine } from "./fetch_errors.ts";
import type { BlockWriter } from "./block_writer.ts";

/** Bytes per block. */
export const BLOCK = 1 << 20;

/** Blocks of a stream, written to a file and hashed. */
export class BlockSink {
  #buf = new Uint8Array(BLOCK);
  /** The other block: being written while `#buf` fills. */
  #spare = new Uint8Array(BLOCK);
  #fill = 0;
  /** The bytes in the file once the block being written is written; undefined: none is. */
  #writing: number | undefined;
  /** Bytes received so far (in the file, or in a block not yet written), from the file's start. */
  done: number;

  constructor(
    readonly writer: BlockWriter,
    readonly hash: Hash,
    start: number,
    /** Path shown in errors. */
    readonly name: string,
    /** Called after each block is written, with the bytes in the file then. */
    readonly onBlock: (done: number) => void,
  ) {
    this.done = start;
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
   * Starts writing the block (once the previous one is written: the file is
   * written in order) on another thread, and hashes it meanwhile. A failed
   * write is thrown by the next flush or drain.
   */
  async flush(): Promise<void> {
    if (this.#fill === 0) return;
    await this.#wait();
    const block = this.#buf.subarray(0, this.#fill);
    this.writer.start(block, this.done - this.#fill);
    this.#writing = this.done;
    this.hash.update(block);
    [this.#buf, this.#spare] = [this.#spare, this.#buf];
    this.#fill = 0;
  }

  /** Waits for the block being written; throws its SystemError. */
  async #wait(): Promise<void> {
    const upTo = this.#writing;
    if (upTo === undefined) return;
    this.#writing = undefined;
    try {
      await this.writer.finish();
    } catch (e) {
      throw new SystemError(writeFailedLine(this.name, e));
    }
    this.onBlock(upTo);
  }

  /** Writes everything received so far into the file. Throws SystemError (disk full…). */
  async drain(): Promise<void> {
    await this.flush();
    await this.#wait();
  }

  /**
   * Waits for a write in flight, then frees the writer (before the file is
   * closed); a failed write does not matter then.
   */
  async quiesce(): Promise<void> {
    if (this.#writing !== undefined) {
      this.#writing = undefined;
      await this.writer.finish().catch(() => {}); // the download failed already: that error is reported
    }
    this.writer.close();
  }
}

/**
 * How a download's blocks reach its file, off the thread that receives and
 * hashes them: one write per block on Deno's I/O threads, several blocks in
 * flight, each started when the one before it was written, so the file is
 * always a prefix of the download. Writes the open file it is given.
 * Level: vm (lib/images, no qemu).
 * @module
 */

import { writeAll } from "../os/io.ts";

/**
 * Writes blocks into a file in the order they are started, one after the
 * other; several may be started before the first is finished.
 */
export interface BlockWriter {
  /** Starts writing `block` after the blocks started before it. */
  start(block: Uint8Array): void;
  /** Waits for the oldest block not finished yet; throws why it could not be written (Deno's error). */
  finish(): Promise<void>;
  /** Frees what the writer holds (the file stays open). */
  close(): void;
}

/** One write per block on Deno's I/O thread, at the file's position. */
export class ThreadWriter implements BlockWriter {
  /** The writes started and not finished, oldest first; each starts when the one before succeeded. */
  #writes: Promise<void>[] = [];
  constructor(readonly file: Deno.FsFile) {}

  start(block: Uint8Array): void {
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

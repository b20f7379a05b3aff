/**
 * Writing a received byte stream into a file in 1 MiB blocks, hashing each
 * block as it is written, with little memory and few copies: the stream is
 * read into one reused buffer (a BYOB reader, when the stream offers one, as
 * fetch bodies and files do: no garbage per chunk), copied into the block,
 * which is written with one write(2); and
 * every 64 MiB the data written so far is flushed to disk in the background
 * (fdatasync on another thread) while the download goes on, so the final
 * flush before the rename is short. Writes the file it is given.
 * Level: vm (lib/images, no qemu).
 * @module
 */

import type { Hash } from "node:crypto";
import { SystemError } from "../errors.ts";
import { writeFailedLine } from "./fetch_errors.ts";

/** Bytes per write. */
export const BLOCK = 1 << 20;
/** Bytes asked for by one read (a separate buffer: a read that fails loses only it, not the block). */
export const READ_SIZE = 256 << 10;
/** Bytes written between two background flushes. */
export const SYNC_EVERY = 64 << 20;

/** Blocks of a stream, written to a file and hashed. */
export class BlockSink {
  #buf = new Uint8Array(BLOCK);
  #fill = 0;
  #unsynced = 0;
  #syncing: Promise<void> | undefined;
  /** Bytes received so far (in the file, or in the block not yet written), from the file's start. */
  done: number;

  constructor(
    readonly file: Deno.FsFile,
    readonly hash: Hash,
    start: number,
    /** Path shown in errors. */
    readonly name: string,
    /** Called after each block is written, with `done`. */
    readonly onBlock: (done: number) => void,
  ) {
    this.done = start;
  }

  /** Takes a received chunk (copied into the block). */
  push(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(chunk.length - off, BLOCK - this.#fill);
      this.#buf.set(chunk.subarray(off, off + n), this.#fill);
      this.#fill += n;
      off += n;
      this.done += n;
      if (this.#fill === BLOCK) this.flush();
    }
  }

  /** Writes and hashes the bytes of the block; throws SystemError (disk full…) naming the file. */
  flush(): void {
    if (this.#fill === 0) return;
    const block = this.#buf.subarray(0, this.#fill);
    try {
      let off = 0;
      while (off < block.length) off += this.file.writeSync(block.subarray(off));
    } catch (e) {
      throw new SystemError(writeFailedLine(this.name, e));
    }
    this.hash.update(block);
    this.#unsynced += block.length;
    this.#fill = 0;
    this.onBlock(this.done);
    if (this.#unsynced >= SYNC_EVERY && this.#syncing === undefined) {
      this.#unsynced = 0;
      this.#syncing = this.file.syncData().finally(() => (this.#syncing = undefined));
      this.#syncing.catch(() => {}); // seen again by settle(), which waits for it
    }
  }

  /** Writes what is left, waits for a background flush, and flushes the file to disk. */
  async settle(): Promise<void> {
    this.flush();
    try {
      await this.#syncing;
      await this.file.syncData();
    } catch (e) {
      throw new SystemError(writeFailedLine(this.name, e));
    }
  }

  /** Waits for a background flush to end (before the file is closed); its failure does not matter then. */
  async quiesce(): Promise<void> {
    await this.#syncing?.catch(() => {}); // the download failed already: that error is reported
  }
}

/** A reader of `body` feeding a BlockSink: BYOB when the stream allows, else chunk by chunk. */
export interface SinkReader {
  /** Reads once into the sink; false at the end of the stream. Read errors are thrown as they are. */
  read(): Promise<boolean>;
  release(): void;
}

/** Opens `body` for reading into `sink`. */
export function sinkReader(body: ReadableStream<Uint8Array>, sink: BlockSink): SinkReader {
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch (e) {
    if (!(e instanceof TypeError)) throw e; // not a byte stream: read chunks
  }
  if (byob !== undefined) {
    const r = byob;
    let scratch = new Uint8Array(READ_SIZE);
    return {
      async read() {
        const { done, value } = await r.read(scratch);
        if (value === undefined) return !done;
        sink.push(value);
        scratch = new Uint8Array(value.buffer as ArrayBuffer); // the read gave the buffer back
        return !done;
      },
      release: () => r.releaseLock(),
    };
  }
  const r = body.getReader();
  return {
    async read() {
      const { done, value } = await r.read();
      if (value !== undefined) sink.push(value);
      return !done;
    },
    release: () => r.releaseLock(),
  };
}

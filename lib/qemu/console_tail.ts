/**
 * Listening to a booting VM's serial console (`supervise/console`, the
 * `serial-console` template) without taking it from a user: the console's
 * lock (lib/qemu/socket_lock.ts) is taken only when free, and what the guest
 * writes is kept as a bounded tail (the last {@link TAIL_BYTES} bytes), from
 * which the last line that shows anything is read. Connects to
 * `<vm>/supervise/console`; locks `<vm>/supervise/console-lock`.
 * @module
 */

import { join } from "../os/path.ts";
import { closeQuietly, isStreamEnd } from "../os/io.ts";
import { F } from "../layout.ts";
import { lastLine } from "../text/guest_text.ts";
import { lockSocket } from "./socket_lock.ts";
import { connectUnix } from "./socket.ts";

/** How much of the console's output is kept. */
export const TAIL_BYTES = 8192;

/** The serial console of a VM, listened to. */
export class ConsoleTail {
  /** Bytes the guest wrote since the tail was opened. */
  bytes = 0;
  #tail = new Uint8Array(0);
  readonly #conn: Deno.UnixConn;
  readonly #lock: Deno.FsFile;

  private constructor(conn: Deno.UnixConn, lock: Deno.FsFile) {
    this.#conn = conn;
    this.#lock = lock;
    void this.#read();
  }

  /**
   * Listens to the console of the VM in `dir`; undefined when it has no
   * console socket, or a `vm console` holds it.
   */
  static async open(dir: string): Promise<ConsoleTail | undefined> {
    const lock = lockSocket(dir, "console");
    if (lock === undefined) return undefined;
    try {
      return new ConsoleTail(await connectUnix(join(dir, F.console)), lock);
    } catch (e) {
      lock.close();
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.ConnectionRefused) {
        return undefined; // no serial-console template, or QEMU gone
      }
      throw e;
    }
  }

  /** The last line of the output that shows anything (made showable), or undefined. */
  lastLine(): string | undefined {
    return lastLine(new TextDecoder().decode(this.#tail));
  }

  /** Stops listening: the console and its lock are free again. */
  close(): void {
    closeQuietly(this.#conn);
    this.#lock.close();
  }

  async #read(): Promise<void> {
    const buf = new Uint8Array(4096);
    try {
      for (;;) {
        const n = await this.#conn.read(buf);
        if (n === null) return;
        this.bytes += n;
        const joined = new Uint8Array(this.#tail.length + n);
        joined.set(this.#tail);
        joined.set(buf.subarray(0, n), this.#tail.length);
        this.#tail = joined.slice(Math.max(0, joined.length - TAIL_BYTES));
      }
    } catch (e) {
      if (!isStreamEnd(e)) throw e; // closed by close(), or QEMU went
    }
  }
}

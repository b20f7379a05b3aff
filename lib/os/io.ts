/**
 * Byte streams: the reader and writer shapes of Deno.stdin, Deno.stdout and
 * connections, writing all of a buffer, and reading text until a condition
 * holds, with a timeout. No file of its own.
 * @module
 */

/**
 * Whether `e` is how a connection or pipe ends under a reader or writer: the
 * peer closed or reset it, or it was closed here (BadResource, Interrupted).
 */
export function isStreamEnd(e: unknown): boolean {
  return e instanceof Deno.errors.BrokenPipe || e instanceof Deno.errors.ConnectionReset ||
    e instanceof Deno.errors.ConnectionAborted || e instanceof Deno.errors.NotConnected ||
    e instanceof Deno.errors.UnexpectedEof || e instanceof Deno.errors.BadResource ||
    e instanceof Deno.errors.Interrupted;
}

/** Closes `conn`; one closed already (by us, or ended by the peer) is fine. */
export function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch (e) {
    if (!(e instanceof Deno.errors.BadResource)) throw e;
  }
}

/** Something to read bytes from (Deno.stdin, a connection). */
export interface Reader {
  read(p: Uint8Array): Promise<number | null>;
}

/** Something to write bytes to (Deno.stdout, a connection). */
export interface Writer {
  write(p: Uint8Array): Promise<number>;
}

/** Writes all of `data` to `w`. */
export async function writeAll(w: Writer, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await w.write(data.subarray(off));
}

/** Text read from a connection, waiting for a condition with a timeout. */
export class TextStream {
  /** Everything read so far (the caller may reset it). */
  text = "";
  /** The connection has ended. */
  closed = false;
  readonly #conn: Deno.Conn;
  readonly #dec = new TextDecoder();
  readonly #buf = new Uint8Array(16 * 1024);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Reads until `done(text)` holds or the socket closes; false on timeout. */
  async until(done: (text: string) => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!done(this.text) && !this.closed) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), left));
      let n: number | null | "timeout";
      try {
        n = await Promise.race([this.#conn.read(this.#buf), timeout]);
      } catch (e) {
        if (!isStreamEnd(e)) throw e;
        n = null; // a reset or closed connection ends the text like EOF
      } finally {
        clearTimeout(timer);
      }
      if (n === "timeout") return false;
      if (n === null) {
        this.closed = true;
        break;
      }
      this.text += this.#dec.decode(this.#buf.subarray(0, n), { stream: true });
    }
    return true;
  }
}

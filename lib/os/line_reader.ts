/**
 * Reading answers one line at a time from a stream (standard input for
 * `vm make`'s questions), so that piped answers work: each call takes the
 * next line; at end of input it returns undefined.
 * @module
 */

/** Something with Deno's `read` (Deno.stdin, a file). */
export interface Readable {
  read(p: Uint8Array): Promise<number | null>;
}

/** Reads lines from a Readable; never reads more than it needs to hand out. */
export class LineReader {
  private buf = new Uint8Array(0);
  private eof = false;
  private readonly decoder = new TextDecoder();

  constructor(private readonly src: Readable) {}

  /** The next line without its newline, or undefined at end of input. */
  async readLine(): Promise<string | undefined> {
    while (true) {
      const nl = this.buf.indexOf(10);
      if (nl >= 0) {
        const line = this.buf.subarray(0, nl);
        this.buf = this.buf.slice(nl + 1);
        return this.decoder.decode(line).replace(/\r$/, "");
      }
      if (this.eof) {
        if (this.buf.length === 0) return undefined;
        const rest = this.decoder.decode(this.buf);
        this.buf = new Uint8Array(0);
        return rest;
      }
      const chunk = new Uint8Array(4096);
      const n = await this.src.read(chunk);
      if (n === null) this.eof = true;
      else {
        const next = new Uint8Array(this.buf.length + n);
        next.set(this.buf);
        next.set(chunk.subarray(0, n), this.buf.length);
        this.buf = next;
      }
    }
  }
}

/**
 * Terminal queries in a guest's console output: escape sequences a program
 * sends to ask the terminal something (cursor position `ESC [ 6 n`, status
 * `ESC [ 5 n`, device attributes `ESC [ c`, `ESC [ > c`, a colour `ESC ] 11 ; ?
 * BEL`). On a terminal they are answered; written to a pipe or file they are
 * noise, so piped `vm console` drops them. {@link QueryFilter} works on a
 * stream: a sequence split across chunks is held until it is complete. Pure.
 * @module
 */

const ESC = 0x1b;
const BEL = 0x07;
/** The longest sequence held back waiting for its end; longer ones pass as they are. */
const MAX_HELD = 64;

/** How the bytes at the start of `b` (an ESC) end: a query of `n` bytes, another sequence, or unknown yet. */
function sequenceAt(b: Uint8Array): { query: boolean; length: number } | "partial" {
  if (b.length < 2) return "partial";
  if (b[1] === 0x5b) { // CSI: ESC [ params intermediates final
    for (let i = 2; i < b.length; i++) {
      const c = b[i] ?? 0;
      if (c >= 0x40 && c <= 0x7e) return { query: c === 0x6e || c === 0x63, length: i + 1 };
      if (c < 0x20 || c > 0x3f) return { query: false, length: i };
    }
    return "partial";
  }
  if (b[1] === 0x5d) { // OSC: ESC ] text (BEL | ESC \)
    for (let i = 2; i < b.length; i++) {
      const c = b[i];
      const end = c === BEL ? i + 1 : c === ESC && b[i + 1] === 0x5c ? i + 2 : undefined;
      if (c === ESC && i + 1 >= b.length) return "partial";
      if (end === undefined) continue;
      const body = new TextDecoder().decode(b.subarray(2, i));
      return { query: body.endsWith(";?"), length: end };
    }
    return "partial";
  }
  return { query: false, length: 1 };
}

/** Drops terminal queries from a byte stream (see the module). */
export class QueryFilter {
  #held = new Uint8Array(0);

  /** The bytes of `chunk` to write, queries removed; an unfinished sequence is held. */
  push(chunk: Uint8Array): Uint8Array {
    const b = new Uint8Array(this.#held.length + chunk.length);
    b.set(this.#held);
    b.set(chunk, this.#held.length);
    this.#held = new Uint8Array(0);
    const out: number[] = [];
    let i = 0;
    while (i < b.length) {
      if (b[i] !== ESC) {
        out.push(b[i] ?? 0);
        i++;
        continue;
      }
      const seq = sequenceAt(b.subarray(i));
      if (seq === "partial") {
        if (b.length - i <= MAX_HELD) {
          this.#held = b.slice(i);
          break;
        }
        out.push(ESC);
        i++;
        continue;
      }
      if (!seq.query) { for (let k = 0; k < seq.length; k++) out.push(b[i + k] ?? 0); }
      i += seq.length;
    }
    return new Uint8Array(out);
  }

  /** What is still held at the end of the stream (an unfinished sequence, as it came). */
  flush(): Uint8Array {
    const rest = this.#held;
    this.#held = new Uint8Array(0);
    return rest;
  }
}

/**
 * Text from a guest or from QEMU, made safe to print on a terminal: its
 * control characters become visible escapes, so an escape sequence (a
 * window title `ESC ] 0 ;`, a clipboard write `ESC ] 52 ;`, a screen clear,
 * a cursor query) is shown, never acted on. C0 controls but tab and newline,
 * and DEL, become `\x1b`; C1 controls `\u009b`; bytes that are not UTF-8
 * (raw_text.ts's lone surrogates) in that range `\x9b`. A carriage return
 * right before a newline is kept (serial consoles end lines with CRLF).
 * {@link VisibleStream} does the same to a byte stream cut anywhere. Pure.
 * @module
 */

import { concatBytes } from "./bytes.ts";
import { decodeRaw, encodeRaw } from "./raw_text.ts";

/** What is escaped: C0 but tab and LF, DEL, C1, and raw bytes 0x80–0x9F. */
// deno-lint-ignore no-control-regex -- control characters are what this matches
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f\udc80-\udc9f]/g;

/** Two or four hex digits of `n`. Pure. */
function hex(n: number, digits: number): string {
  return n.toString(16).padStart(digits, "0");
}

/** `text` with its control characters made visible (see the module doc). Pure. */
export function visible(text: string): string {
  return text.replace(CONTROL, (c, at: number) => {
    if (c === "\n" || (c === "\r" && text[at + 1] === "\n")) return c;
    const n = c.charCodeAt(0);
    if (n >= 0xdc80) {
      const prev = text.charCodeAt(at - 1);
      // The second half of a surrogate pair (e.g. U+1F480) is a character, not a raw byte.
      return prev >= 0xd800 && prev <= 0xdbff ? c : `\\x${hex(n - 0xdc00, 2)}`;
    }
    return n >= 0x80 ? `\\u${hex(n, 4)}` : `\\x${hex(n, 2)}`;
  });
}

/** Where the bytes of `b` end before an unfinished UTF-8 sequence or a final CR (held back). */
function safeEnd(b: Uint8Array): number {
  let end = b.length;
  for (let i = b.length - 1; i >= Math.max(0, b.length - 3); i--) {
    const c = b[i] ?? 0;
    if ((c & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    if (b.length - i < need) end = i;
    break;
  }
  return end > 0 && b[end - 1] === 0x0d ? end - 1 : end;
}

/**
 * {@link visible} over a byte stream: a character or a CRLF cut between two
 * chunks is held back until the next one completes it (or {@link flush}).
 */
export class VisibleStream {
  #held = new Uint8Array(0);

  /** The escaped bytes of `chunk` that can be written now. */
  push(chunk: Uint8Array): Uint8Array {
    const bytes = this.#held.length === 0 ? chunk : concatBytes([this.#held, chunk]);
    const end = safeEnd(bytes);
    this.#held = bytes.slice(end);
    return encodeRaw(visible(decodeRaw(bytes.subarray(0, end))));
  }

  /** The escaped bytes held back, at the end of the stream. */
  flush(): Uint8Array {
    const rest = this.#held;
    this.#held = new Uint8Array(0);
    return encodeRaw(visible(decodeRaw(rest)));
  }
}

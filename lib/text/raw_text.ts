import { concatBytes } from "./bytes.ts";
/**
 * Bytes that need not be UTF-8, carried in strings without loss: valid UTF-8
 * decodes as usual; each byte that is not part of valid UTF-8 becomes the
 * lone surrogate U+DC80 + (byte − 0x80) (Python's "surrogateescape"), and
 * encoding turns those back into the very same byte. So a template holding
 * Latin-1 reaches QEMU byte for byte, never as U+FFFD. Pure.
 * @module
 */

// ignoreBOM: a leading EF BB BF is kept as U+FEFF (and encoded back), not dropped.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/** Whether `b` is a UTF-8 continuation byte (10xxxxxx). */
function cont(b: number | undefined): boolean {
  return b !== undefined && (b & 0xc0) === 0x80;
}

/** The length of the valid UTF-8 sequence starting at `i` of `bytes`, or 0. */
function seqLength(bytes: Uint8Array, i: number): number {
  const b = bytes[i] ?? 0;
  const b1 = bytes[i + 1];
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return cont(b1) ? 2 : 0;
  if (b >= 0xe0 && b <= 0xef) {
    const lo = b === 0xe0 ? 0xa0 : 0x80;
    const hi = b === 0xed ? 0x9f : 0xbf; // no encoded surrogates
    const ok = b1 !== undefined && b1 >= lo && b1 <= hi && cont(bytes[i + 2]);
    return ok ? 3 : 0;
  }
  if (b >= 0xf0 && b <= 0xf4) {
    const lo = b === 0xf0 ? 0x90 : 0x80;
    const hi = b === 0xf4 ? 0x8f : 0xbf;
    const ok = b1 !== undefined && b1 >= lo && b1 <= hi && cont(bytes[i + 2]) &&
      cont(bytes[i + 3]);
    return ok ? 4 : 0;
  }
  return 0;
}

/** `bytes` as a string, invalid UTF-8 bytes kept as U+DC80…U+DCFF (see the module). Pure. */
export function decodeRaw(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch (e) {
    if (!(e instanceof TypeError)) throw e; // not UTF-8: done byte by byte below
  }
  let out = "";
  let start = 0;
  let i = 0;
  while (i < bytes.length) {
    const n = seqLength(bytes, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out += utf8.decode(bytes.subarray(start, i)) + String.fromCharCode(0xdc00 + (bytes[i] ?? 0));
    i++;
    start = i;
  }
  return out + utf8.decode(bytes.subarray(start));
}

const ESCAPED = /[\udc80-\udcff]/;

/** The bytes of `text`: UTF-8, with each U+DC80…U+DCFF back to its one byte. Pure. */
export function encodeRaw(text: string): Uint8Array<ArrayBuffer> {
  if (!ESCAPED.test(text)) return encoder.encode(text);
  const parts: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xdc80 || c > 0xdcff) continue;
    // A lone low surrogate (a pair's second half is 0xdc00… after 0xd800…0xdbff).
    const prev = i > 0 ? text.charCodeAt(i - 1) : 0;
    if (prev >= 0xd800 && prev <= 0xdbff) continue;
    parts.push(encoder.encode(text.slice(start, i)), Uint8Array.of(c - 0xdc00));
    start = i + 1;
  }
  parts.push(encoder.encode(text.slice(start)));
  return concatBytes(parts);
}

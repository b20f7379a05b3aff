// lib/text/byte_order.ts compares code points; that must be exactly the
// order of the UTF-8 bytes (what `ls` shows in the C locale), also past the
// Basic Multilingual Plane, where UTF-16 code units order differently.

import assert from "node:assert/strict";
import { byteOrder } from "../../lib/text/byte_order.ts";

/** The reference: compare the UTF-8 encodings byte by byte. */
function utf8Order(a: string, b: string): number {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return (x[i] ?? 0) - (y[i] ?? 0);
  }
  return x.length - y.length;
}

Deno.test("byteOrder: the sign of the UTF-8 byte comparison, astral characters included", () => {
  const pieces = ["a", "b", "-", "é", "\uFFFD", "\u{1F600}", "\u{10000}", "z", ""];
  const words: string[] = [];
  for (const p of pieces) for (const q of pieces) words.push(p + q);
  for (const a of words) {
    for (const b of words) {
      assert.equal(Math.sign(byteOrder(a, b)), Math.sign(utf8Order(a, b)), `${a} vs ${b}`);
    }
  }
  // UTF-16 code units would put U+1F600 (a surrogate pair, 0xD83D…) before U+FFFD.
  assert.ok(byteOrder("\uFFFD", "\u{1F600}") < 0);
});

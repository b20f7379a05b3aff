// lib/text/term_queries.ts: terminal queries dropped from piped console output.

import assert from "node:assert/strict";
import { QueryFilter } from "../../lib/text/term_queries.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function filtered(chunks: string[]): string {
  const f = new QueryFilter();
  return chunks.map((c) => dec.decode(f.push(enc.encode(c)))).join("") + dec.decode(f.flush());
}

Deno.test("QueryFilter: cursor position, status and attribute queries are dropped", () => {
  assert.equal(filtered(["a\x1b[6nb\x1b[5nc\x1b[cd\x1b[>ce\x1b[0c"]), "abcde");
  assert.equal(filtered(["x\x1b]11;?\x07y\x1b]10;?\x1b\\z"]), "xyz");
});

Deno.test("QueryFilter: other sequences and text pass unchanged", () => {
  const text = "\x1b[1;32mgreen\x1b[0m \x1b[2J\x1b[H \x1b]0;title\x07 ok\r\n";
  assert.equal(filtered([text]), text);
});

Deno.test("QueryFilter: a query split across chunks is still dropped", () => {
  assert.equal(filtered(["login: \x1b", "[", "6", "n", "root\n"]), "login: root\n");
  assert.equal(filtered(["a\x1b]11;", "?\x07b"]), "ab");
});

Deno.test("QueryFilter: an unfinished sequence at the end comes out as it was", () => {
  assert.equal(filtered(["end\x1b[1"]), "end\x1b[1");
  // Longer than anything held back: passed on rather than kept.
  const long = "\x1b]" + "x".repeat(100);
  assert.equal(filtered([long, " tail"]), long + " tail");
});

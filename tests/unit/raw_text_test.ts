// Unit tests of lib/text/raw_text.ts: bytes that are not UTF-8 survive a
// decode and encode unchanged (never U+FFFD), and of the
// template path that uses it (lib/vm/templates.ts reads templates as bytes).

import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeRaw, encodeRaw } from "../../lib/text/raw_text.ts";
import { parseTemplate } from "../../lib/vm/templates.ts";
import { inspectDir } from "../../lib/vm/inspect.ts";
import { cString } from "../../lib/os/libc.ts";
import { withTempDir } from "../support/temp_dir.ts";

const bytes = (...b: number[]) => Uint8Array.from(b);

Deno.test("decodeRaw/encodeRaw: every byte value, alone and in UTF-8 context, round-trips", () => {
  for (let b = 0; b < 256; b++) {
    for (const input of [bytes(b), bytes(0x61, b, 0x62), bytes(0xc3, 0xa9, b, 0xe2, 0x82, 0xac)]) {
      assert.deepEqual(encodeRaw(decodeRaw(input)), input, `byte 0x${b.toString(16)}`);
    }
  }
});

Deno.test("decodeRaw: valid UTF-8 decodes as usual; invalid bytes never become U+FFFD", () => {
  assert.equal(decodeRaw(new TextEncoder().encode("café €")), "café €");
  const latin1 = bytes(0x63, 0x61, 0x66, 0xe9); // "café" in Latin-1
  const s = decodeRaw(latin1);
  assert.ok(!s.includes("\ufffd"));
  assert.equal(s, "caf\udce9");
  // Truncated and overlong sequences, encoded surrogates, a leading BOM: all kept.
  for (
    const input of [
      bytes(0xe2, 0x82),
      bytes(0xc0, 0xaf),
      bytes(0xed, 0xa0, 0x80),
      bytes(0xf4, 0x90, 0x80, 0x80),
      bytes(0xef, 0xbb, 0xbf, 0x41),
    ]
  ) {
    assert.deepEqual(encodeRaw(decodeRaw(input)), input);
  }
});

Deno.test("encodeRaw: a real character above U+FFFF is UTF-8, not escaped bytes", () => {
  const text = "\u{10080}\udcff"; // U+10080 is d800 dc80: its low half is no escape
  assert.deepEqual(encodeRaw(text), bytes(0xf0, 0x90, 0x82, 0x80, 0xff));
});

Deno.test("a template's Latin-1 bytes reach the argv vm executes byte for byte", async () => {
  await withTempDir((dir) => {
    Deno.mkdirSync(join(dir, "templates"));
    Deno.writeFileSync(join(dir, "templates", "name"), bytes(...encode("-name caf"), 0xe9, 0x0a));
    const args = inspectDir(dir).readTemplates({}).flatMap((t) => t.args);
    assert.equal(args.length, 2);
    const c = cString(args[1] ?? "");
    assert.deepEqual(c, bytes(0x63, 0x61, 0x66, 0xe9, 0));
    // Quoted and expanded too: the bytes stay what they were.
    assert.deepEqual(
      encodeRaw(parseTemplate(`'a${decodeRaw(bytes(0xff))}' "$X"`, "t", { X: "\udcfe" })[1] ?? ""),
      bytes(0xfe),
    );
  });
});

function encode(s: string): number[] {
  return [...new TextEncoder().encode(s)];
}

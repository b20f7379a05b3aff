// lib/text/visible.ts, the one escaping of text from a
// guest or QEMU before a terminal sees it, and where cli/ prints such text:
// `vm ip`'s table, the `vm: fatal:` line (an agent's error, log lines of a
// failed start). Control characters become `\x1b`-style escapes; tab,
// newline, CRLF and every printable character (astral ones too) stay.

import assert from "node:assert/strict";
import { visible, VisibleStream } from "../../lib/text/visible.ts";
import { decodeRaw } from "../../lib/text/raw_text.ts";
import { CheckFailedError, StartFailedError } from "../../lib/errors.ts";
import { formatInterfaces } from "../../cli/commands/ip.ts";
import { fatalText } from "../../cli/core/output.ts";

const HOSTILE = "\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\x1b[2J\x1b[6n\x9b6n\x7f\x00";
const SHOWN = "\\x1b]0;pwned\\x07\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J\\x1b[6n\\u009b6n\\x7f\\x00";

Deno.test("visible: controls escaped; tab, newline, CRLF and printable text kept", () => {
  assert.equal(visible(HOSTILE), SHOWN);
  assert.equal(visible("a\tb\r\nc\n"), "a\tb\r\nc\n");
  assert.equal(visible("over\rwrite"), "over\\x0dwrite");
  assert.equal(visible("é ü 日本 💀 \u{10080} \u00a0"), "é ü 日本 💀 \u{10080} \u00a0");
  // Bytes that are not UTF-8 (raw_text's lone surrogates): the C1 range escaped as bytes.
  assert.equal(visible(decodeRaw(Uint8Array.of(0x41, 0x9b, 0xe9, 0x42))), "A\\x9b\udce9B");
  const codes = [...visible(HOSTILE)].map((c) => c.charCodeAt(0));
  assert.ok(codes.every((n) => n >= 0x20 && (n < 0x7f || n > 0x9f)));
});

Deno.test("VisibleStream: the same text however the bytes are cut", () => {
  const text = `line\r\n${HOSTILE} é💀日\r\nend\r`;
  const bytes = new TextEncoder().encode(text);
  const whole = new TextDecoder().decode(new TextEncoder().encode(visible(text)));
  for (const size of [1, 2, 3, 5, 7, 64]) {
    const s = new VisibleStream();
    const parts: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += size) parts.push(s.push(bytes.subarray(i, i + size)));
    parts.push(s.flush());
    const out = new TextDecoder().decode(new Uint8Array(parts.flatMap((p) => [...p])));
    assert.equal(out, whole, `chunks of ${size}`);
  }
});

Deno.test("vm ip's table and the fatal line show a hostile guest's text, never act on it", () => {
  const table = formatInterfaces([{
    name: "eth0\x1b]0;title\x07",
    addresses: [{ family: "ipv4", address: "10.0.2.15\x1b[2J", prefix: 24 }],
  }]);
  assert.equal(table, "eth0\\x1b]0;title\\x07 10.0.2.15\\x1b[2J/24");
  const agent = new CheckFailedError(`Guest agent "guest-ping" failed in VM "web": ${HOSTILE}`);
  assert.equal(
    fatalText(agent),
    `vm: fatal: Guest agent "guest-ping" failed in VM "web": ${SHOWN}`,
  );
  const start = new StartFailedError('VM "web" did not start', ["qemu: \x1b]0;x\x07bad"]);
  assert.equal(fatalText(start), 'vm: fatal: VM "web" did not start\n    qemu: \\x1b]0;x\\x07bad');
});

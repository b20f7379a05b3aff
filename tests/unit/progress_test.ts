import assert from "node:assert/strict";
import { progressLine, RateMeter, summaryLine } from "../../cli/core/progress_line.ts";
import { fitWidth, fmtDuration } from "../../cli/core/format.ts";
import { formatBytes } from "../../lib/text/units.ts";

/** Bytes as progress lines show them. */
const fmtBytes = (n: number) => formatBytes(n, true);
import { progress, type ProgressOut } from "../../cli/core/progress.ts";

Deno.test("fmtBytes, fmtDuration", () => {
  assert.equal(fmtBytes(512), "512 B");
  assert.equal(fmtBytes(1536), "1.5 KiB");
  assert.equal(fmtBytes(3 * 2 ** 20), "3.0 MiB");
  assert.equal(fmtBytes(2 ** 30), "1.0 GiB");
  assert.equal(fmtDuration(7), "0:07");
  assert.equal(fmtDuration(723), "12:03");
  assert.equal(fmtDuration(3723), "1:02:03");
});

Deno.test("RateMeter: per second over a moving window, unknown until it spans enough", () => {
  const m = new RateMeter(5000, 300);
  m.add(0, 0);
  assert.equal(m.rate(), undefined);
  m.add(200, 100);
  assert.equal(m.rate(), undefined);
  m.add(1000, 1000);
  assert.equal(m.rate(), 1000);
  // After a stall the old fast samples leave the window.
  m.add(10_000, 1000);
  m.add(11_000, 1500);
  assert.equal(m.rate(), 500);
});

Deno.test("progressLine: percent, bytes, rate, ETA; without total or rate", () => {
  const mib = 2 ** 20;
  assert.equal(
    progressLine({ label: "deb", done: 45 * mib, total: 100 * mib, rate: 11 * mib }),
    "deb   45%  45.0 MiB / 100.0 MiB  11.0 MiB/s  ETA 0:05",
  );
  assert.equal(
    progressLine({ label: "deb", done: 0, total: mib }),
    "deb    0%  0 B / 1.0 MiB  --  ETA --:--",
  );
  assert.equal(progressLine({ label: "x", done: 2 * mib, rate: mib }), "x  2.0 MiB  1.0 MiB/s");
});

Deno.test("summaryLine and fitWidth", () => {
  assert.equal(
    summaryLine("deb", 2 ** 30, 8000, "SHA512 verified"),
    "deb: 1.0 GiB in 8.0 s (128.0 MiB/s); SHA512 verified",
  );
  assert.equal(summaryLine("deb", 0, 0), "deb: 0 B in 0.0 s");
  assert.equal(fitWidth("abcdefghijklmnop", 12), "abcdefghij…");
  assert.equal(fitWidth("short", 80), "short");
});

/** A ProgressOut collecting text. */
function fakeOut(tty: boolean): ProgressOut & { text: string } {
  const dec = new TextDecoder();
  const o = {
    text: "",
    isTerminal: () => tty,
    writeSync(p: Uint8Array) {
      o.text += dec.decode(p);
      return p.length;
    },
  };
  return o;
}

/** A progress "img" on `out` given 10 updates (1000…10000 of 10000 bytes), `stepMs` apart. */
function tenUpdates(out: ReturnType<typeof fakeOut>, stepMs: number) {
  let now = 0;
  const p = progress("img", out, () => now);
  for (let i = 1; i <= 10; i++) {
    now = i * stepMs;
    p.update(i * 1000, 10_000);
  }
  return p;
}

Deno.test("cli progress on a terminal: redrawn with \\r at most every 100 ms, then the final line", () => {
  const out = fakeOut(true);
  const p = tenUpdates(out, 40);
  p.notice("vm: starting over");
  p.finish("img: done");
  const draws = out.text.split("\r\x1b[K").filter((s) => s.startsWith("img  "));
  assert.ok(draws.length >= 3 && draws.length <= 6, JSON.stringify(out.text));
  assert.ok(out.text.includes("\r\x1b[Kvm: starting over\n"), JSON.stringify(out.text));
  assert.ok(out.text.endsWith("\r\x1b[Kimg: done\n"), JSON.stringify(out.text));
});

Deno.test("cli progress on a pipe: no bar, notices and the final line only", () => {
  const out = fakeOut(false);
  const p = tenUpdates(out, 400);
  p.notice("vm: waiting");
  p.clear();
  p.finish("img: done");
  assert.equal(out.text, "vm: waiting\nimg: done\n");
});

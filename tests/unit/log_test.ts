// lib/log.ts: the tail logic (pure), reading the end of a large file, and
// following a file across svlogd-style rotation and truncation (real files).

import assert from "node:assert/strict";
import { parseLineCount } from "../../lib/text/units.ts";
import { join } from "node:path";
import { CheckFailedError, UsageError } from "../../lib/errors.ts";
import { collector } from "../support/harness.ts";
import { followAction, followLog, logFile, readTail, tailStart } from "../../lib/vm/log.ts";
import { withTempDir } from "../support/temp_dir.ts";
import { lastLines, lastLogLine } from "../support/log_lines.ts";

/** `text` as UTF-8 bytes. */
const bytes = (text: string) => new TextEncoder().encode(text);
const dec = new TextDecoder();

async function until(pred: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

Deno.test("tailStart: where the last n lines begin", () => {
  const b = bytes("a\nbb\nccc\n");
  assert.equal(tailStart(b, 1, true), 5);
  assert.equal(tailStart(b, 2, true), 2);
  assert.equal(tailStart(b, 3, true), 0);
  assert.equal(tailStart(b, 4, true), 0, "fewer lines than asked: all of them");
  assert.equal(tailStart(b, 0, true), b.length, "-n 0: nothing");
  // The end of a file: more may come before it.
  assert.equal(tailStart(b, 3, false), undefined);
  assert.equal(tailStart(b, 2, false), 2);
  // A last line without its newline counts.
  assert.equal(tailStart(bytes("a\nbb"), 1, true), 2);
  assert.equal(tailStart(bytes(""), 1, true), 0);
  assert.equal(tailStart(bytes("\n\n"), 1, true), 1, "empty lines are lines");
});

Deno.test("lastLines and parseLineCount", () => {
  assert.equal(lastLines("1\n2\n3\n4\n", 2), "3\n4\n");
  assert.equal(lastLines("1\n2\n3\n4\n", 10), "1\n2\n3\n4\n");
  assert.equal(lastLines("1\n2", 1), "2");
  assert.equal(parseLineCount("20"), 20);
  assert.equal(parseLineCount("0"), 0);
  for (const bad of ["-1", "x", "", "1.5"]) {
    assert.throws(() => parseLineCount(bad), UsageError, bad);
  }
});

Deno.test("followAction: read, idle, truncated, rotated, missing", () => {
  assert.equal(followAction({ ino: 5, offset: 10 }, { ino: 5, size: 12 }), "read");
  assert.equal(followAction({ ino: 5, offset: 10 }, { ino: 5, size: 10 }), "idle");
  assert.equal(followAction({ ino: 5, offset: 10 }, { ino: 5, size: 3 }), "truncated");
  assert.equal(followAction({ ino: 5, offset: 10 }, { ino: 6, size: 30 }), "rotated");
  assert.equal(followAction({ ino: 5, offset: 10 }, undefined), "missing");
});

Deno.test("readTail: the last lines of a file larger than one read block", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "current");
    const lines = Array.from({ length: 5000 }, (_, i) => `line ${i} ${"x".repeat(40)}`);
    Deno.writeTextFileSync(path, lines.join("\n") + "\n");
    const size = Deno.statSync(path).size;
    assert.ok(size > 200_000);
    const t = readTail(path, 3);
    assert.equal(dec.decode(t.data), lines.slice(-3).join("\n") + "\n");
    assert.equal(t.size, size);
    const all = readTail(path, 100_000);
    assert.equal(all.data.length, size);
    // 2000 lines span several 64 KiB blocks backwards.
    assert.equal(dec.decode(readTail(path, 2000).data), lines.slice(-2000).join("\n") + "\n");
  });
});

Deno.test("followLog: prints the tail, then appends, across rotation and truncation", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "current");
    const abort = new AbortController();
    const out = collector();
    try {
      Deno.writeTextFileSync(path, "old 1\nold 2\nold 3\n");
      const following = followLog("t1", path, 2, true, out, { signal: abort.signal, pollMs: 20 });
      assert.ok(await until(() => out.text === "old 2\nold 3\n"), out.text);
      Deno.writeTextFileSync(path, "new 4\n", { append: true });
      assert.ok(await until(() => out.text.endsWith("old 3\nnew 4\n")), out.text);
      // svlogd's rotation: a last line into the old file, rename it, create a new current.
      Deno.writeTextFileSync(path, "last of old\n", { append: true });
      Deno.renameSync(path, join(dir, "@4000000000000001.s"));
      Deno.writeTextFileSync(path, "first of new\n");
      assert.ok(await until(() => out.text.endsWith("last of old\nfirst of new\n")), out.text);
      // Truncation: read again from the start.
      Deno.truncateSync(path, 0);
      await new Promise((r) => setTimeout(r, 100));
      Deno.writeTextFileSync(path, "after truncation\n", { append: true });
      assert.ok(await until(() => out.text.endsWith("first of new\nafter truncation\n")), out.text);
      assert.equal(
        out.text,
        "old 2\nold 3\nnew 4\nlast of old\nfirst of new\nafter truncation\n",
        "nothing printed twice, nothing lost",
      );
      abort.abort();
      await following;
    } finally {
      abort.abort();
    }
  });
});

Deno.test("followLog: a missing log is an error, or waited for when following", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "current");
    const abort = new AbortController();
    try {
      await assert.rejects(
        () => followLog("t1", path, 10, false, collector()),
        (e: unknown) => e instanceof CheckFailedError && /VM "t1" has no log yet/.test(e.message),
      );
      const out = collector();
      const following = followLog("t1", path, 10, true, out, { signal: abort.signal, pollMs: 20 });
      await new Promise((r) => setTimeout(r, 100));
      Deno.writeTextFileSync(path, "hello\n");
      assert.ok(await until(() => out.text === "hello\n"), out.text);
      abort.abort();
      await following;
      // Without -f: the tail only, and done.
      const once = collector();
      await followLog("t1", path, 10, false, once);
      assert.equal(once.text, "hello\n");
    } finally {
      abort.abort();
    }
  });
});

Deno.test("logFile: a VM without log/ gets a message saying how to enable it", async () => {
  await withTempDir((dir) => {
    assert.throws(
      () => logFile("t1", dir),
      (e: unknown) =>
        e instanceof CheckFailedError && e.exitCode === 1 &&
        e.message.startsWith('VM "t1" does not log; enable it with: mkdir') &&
        e.message.includes("ln -s ../../.default/log/run") && e.message.includes("vm make --log"),
    );
    Deno.mkdirSync(join(dir, "log"));
    assert.equal(logFile("t1", dir), join(dir, "log/main/current"));
  });
});

Deno.test("lastLogLine: the last line of a svlogd log without its timestamp", () => {
  assert.equal(
    lastLogLine("2024-05-01_10:00:00.12345 a\n2024-05-01_10:00:01.00001 vm: fatal: x\n\n"),
    "vm: fatal: x",
  );
  assert.equal(lastLogLine("@400000006630f1a20a3b2c1c vm: fatal: y\n"), "vm: fatal: y");
  assert.equal(
    lastLogLine(
      "2024-05-01_10:00:00.1 vm: fatal: templates/evil:1: no\n" +
        "2024-05-01_10:00:00.2 vm: QEMU ended after 0.1 s (exit 111); next start in 1 s " +
        "(crash-loop backoff, 1 quick exit(s) in a row)\n",
    ),
    "vm: fatal: templates/evil:1: no",
    "a backoff line says when, not why",
  );
  assert.equal(lastLogLine("plain\n"), "plain");
  assert.equal(lastLogLine(""), undefined);
});

// lib/console.ts: the detach byte, HMP answers, and the copying loops against
// real unix sockets (a small server in the test stands in for QEMU; the real
// QEMU is in access_test.ts).

import assert from "node:assert/strict";
import { connectUnix } from "../../lib/qemu/socket.ts";
import { join } from "node:path";
import {
  attachInteractive,
  attachPiped,
  connectVmSocket,
  DETACH_BYTE,
  splitAtDetach,
} from "../../lib/qemu/console.ts";
import { CheckFailedError, SystemError } from "../../lib/errors.ts";
import { collector } from "../support/harness.ts";
import { hmpAnswer, hmpGreeting, hmpSession } from "../../lib/qemu/hmp.ts";
import { type Reader } from "../../lib/os/io.ts";
import { withTempDir } from "../support/temp_dir.ts";
import { encodeStatus } from "../support/runit_status.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A Reader giving `chunks` one per read, then waiting `endMs` (or forever), then EOF. */
function chunks(list: (string | Uint8Array)[], endMs?: number): Reader {
  const queue = list.map((c) => typeof c === "string" ? enc.encode(c) : c);
  return {
    async read(p: Uint8Array): Promise<number | null> {
      const next = queue.shift();
      if (next === undefined) {
        if (endMs === undefined) return await new Promise<null>(() => {});
        await new Promise((r) => setTimeout(r, endMs));
        return null;
      }
      p.set(next);
      return next.length;
    },
  };
}

/**
 * A unix socket server in a temp dir (`serve` handles each connection), and
 * `test` with a client connection to it, made through connectUnix.
 */
async function withServer(
  serve: (conn: Deno.Conn) => Promise<void>,
  test: (conn: Deno.Conn) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    Deno.mkdirSync(join(dir, "supervise"));
    const listener = Deno.listen({ transport: "unix", path: join(dir, "supervise", "sock") });
    const handlers: Promise<void>[] = [];
    const accepting = (async () => {
      for await (const conn of listener) handlers.push(serve(conn).catch(() => {}));
    })().catch(() => {});
    try {
      await test(await connectUnix(join(dir, "supervise/sock")));
      // The test connected once: let the server take that connection before closing.
      for (let i = 0; i < 200 && handlers.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      listener.close();
      await accepting;
      await Promise.all(handlers);
    }
  });
}

/** A server for withServer that writes `text` and closes. */
function sayAndClose(text: string): (conn: Deno.Conn) => Promise<void> {
  return async (conn) => {
    await conn.write(enc.encode(text));
    conn.close();
  };
}

/** A server for withServer that reads until the client closes, then closes. */
function drainAndClose(conn: Deno.Conn): Promise<void> {
  return readAll(conn).then(() => conn.close());
}

/** Reads everything from `conn` until it closes; returns it. */
async function readAll(conn: Deno.Conn): Promise<string> {
  let text = "";
  const buf = new Uint8Array(1024);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += dec.decode(buf.subarray(0, n));
    }
  } catch { /* reset */ }
  return text;
}

Deno.test("splitAtDetach: bytes before Ctrl-] go on, the rest is dropped", () => {
  assert.deepEqual(splitAtDetach(enc.encode("abc")), { data: enc.encode("abc"), detach: false });
  assert.deepEqual(splitAtDetach(new Uint8Array([0x61, DETACH_BYTE, 0x62])), {
    data: new Uint8Array([0x61]),
    detach: true,
  });
  assert.deepEqual(splitAtDetach(new Uint8Array([DETACH_BYTE])), {
    data: new Uint8Array([]),
    detach: true,
  });
  assert.equal(DETACH_BYTE, 0x1d);
});

Deno.test("hmpAnswer: drops QEMU's echo and prompt, waits for the prompt", () => {
  // What QEMU 7.2 sends after "info status\n" (echo with cursor escapes, answer, prompt).
  const raw = "i\x1b[K\x1b[Din\x1b[K\x1b[D\x1b[Dinfo status\x1b[K\r\n" +
    "VM status: paused (prelaunch)\r\n(qemu) ";
  assert.equal(hmpAnswer(raw), "VM status: paused (prelaunch)\n");
  assert.equal(hmpAnswer("info name\x1b[K\r\n(qemu) "), "");
  assert.equal(hmpAnswer("info x\r\nline 1\r\nline 2\r\n(qemu) "), "line 1\nline 2\n");
  assert.equal(hmpAnswer("x\r\nno newline(qemu) "), "no newline\n");
  assert.equal(hmpAnswer("info status\x1b[K\r\nVM status: run"), undefined);
  assert.equal(hmpAnswer("info sta"), undefined);
});

Deno.test("connectUnix: a socket in a directory longer than sun_path allows", async () => {
  await withTempDir(async (root) => {
    const dir = join(root, "d".repeat(120));
    Deno.mkdirSync(join(dir, "supervise"), { recursive: true });
    const cwd = Deno.cwd();
    Deno.chdir(dir);
    const listener = Deno.listen({ transport: "unix", path: "supervise/sock" });
    Deno.chdir(cwd);
    try {
      assert.ok(join(dir, "supervise/sock").length > 108);
      const accepted = listener.accept();
      const conn = await connectUnix(join(dir, "supervise/sock"));
      assert.equal(Deno.cwd(), cwd, "the current directory is unchanged");
      (await accepted).close();
      conn.close();
    } finally {
      listener.close();
    }
  });
});

Deno.test("connectVmSocket: clear errors when the VM is not running or has no console", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(
      () => connectVmSocket("t1", dir, "console"),
      (e: unknown) =>
        e instanceof CheckFailedError &&
        e.message === 'VM "t1" is not running; start it with "vm start t1"',
    );
    Deno.mkdirSync(join(dir, "supervise"));
    const status = encodeStatus({
      since: 1,
      pid: 1,
      paused: false,
      want: "up",
      gotTerm: false,
      state: "run",
    });
    Deno.writeFileSync(join(dir, "supervise", "status"), status);
    await assert.rejects(
      () => connectVmSocket("t1", dir, "console"),
      (e: unknown) =>
        e instanceof CheckFailedError && e.exitCode === 1 &&
        /has no serial console socket .*serial-console/.test(e.message),
    );
  });
});

Deno.test("attachPiped: sends the input, prints the answer, ends when quiet", async () => {
  await withServer(async (conn) => {
    const got = await (async () => {
      const buf = new Uint8Array(100);
      const n = await conn.read(buf);
      return dec.decode(buf.subarray(0, n ?? 0));
    })();
    // A slow answer, as a guest's: it comes after the input ended.
    await new Promise((r) => setTimeout(r, 300));
    await conn.write(enc.encode(got.toUpperCase()));
    await readAll(conn);
    conn.close();
  }, async (conn) => {
    const out = collector();
    const t0 = performance.now();
    const how = await attachPiped(conn, chunks(["echo hi\n"], 0), out, 600);
    const ms = performance.now() - t0;
    assert.equal(how, "idle");
    assert.equal(out.text, "ECHO HI\n");
    assert.ok(ms >= 900 && ms < 3000, `ended after ${ms} ms: 300 ms answer + 600 ms quiet`);
  });
});

Deno.test("attachPiped: the socket closing ends it", async () => {
  await withServer(sayAndClose("bye\n"), async (conn) => {
    const out = collector();
    assert.equal(await attachPiped(conn, chunks([]), out, 60_000), "closed");
    assert.equal(out.text, "bye\n");
  });
});

Deno.test("attachInteractive: Ctrl-] detaches; bytes before it are sent, after it not", async () => {
  let received = "";
  await withServer(async (conn) => {
    received = await readAll(conn);
    conn.close();
  }, async (conn) => {
    const out = collector();
    const input = chunks(["root\r", new Uint8Array([0x6c, 0x73, DETACH_BYTE, 0x78])]);
    // Ctrl-] wins even though the input never ends.
    assert.equal(await attachInteractive(conn, input, out), "detached");
  });
  assert.equal(received, "root\rls");
});

Deno.test("attachInteractive: ends on the socket closing, on end of input and on abort", async () => {
  await withServer(sayAndClose("Power down.\r\n"), async (conn) => {
    const out = collector();
    assert.equal(await attachInteractive(conn, chunks([]), out), "closed");
    assert.equal(out.text, "Power down.\r\n");
  });
  await withServer(drainAndClose, async (conn) => {
    assert.equal(await attachInteractive(conn, chunks(["a"], 0), collector()), "eof");
  });
  await withServer(drainAndClose, async (conn) => {
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 50);
    assert.equal(
      await attachInteractive(conn, chunks([]), collector(), abort.signal),
      "detached",
    );
  });
});

/** A fake HMP monitor: greeting, echo with escapes, answers, `quit` closes. */
async function fakeHmp(conn: Deno.Conn): Promise<void> {
  await conn.write(enc.encode("QEMU 7.2.0 monitor - type 'help' for more information\r\n(qemu) "));
  const buf = new Uint8Array(1024);
  let pending = "";
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    pending += dec.decode(buf.subarray(0, n));
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      const echo = line + "\x1b[K\r\n";
      if (line === "quit") {
        await conn.write(enc.encode(echo));
        conn.close();
        return;
      }
      const answer = line === "info status" ? "VM status: running\r\n" : "";
      await conn.write(enc.encode(echo));
      await conn.write(enc.encode(answer + "(qemu) "));
    }
  }
  conn.close();
}

Deno.test("hmpSession: one answer per line, blank lines skipped, quit ends it", async () => {
  await withServer(fakeHmp, async (conn) => {
    const answers: string[] = [];
    async function* lines() {
      yield "info status";
      yield "";
      yield "info name\r";
      yield "quit";
      yield "info status";
    }
    await hmpSession(conn, "t1", lines(), (text) => {
      answers.push(text);
      return Promise.resolve();
    });
    assert.deepEqual(answers, ["VM status: running\n", ""]);
  });
});

Deno.test("hmpGreeting: a monitor that does not greet (another client has it) is an error", async () => {
  await withServer(drainAndClose, async (conn) => {
    try {
      await assert.rejects(
        () => hmpGreeting(conn, "t1", 200),
        (e: unknown) =>
          e instanceof SystemError && /one monitor client at a time/.test(e.message) &&
          e.exitCode === 111,
      );
    } finally {
      conn.close();
    }
  });
});

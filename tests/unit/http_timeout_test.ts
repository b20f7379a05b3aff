// Every wait of a download is bounded (lib/images/http.ts,
// set by VMCONF_HTTP_*_TIMEOUT). A server on 127.0.0.1 that accepts and
// never answers, that stalls mid-body, or whose accept queue is full (the
// connection never completes) ends the pull with one line, the `.part`
// kept with what arrived (none left when nothing did); an abort (Ctrl-C,
// SIGTERM) while waiting for an answer leaves no empty `.part`. Short
// timeouts stand in for the defaults (30 s, 30 s, 60 s).

import assert from "node:assert/strict";
import { join } from "node:path";
import { SystemError, UsageError } from "../../lib/errors.ts";
import { DEFAULT_TIMEOUTS, httpGet, HttpTimeoutError } from "../../lib/images/http.ts";
import { InterruptedError, transfer } from "../../lib/images/download.ts";
import { fetchText } from "../../lib/images/source.ts";
import { httpTimeouts } from "../../lib/vm/config.ts";
import { withTempDir } from "../support/temp_dir.ts";

const SHORT = { connectMs: 300, headerMs: 300, idleMs: 300 };

/** A TCP server on 127.0.0.1 whose connections get `serve`d (and are all closed by `close`). */
class Server {
  readonly listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly conns: Deno.Conn[] = [];
  readonly #loop: Promise<void>;
  constructor(serve: (c: Deno.Conn) => Promise<void> = () => Promise.resolve()) {
    this.#loop = (async () => {
      for await (const c of this.listener) {
        this.conns.push(c);
        void serve(c).catch(() => {}); // the client went away
      }
    })().catch(() => {}); // the listener was closed
  }
  get url(): string {
    return `http://127.0.0.1:${(this.listener.addr as Deno.NetAddr).port}/img.qcow2`;
  }
  async close(): Promise<void> {
    this.listener.close();
    for (const c of this.conns) {
      try {
        c.close();
      } catch { /* closed by the client */ }
    }
    await this.#loop;
  }
}

/** Reads a request head from `c`. */
async function readRequest(c: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(4096);
  let text = "";
  while (!text.includes("\r\n\r\n")) {
    const n = await c.read(buf);
    if (n === null) return;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
}

/** `p`, or a failure naming `what` when it takes more than `ms` (the old code waited forever). */
async function settlesWithin<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) =>
    timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms)
  );
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("a server that accepts and never answers: one line after the header wait, no .part", async () => {
  const server = new Server();
  try {
    const t0 = performance.now();
    await assert.rejects(
      () => settlesWithin(httpGet(server.url, {}, { timeouts: SHORT }), 5000, "httpGet"),
      (e) => e instanceof HttpTimeoutError && e.wait === "header",
    );
    assert.ok(performance.now() - t0 < 3000);
    await withTempDir(async (dir) => {
      const path = join(dir, "img.qcow2");
      const pull = transfer({ url: server.url, path }, { timeouts: SHORT });
      await assert.rejects(
        () => settlesWithin(pull, 5000, "transfer"),
        (e) =>
          e instanceof SystemError && e.exitCode === 111 &&
          e.message === `Cannot download "${server.url}": no answer within 0.3 s of the ` +
              `request, the wait VMCONF_HTTP_HEADER_TIMEOUT sets; check the URL and the ` +
              `network, then pull again`,
      );
      assert.deepEqual([...Deno.readDirSync(dir)], [], "no empty .part is left");
      // A checksum file's fetch too.
      await assert.rejects(
        () => settlesWithin(fetchText(server.url, { timeouts: SHORT }), 5000, "fetchText"),
        (e) => e instanceof SystemError && /no answer within 0\.3 s/.test(e.message),
      );
    });
  } finally {
    await server.close();
  }
});

Deno.test("a server that stalls mid-body: one line after the idle wait, the .part kept for a resume", async () => {
  const sent = 100 * 1024;
  const server = new Server(async (c) => {
    await readRequest(c);
    const head = "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\nConnection: close\r\n\r\n";
    await c.write(new TextEncoder().encode(head));
    await c.write(new Uint8Array(sent).fill(7));
  });
  try {
    await withTempDir(async (dir) => {
      const path = join(dir, "img.qcow2");
      const pull = transfer({ url: server.url, path }, { timeouts: SHORT });
      await assert.rejects(
        () => settlesWithin(pull, 5000, "transfer"),
        (e) =>
          e instanceof SystemError &&
          e.message === `Download of "${server.url}" broke off after 100.0 KiB of 1.0 MiB ` +
              `(nothing received for 0.3 s, the wait VMCONF_HTTP_IDLE_TIMEOUT sets); ` +
              `"${path}.part" is kept: pull again to resume`,
      );
      assert.equal(Deno.statSync(`${path}.part`).size, sent);
    });
  } finally {
    await server.close();
  }
});

Deno.test("a connection that never completes (a full accept queue): one line after the connect wait", async () => {
  // Nothing accepts: fill the kernel's queue of connections until a connect hangs.
  const full = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (full.addr as Deno.NetAddr).port;
  const queued: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 4096; i++) {
      const c = Deno.connect({ hostname: "127.0.0.1", port });
      const r = await Promise.race([
        c,
        new Promise<"hung">((ok) => setTimeout(() => ok("hung"), 200)),
      ]);
      if (r === "hung") {
        c.then((x) => x.close(), () => {});
        break;
      }
      queued.push(r);
    }
    const t0 = performance.now();
    await assert.rejects(
      () =>
        settlesWithin(
          httpGet(`http://127.0.0.1:${port}/x`, {}, { timeouts: SHORT }),
          5000,
          "httpGet",
        ),
      (e) => e instanceof HttpTimeoutError && e.message === "no connection within 0.3 s",
    );
    assert.ok(performance.now() - t0 < 3000);
  } finally {
    for (const c of queued) c.close();
    full.close();
  }
});

Deno.test("an abort while waiting for the answer: interrupted, no empty .part", async () => {
  const server = new Server();
  try {
    await withTempDir(async (dir) => {
      const path = join(dir, "img.qcow2");
      const ctl = new AbortController();
      const pull = transfer({ url: server.url, path }, { signal: ctl.signal });
      while (server.conns.length === 0) await new Promise((ok) => setTimeout(ok, 10));
      ctl.abort();
      await assert.rejects(() => settlesWithin(pull, 5000, "transfer"), InterruptedError);
      assert.deepEqual([...Deno.readDirSync(dir)], []);
    });
  } finally {
    await server.close();
  }
});

Deno.test("VMCONF_HTTP_*_TIMEOUT: seconds (fractions too), defaults 30, 30, 60; others refused", () => {
  assert.deepEqual(httpTimeouts({}), DEFAULT_TIMEOUTS);
  assert.deepEqual(DEFAULT_TIMEOUTS, { connectMs: 30_000, headerMs: 30_000, idleMs: 60_000 });
  assert.deepEqual(
    httpTimeouts({ VMCONF_HTTP_CONNECT_TIMEOUT: "5", VMCONF_HTTP_IDLE_TIMEOUT: "0.25" }),
    { connectMs: 5000, headerMs: 30_000, idleMs: 250 },
  );
  for (const bad of ["0", "-1", "abc", "1e3", "90000"]) {
    assert.throws(
      () => httpTimeouts({ VMCONF_HTTP_HEADER_TIMEOUT: bad }),
      (e) =>
        e instanceof UsageError &&
        e.message.startsWith(`VMCONF_HTTP_HEADER_TIMEOUT="${bad}" is not a number of seconds`),
    );
  }
});

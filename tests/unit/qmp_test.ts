/**
 * Tests of lib/qmp.ts: against a fake QMP server on a unix socket in a temp
 * dir, and against a real `qemu-system-x86_64 -machine none`.
 */

import assert from "node:assert/strict";
import { CheckFailedError, SystemError } from "../../lib/errors.ts";
import { QmpClient } from "../../lib/qemu/qmp.ts";
import { withTempDir } from "../support/temp_dir.ts";
import { qmpAnswers } from "../support/qmp_probe.ts";

const GREETING = {
  QMP: { version: { qemu: { micro: 0, minor: 2, major: 9 }, package: "" }, capabilities: [] },
};

/** The server side of a fake QMP connection. */
class Peer {
  #buffer = "";
  #decoder = new TextDecoder();
  #encoder = new TextEncoder();
  constructor(readonly conn: Deno.UnixConn) {}

  /** Reads one JSON message line; null at EOF. */
  async read(): Promise<Record<string, unknown> | null> {
    const chunk = new Uint8Array(4096);
    for (;;) {
      const nl = this.#buffer.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        return JSON.parse(line);
      }
      const n = await this.conn.read(chunk);
      if (n === null) return null;
      this.#buffer += this.#decoder.decode(chunk.subarray(0, n), { stream: true });
    }
  }

  /** Writes raw text, all of it. */
  async write(text: string | Uint8Array): Promise<void> {
    const bytes = typeof text === "string" ? this.#encoder.encode(text) : text;
    let offset = 0;
    while (offset < bytes.length) offset += await this.conn.write(bytes.subarray(offset));
  }

  /** Writes messages as QEMU does, one per line ending in CRLF. */
  async send(...messages: unknown[]): Promise<void> {
    await this.write(messages.map((m) => JSON.stringify(m) + "\r\n").join(""));
  }

  /** Sends the greeting and accepts `qmp_capabilities`. */
  async handshake(): Promise<void> {
    await this.send(GREETING);
    const caps = await this.read();
    assert.equal(caps?.execute, "qmp_capabilities");
    await this.send({ return: {}, id: caps.id });
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }
}

/**
 * Runs a fake QMP server at `<tmp>/qmp` serving one connection with `serve`,
 * and `body` with the socket path; cleans everything up.
 */
async function withServer(
  serve: (peer: Peer) => Promise<void>,
  body: (path: string) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const path = `${dir}/qmp`;
    const listener = Deno.listen({ transport: "unix", path });
    const served = (async () => {
      const peer = new Peer(await listener.accept());
      try {
        await serve(peer);
      } finally {
        peer.close();
      }
    })();
    try {
      await body(path);
      await served;
    } finally {
      listener.close();
      await served.catch(() => {});
    }
  });
}

/** withServer, with `body` given a client connected to it (2 s timeout), closed afterwards. */
async function withClient(
  serve: (peer: Peer) => Promise<void>,
  body: (client: QmpClient) => Promise<void>,
): Promise<void> {
  await withServer(serve, async (path) => {
    const client = await QmpClient.connect(path, { timeoutMs: 2000 });
    try {
      await body(client);
    } finally {
      client.close();
    }
  });
}

Deno.test("qmp: handshake reads the greeting and negotiates capabilities", async () => {
  let sawEof = false;
  await withServer(async (peer) => {
    await peer.handshake();
    sawEof = (await peer.read()) === null;
  }, async (path) => {
    const client = await QmpClient.connect(path, { timeoutMs: 2000 });
    assert.deepEqual(client.greeting, GREETING.QMP);
    assert.equal(client.closed, false);
    assert.equal(client.path, path);
    client.close();
    assert.equal(client.closed, true);
    client.close();
  });
  assert.ok(sawEof, "the server sees EOF after close()");
});

Deno.test("qmp: replies are matched by id, events are recorded in between", async () => {
  await withClient(async (peer) => {
    await peer.handshake();
    const a = await peer.read();
    const b = await peer.read();
    assert.equal(a?.execute, "query-status");
    assert.equal(b?.execute, "query-name");
    assert.deepEqual(b?.arguments, { x: 1 });
    assert.notEqual(a?.id, b?.id);
    // Out of order, with an event in between, all in one write.
    await peer.send(
      { return: { name: "b" }, id: b?.id },
      {
        event: "POWERDOWN",
        timestamp: { seconds: 1700000000, microseconds: 123456 },
      },
      { return: { status: "running", running: true }, id: a?.id },
    );
    await peer.read();
  }, async (client) => {
    const before = performance.now();
    const [a, b] = await Promise.all([
      client.execute("query-status"),
      client.execute("query-name", { x: 1 }),
    ]);
    assert.deepEqual(a, { status: "running", running: true });
    assert.deepEqual(b, { name: "b" });
    assert.equal(client.events.length, 1);
    const event = client.events[0];
    assert.equal(event?.event, "POWERDOWN");
    assert.deepEqual(event?.timestamp, { seconds: 1700000000, microseconds: 123456 });
    assert.ok(event !== undefined && event.receivedAt >= before);
    assert.equal(await client.waitForEvent("POWERDOWN", 0), event);
    assert.equal(await client.waitForEvent("POWERDOWN", 10, 1), undefined);
  });
});

Deno.test("qmp: messages split across chunks (even inside UTF-8) are parsed", async () => {
  await withClient(async (peer) => {
    await peer.handshake();
    const cmd = await peer.read();
    const text = JSON.stringify({ event: "X", data: { s: "é€😀" } }) + "\r\n" +
      JSON.stringify({ return: { s: "ünïcödé" }, id: cmd?.id }) + "\r\n";
    const bytes = new TextEncoder().encode(text);
    for (let i = 0; i < bytes.length; i += 3) {
      await peer.write(bytes.subarray(i, i + 3));
      await new Promise((r) => setTimeout(r, 1));
    }
    await peer.read();
  }, async (client) => {
    assert.deepEqual(await client.execute("x", undefined, { timeoutMs: 5000 }), { s: "ünïcödé" });
    assert.deepEqual(client.events[0]?.data, { s: "é€😀" });
  });
});

Deno.test("qmp: an error reply throws CheckFailedError", async () => {
  await withClient(async (peer) => {
    await peer.handshake();
    const cmd = await peer.read();
    await peer.send({
      error: { class: "CommandNotFound", desc: "The command nope has not been found" },
      id: cmd?.id,
    });
    await peer.read();
  }, async (client) => {
    await assert.rejects(client.execute("nope"), (e: unknown) => {
      assert.ok(e instanceof CheckFailedError);
      assert.equal(e.message, `QMP "nope" failed: The command nope has not been found`);
      assert.equal(e.exitCode, 1);
      return true;
    });
    assert.equal(client.closed, false);
  });
});

Deno.test("qmp: a command without reply times out; the connection stays usable", async () => {
  await withClient(async (peer) => {
    await peer.handshake();
    await peer.read(); // never answered
    const second = await peer.read();
    await peer.send({ return: 42, id: second?.id });
    await peer.read();
  }, async (client) => {
    const start = performance.now();
    await assert.rejects(client.execute("slow", undefined, { timeoutMs: 200 }), (e: unknown) => {
      assert.ok(e instanceof SystemError);
      assert.match(e.message, /^QMP "slow" got no reply within 200 ms on ".*"; is QEMU hung\?$/);
      return true;
    });
    const elapsed = performance.now() - start;
    assert.ok(elapsed >= 190 && elapsed < 1000, `timed out after ${elapsed} ms`);
    assert.equal(await client.execute("fast", undefined, { timeoutMs: 2000 }), 42);
  });
});

Deno.test("qmp: connect times out when the server never greets", async () => {
  let release = () => {};
  await withServer(async (peer) => {
    await new Promise<void>((r) => release = r);
    assert.equal(await peer.read(), null);
  }, async (path) => {
    const start = performance.now();
    await assert.rejects(QmpClient.connect(path, { timeoutMs: 200 }), (e: unknown) => {
      assert.ok(e instanceof SystemError);
      assert.match(e.message, /^QMP socket ".*" sent no greeting within 200 ms; /);
      return true;
    });
    assert.ok(performance.now() - start < 1000);
    assert.equal(await qmpAnswers(path, 100), false);
    release();
  });
});

Deno.test("qmp: server close ends waits, fails pending commands, send returns false", async () => {
  await withClient(async (peer) => {
    await peer.handshake();
    await peer.read(); // "hang"
    await new Promise((r) => setTimeout(r, 50));
  }, async (client) => {
    assert.equal(await client.waitClosed(20), false);
    const hang = client.execute("hang", undefined, { timeoutMs: 5000 });
    const event = client.waitForEvent("SHUTDOWN", 5000);
    const start = performance.now();
    assert.equal(await client.waitClosed(5000), true);
    assert.ok(performance.now() - start < 1000);
    assert.equal(client.closed, true);
    await assert.rejects(hang, (e: unknown) => {
      assert.ok(e instanceof SystemError);
      assert.match(e.message, /^QMP socket ".*" closed before the reply to "hang" \(QEMU closed/);
      return true;
    });
    assert.equal(await event, undefined);
    assert.equal(await client.send("system_powerdown"), false);
    await assert.rejects(client.execute("x"), SystemError);
    assert.equal(await client.waitClosed(0), true);
  });
});

Deno.test("qmp: a reset connection (unread data at close) counts as closed", async () => {
  await withClient(async (peer) => {
    await peer.handshake();
    await new Promise((r) => setTimeout(r, 100)); // leaves the sent command unread
  }, async (client) => {
    assert.equal(await client.send("system_powerdown", undefined, { timeoutMs: 1000 }), true);
    assert.equal(await client.waitClosed(5000), true);
    await assert.rejects(client.execute("x"), /\(QEMU reset it\)/);
  });
});

Deno.test("qmp: waitForEvent waits for a later event; send ignores the reply", async () => {
  await withClient(async (peer) => {
    await peer.handshake();
    const cmd = await peer.read();
    assert.equal(cmd?.execute, "system_powerdown");
    await peer.send({ return: {}, id: cmd?.id });
    await new Promise((r) => setTimeout(r, 50));
    await peer.send({ event: "POWERDOWN", timestamp: { seconds: 1, microseconds: 2 } });
    await new Promise((r) => setTimeout(r, 50));
    await peer.send({ event: "SHUTDOWN", data: { guest: true, reason: "guest-shutdown" } });
    await peer.read();
  }, async (client) => {
    const from = client.events.length;
    assert.equal(await client.send("system_powerdown"), true);
    const powerdown = await client.waitForEvent("POWERDOWN", 5000, from);
    assert.equal(powerdown?.event, "POWERDOWN");
    const shutdown = await client.waitForEvent("SHUTDOWN", 5000, from);
    assert.deepEqual(shutdown?.data, { guest: true, reason: "guest-shutdown" });
    assert.ok(shutdown !== undefined && powerdown !== undefined);
    assert.ok(shutdown.receivedAt >= powerdown.receivedAt + 30);
    assert.equal(await client.waitForEvent("RESET", 50), undefined);
    assert.equal(client.events.length, 2);
  });
});

Deno.test("qmp: a missing socket or stale socket file fails with a clear message", async () => {
  await withTempDir(async (dir) => {
    const missing = `${dir}/nothing`;
    await assert.rejects(QmpClient.connect(missing, { timeoutMs: 1000 }), (e: unknown) => {
      assert.ok(e instanceof SystemError);
      assert.match(
        e.message,
        /^Cannot connect to QMP socket ".*\/nothing": .*; is the VM running\?$/,
      );
      assert.equal(e.exitCode, 111);
      return true;
    });
    assert.equal(await qmpAnswers(missing, 1000), false);
    // Like a socket left behind by a dead QEMU: nobody listens (Deno removes
    // the socket file of a closed listener, so a plain file stands in for it).
    const stale = `${dir}/stale`;
    await Deno.writeTextFile(stale, "");
    await assert.rejects(QmpClient.connect(stale, { timeoutMs: 1000 }), (e: unknown) => {
      assert.ok(e instanceof SystemError);
      assert.match(e.message, /^Cannot connect to QMP socket ".*\/stale": .*refused/i);
      return true;
    });
  });
});

Deno.test("qmp: qmpAnswers is true when the handshake succeeds", async () => {
  await withServer(async (peer) => {
    await peer.handshake();
    assert.equal(await peer.read(), null);
  }, async (path) => {
    assert.equal(await qmpAnswers(path, 2000), true);
  });
});

Deno.test("qmp: real QEMU (query-status, stop, cont, relative path, quit)", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/q`;
    const child = new Deno.Command("qemu-system-x86_64", {
      args: [
        "-machine",
        "none",
        "-display",
        "none",
        "-nodefaults",
        "-qmp",
        `unix:${path},server=on,wait=off`,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = child.output();
    let exited = false;
    void child.status.then(() => exited = true);
    const cwd = Deno.cwd();
    let client: QmpClient | undefined;
    try {
      const deadline = performance.now() + 10_000;
      while (!(await qmpAnswers(path, 500))) {
        if (performance.now() > deadline) {
          Deno.kill(child.pid, "SIGKILL");
          const { stderr } = await output;
          assert.fail(`QEMU did not answer on "${path}": ${new TextDecoder().decode(stderr)}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }

      client = await QmpClient.connect(path, { timeoutMs: 5000 });
      const status = await client.execute("query-status", undefined, { timeoutMs: 5000 });
      assert.equal(typeof (status as { status?: unknown }).status, "string");
      assert.equal((status as { running?: unknown }).running, true);

      await client.execute("stop", undefined, { timeoutMs: 5000 });
      const paused = await client.execute("query-status", undefined, { timeoutMs: 5000 });
      assert.equal((paused as { status?: unknown }).status, "paused");
      assert.equal((paused as { running?: unknown }).running, false);
      assert.equal((await client.waitForEvent("STOP", 5000))?.event, "STOP");

      await assert.rejects(client.execute("no-such-command"), CheckFailedError);

      // QEMU serves one QMP client at a time: a second one is connected (the
      // kernel queues it) but gets no greeting until the first one leaves.
      await assert.rejects(QmpClient.connect(path, { timeoutMs: 300 }), /sent no greeting/);
      assert.equal(await qmpAnswers(path, 300), false);
      client.close();

      // Next client through a path relative to the VM directory.
      Deno.chdir(dir);
      try {
        const relative = await QmpClient.connect("q", { timeoutMs: 5000 });
        try {
          assert.equal(relative.path, "q");
          const status = await relative.execute("query-status", undefined, { timeoutMs: 5000 });
          assert.equal((status as { running?: unknown }).running, false);
          await relative.execute("cont", undefined, { timeoutMs: 5000 });
        } finally {
          relative.close();
        }
      } finally {
        Deno.chdir(cwd);
      }

      client = await QmpClient.connect(path, { timeoutMs: 5000 });
      const running = await client.execute("query-status", undefined, { timeoutMs: 5000 });
      assert.equal((running as { running?: unknown }).running, true);

      assert.equal(await client.send("quit"), true);
      assert.equal(await client.waitClosed(10_000), true);
      assert.equal((await client.waitForEvent("SHUTDOWN", 1000))?.event, "SHUTDOWN");
      const { code } = await output;
      assert.equal(code, 0);
    } finally {
      Deno.chdir(cwd);
      client?.close();
      if (!exited) Deno.kill(child.pid, "SIGKILL");
      await output;
    }
  });
});

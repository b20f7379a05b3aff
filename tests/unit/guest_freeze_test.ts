/**
 * Tests of lib/qemu/guest_freeze.ts (the freeze of `vm backup`'s backup
 * point) against a fake qemu-ga on a unix socket in a temp VM directory:
 * frozen while the work runs and thawed after it, also when the work
 * fails; a freeze the agent refuses is reported and the work still runs; a
 * thaw that does not take is retried, then reported; no agent: not frozen.
 * (The real agent's freeze is not run here: the cloud guest is slow.)
 */

import assert from "node:assert/strict";
import { AGENT_SOCKET } from "../../lib/qemu/guest_agent.ts";
import { withFrozenGuest } from "../../lib/qemu/guest_freeze.ts";

type Handler = (cmd: string) => unknown;

/** A fake agent with a file-system freeze state; `handler` may answer instead. */
class FakeAgent {
  readonly dir = Deno.makeTempDirSync({ prefix: "freeze-test-" });
  readonly seen: string[] = [];
  state = "thawed";
  readonly #listener: Deno.UnixListener;
  readonly #conns: Deno.Conn[] = [];
  readonly #loop: Promise<void>;

  constructor(handler: Handler = () => undefined) {
    Deno.mkdirSync(`${this.dir}/supervise`);
    this.#listener = Deno.listen({ transport: "unix", path: `${this.dir}/${AGENT_SOCKET}` });
    this.#loop = this.#accept(handler);
  }

  async #accept(handler: Handler): Promise<void> {
    for await (const conn of this.#listener) {
      this.#conns.push(conn);
      void this.#serve(conn, handler).catch(() => {});
    }
  }

  #answer(cmd: string, handler: Handler): unknown {
    const own = handler(cmd);
    if (own !== undefined) return own;
    if (cmd === "guest-fsfreeze-freeze") {
      this.state = "frozen";
      return { return: 2 };
    }
    if (cmd === "guest-fsfreeze-thaw") {
      this.state = "thawed";
      return { return: 2 };
    }
    if (cmd === "guest-fsfreeze-status") return { return: this.state };
    return { error: { class: "CommandNotFound", desc: cmd } };
  }

  async #serve(conn: Deno.Conn, handler: Handler) {
    const enc = new TextEncoder();
    let text = "";
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) return;
      const bytes = buf.subarray(0, n);
      const ff = bytes.lastIndexOf(0xff);
      text = (ff >= 0 ? "" : text) +
        new TextDecoder().decode(ff >= 0 ? bytes.subarray(ff + 1) : bytes);
      let nl;
      while ((nl = text.indexOf("\n")) >= 0) {
        const msg = JSON.parse(text.slice(0, nl));
        text = text.slice(nl + 1);
        if (msg.execute === "guest-sync-delimited") {
          await conn.write(
            new Uint8Array([0xff, ...enc.encode(`{"return": ${msg.arguments.id}}\n`)]),
          );
          continue;
        }
        this.seen.push(msg.execute);
        const r = this.#answer(msg.execute, handler) as Record<string, unknown>;
        await conn.write(enc.encode(JSON.stringify({ ...r, id: msg.id }) + "\n"));
      }
    }
  }

  async close(): Promise<void> {
    this.#listener.close();
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* closed by the client */ }
    }
    await this.#loop.catch(() => {});
    Deno.removeSync(this.dir, { recursive: true });
  }
}

Deno.test("withFrozenGuest: frozen while the work runs, thawed after it", async () => {
  const fake = new FakeAgent();
  try {
    const r = await withFrozenGuest(fake.dir, "web", () => {
      fake.seen.push(`work while ${fake.state}`);
      return Promise.resolve(42);
    });
    assert.deepEqual(r, { value: 42, frozen: true, notes: [] });
    assert.deepEqual(fake.seen, [
      "guest-fsfreeze-freeze",
      "work while frozen",
      "guest-fsfreeze-thaw",
      "guest-fsfreeze-status",
    ]);
    assert.equal(fake.state, "thawed");
  } finally {
    await fake.close();
  }
});

Deno.test("withFrozenGuest: thawed also when the work fails; its error passed on", async () => {
  const fake = new FakeAgent();
  try {
    await assert.rejects(
      withFrozenGuest(fake.dir, "web", () => Promise.reject(new Error("transaction refused"))),
      /transaction refused/,
    );
    assert.equal(fake.state, "thawed");
    assert.ok(fake.seen.includes("guest-fsfreeze-thaw"));
  } finally {
    await fake.close();
  }
});

Deno.test("withFrozenGuest: a refused freeze is one note; the work runs unfrozen", async () => {
  const fake = new FakeAgent((cmd) =>
    cmd === "guest-fsfreeze-freeze"
      ? { error: { class: "GenericError", desc: "fsfreeze is disabled" } }
      : undefined
  );
  try {
    const r = await withFrozenGuest(fake.dir, "web", () => Promise.resolve("done"));
    assert.equal(r.frozen, false);
    assert.equal(r.notes.length, 1);
    assert.match(r.notes[0] ?? "", /^not frozen: .*fsfreeze is disabled/);
    assert.ok(!fake.seen.includes("guest-fsfreeze-thaw"), "nothing to thaw");
  } finally {
    await fake.close();
  }
});

Deno.test("withFrozenGuest: a thaw that does not take is retried, then said loudly", async () => {
  let thaws = 0;
  const fake = new FakeAgent((cmd) => {
    if (cmd !== "guest-fsfreeze-thaw") return undefined;
    thaws++;
    return thaws < 2 ? { return: 0 } : undefined; // the first one leaves it frozen
  });
  try {
    const r = await withFrozenGuest(fake.dir, "web", () => Promise.resolve(0));
    assert.equal(thaws, 2);
    assert.equal(fake.state, "thawed");
    assert.deepEqual(r.notes, []);
  } finally {
    await fake.close();
  }
  const stuck = new FakeAgent((cmd) =>
    cmd === "guest-fsfreeze-thaw" ? { error: { class: "GenericError", desc: "busy" } } : undefined
  );
  try {
    const r = await withFrozenGuest(stuck.dir, "web", () => Promise.resolve(0));
    assert.equal(stuck.seen.filter((c) => c === "guest-fsfreeze-thaw").length, 3);
    assert.match(r.notes.join("\n"), /may still be frozen: thaw failed \(.*busy\)/);
  } finally {
    await stuck.close();
  }
});

Deno.test("withFrozenGuest: no agent channel: not frozen, no note; a dead one: a note", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "freeze-test-" });
  try {
    const r = await withFrozenGuest(dir, "web", () => Promise.resolve(1));
    assert.deepEqual(r, { value: 1, frozen: false, notes: [] });
    Deno.mkdirSync(`${dir}/supervise`);
    const silent = Deno.listen({ transport: "unix", path: `${dir}/${AGENT_SOCKET}` });
    try {
      const s = await withFrozenGuest(dir, "web", () => Promise.resolve(2));
      assert.equal(s.frozen, false);
      assert.match(s.notes[0] ?? "", /not frozen: no guest agent answers/);
    } finally {
      silent.close();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

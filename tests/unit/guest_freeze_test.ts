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
import { FakeAgent } from "../support/fake_agent.ts";

/**
 * The fake agent (tests/support/fake_agent.ts) with a file-system freeze state; `handler` may
 * answer first. `seen` has the commands after the handshake (and what a test adds).
 */
class FreezeAgent {
  state = "thawed";
  readonly seen: string[] = [];
  readonly #agent: FakeAgent;

  constructor(handler: (cmd: string) => unknown = () => undefined) {
    this.#agent = new FakeAgent((cmd) => {
      this.seen.push(cmd);
      return handler(cmd) ?? this.#answer(cmd);
    });
  }

  get dir(): string {
    return this.#agent.dir;
  }

  close(): Promise<void> {
    return this.#agent.close();
  }

  #answer(cmd: string): unknown {
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
}

Deno.test("withFrozenGuest: frozen while the work runs, thawed after it", async () => {
  const fake = new FreezeAgent();
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
  const fake = new FreezeAgent();
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
  const fake = new FreezeAgent((cmd) =>
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
  const fake = new FreezeAgent((cmd) => {
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
  const stuck = new FreezeAgent((cmd) =>
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

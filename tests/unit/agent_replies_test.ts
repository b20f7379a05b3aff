// A hostile guest agent (tests/support/hostile_agent.ts,
// on a unix socket as QEMU serves it). After the handshake, an endless line
// without a newline stops at 1 MiB; a flood of replies to other requests
// stops at the command's deadline (before, both kept `vm ip` running past
// its limit, growing); a malformed reply (a `null` interface, a reply of
// the wrong shape, `"error": null`, an exec without a pid) is one line
// naming the guest agent, never a JavaScript TypeError.

import assert from "node:assert/strict";
import { CheckFailedError, SystemError } from "../../lib/errors.ts";
import { GuestAgent } from "../../lib/qemu/guest_agent.ts";
import { guestInterfaces } from "../../lib/qemu/guest_network.ts";
import { guestExec } from "../../lib/qemu/guest_exec.ts";
import { type Answer, HostileAgent, send } from "../support/hostile_agent.ts";
import { withTempDir } from "../support/temp_dir.ts";

/** Runs `fn` with an agent of VM "web" connected to a HostileAgent that answers with `answer`. */
async function withAgent(answer: Answer, fn: (a: GuestAgent) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    const fake = new HostileAgent(dir, answer);
    try {
      const a = await GuestAgent.connect(dir, "web");
      try {
        await fn(a);
      } finally {
        a.close();
      }
    } finally {
      await fake.close();
    }
  });
}

/** Writes `chunk` to `conn` again and again until the connection ends. */
function flood(conn: Deno.Conn, chunk: string): Promise<void> {
  void (async () => {
    const bytes = new TextEncoder().encode(chunk);
    for (;;) await conn.write(bytes);
  })().catch(() => {}); // the client closed the connection
  return Promise.resolve();
}

/** Rejects when `p` takes more than `ms` (the old code kept reading). */
async function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) =>
    timer = setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms)
  );
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("an endless line without a newline: refused at 1 MiB, at once", async () => {
  await withAgent((_, conn) => flood(conn, "x".repeat(64 * 1024)), async (a) => {
    const t0 = performance.now();
    await assert.rejects(
      () => within(a.execute("guest-network-get-interfaces", undefined, 10_000), 8000),
      (e) =>
        e instanceof SystemError &&
        e.message === `The guest agent of VM "web" sent a reply longer than 1048576 bytes; ` +
            `is a genuine qemu-guest-agent running in the guest?`,
    );
    assert.ok(performance.now() - t0 < 5000);
  });
});

Deno.test("a flood of replies to other requests: the deadline covers the whole exchange", async () => {
  await withAgent(
    (_, conn) => flood(conn, '{"return": 1, "id": 424242}\n'.repeat(500)),
    async (a) => {
      const t0 = performance.now();
      await assert.rejects(
        () => within(a.execute("guest-network-get-interfaces", undefined, 500), 5000),
        (e) =>
          e instanceof SystemError &&
          /did not answer "guest-network-get-interfaces" within 500 ms/.test(e.message),
      );
      assert.ok(performance.now() - t0 < 2000, `${performance.now() - t0} ms`);
    },
  );
});

/** Each request answered with `reply` (given the request's id), as one line. */
function replying(reply: (id: unknown) => string): Answer {
  return (msg, conn) => send(conn, reply(msg.id) + "\n");
}

Deno.test("malformed replies: one line naming the guest agent, never a TypeError", async () => {
  const cases: [string, RegExp][] = [
    ["[null]", /\(an interface that is not an object\)/],
    ['{"name": "eth0"}', /\(not a list of interfaces\)/],
    ['[{"name": 7}]', /\(an interface without a name\)/],
    ['[{"name": "eth0", "ip-addresses": {}}]', /\(interface "eth0": ip-addresses is not a list\)/],
    ['[{"name": "eth0", "ip-addresses": [null]}]', /an address that is not an object/],
    [
      '[{"name": "eth0", "ip-addresses": [{"ip-address": "10.0.2.15"}]}]',
      /address "10\.0\.2\.15" without a prefix 0-128/,
    ],
  ];
  for (const [ret, why] of cases) {
    await withAgent(replying((id) => `{"return": ${ret}, "id": ${id}}`), async (a) => {
      await assert.rejects(
        () => guestInterfaces(a),
        (e) =>
          e instanceof SystemError &&
          /^The guest agent of VM "web" sent a malformed reply to "guest-network-get-interfaces" /
            .test(e.message) &&
          why.test(e.message),
        ret,
      );
    });
  }
  await withAgent(replying((id) => `{"error": null, "id": ${id}}`), async (a) => {
    await assert.rejects(
      () => a.execute("guest-ping"),
      (e) =>
        e instanceof CheckFailedError && /"guest-ping" failed in VM "web": null$/.test(e.message),
    );
  });
  await withAgent(replying((id) => `{"return": {"pid": "1"}, "id": ${id}}`), async (a) => {
    const out = { onStdout: () => {}, onStderr: () => {} };
    await assert.rejects(
      () => guestExec(a, ["true"], out),
      (e) =>
        e instanceof SystemError &&
        /malformed reply to "guest-exec" \(no integer "pid"\)/.test(e.message),
    );
  });
});

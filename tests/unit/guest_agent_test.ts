/**
 * Tests of lib/qemu/guest_agent.ts and guest_exec.ts against a fake qemu-ga
 * on a unix socket in a temp VM directory: the sync handshake past stale
 * bytes, replies and errors, the bounded wait when nothing answers,
 * streaming exec through files, and guest-shutdown. (The real agent is
 * exercised by tests/e2e/cloud_init_test.ts.)
 */

import assert from "node:assert/strict";
import {
  agentDelayMs,
  agentPowerdown,
  GuestAgent,
  NoAgentError,
} from "../../lib/qemu/guest_agent.ts";
import { guestInterfaces } from "../../lib/qemu/guest_network.ts";
import { guestExec } from "../../lib/qemu/guest_exec.ts";
import { CheckFailedError } from "../../lib/errors.ts";
import { FakeAgent } from "../support/fake_agent.ts";

const IFACES = [
  {
    name: "lo",
    "hardware-address": "00:00:00:00:00:00",
    "ip-addresses": [{ "ip-address-type": "ipv4", "ip-address": "127.0.0.1", prefix: 8 }],
  },
  {
    name: "ens3",
    "hardware-address": "52:54:00:12:34:56",
    "ip-addresses": [
      { "ip-address-type": "ipv4", "ip-address": "10.0.2.15", prefix: 24 },
      { "ip-address-type": "ipv6", "ip-address": "fe80::1", prefix: 64 },
    ],
  },
];

Deno.test("handshake past stale bytes, then replies and errors", async () => {
  const fake = new FakeAgent((cmd) => {
    if (cmd === "guest-ping") return { return: {} };
    if (cmd === "guest-slow") return undefined; // never answered: the caller times out
    if (cmd === "guest-late") return { later: 300, reply: { return: "late" } };
    if (cmd === "guest-network-get-interfaces") return { return: IFACES };
    return { error: { class: "CommandNotFound", desc: `The command ${cmd} has not been found` } };
  }, { stale: '{"return": 99}\n{"retu' });
  try {
    const a = await GuestAgent.connect(fake.dir, "web");
    try {
      assert.deepEqual(await a.execute("guest-ping"), {});
      const ifs = await guestInterfaces(a);
      assert.deepEqual(ifs[1], {
        name: "ens3",
        mac: "52:54:00:12:34:56",
        addresses: [
          { family: "ipv4", address: "10.0.2.15", prefix: 24 },
          { family: "ipv6", address: "fe80::1", prefix: 64 },
        ],
      });
      await assert.rejects(
        () => a.execute("guest-slow", undefined, 200),
        /did not answer "guest-slow"/,
      );
      // A reply that comes after its request timed out is not taken for the next one's.
      await assert.rejects(() => a.execute("guest-late", undefined, 100), /did not answer/);
      assert.deepEqual(await a.execute("guest-ping"), {});
      await assert.rejects(
        () => a.execute("guest-nope"),
        (e) =>
          e instanceof CheckFailedError &&
          /Guest agent "guest-nope" failed in VM "web": The command/.test(e.message),
      );
    } finally {
      a.close();
    }
    assert.equal(fake.seen[0]?.cmd, "guest-sync-delimited");
  } finally {
    await fake.close();
  }
});

Deno.test("no agent answering: NoAgentError within the bound; no socket: NoAgentError at once", async () => {
  const fake = new FakeAgent(() => undefined, { silent: true });
  try {
    const t0 = performance.now();
    await assert.rejects(() => GuestAgent.connect(fake.dir, "web", 500), (e) => {
      return e instanceof NoAgentError &&
        /no agent answers \(no answer within 500 ms\)/.test(e.message);
    });
    const ms = performance.now() - t0;
    assert.ok(ms >= 450 && ms < 2000, `${ms} ms`);
  } finally {
    await fake.close();
  }
  const empty = Deno.makeTempDirSync();
  try {
    await assert.rejects(() => GuestAgent.connect(empty, "web"), /no agent answers \(no socket/);
    assert.equal(await agentPowerdown(empty, "web", 500), undefined);
  } finally {
    Deno.removeSync(empty, { recursive: true });
  }
});

Deno.test("exec streams each file's new bytes while the command runs, then its exit code", async () => {
  const enc = new TextEncoder();
  const files = new Map<string, string>();
  let polls = 0;
  const fake = new FakeAgent((cmd, args) => {
    switch (cmd) {
      case "guest-exec": {
        const a = args.arg as string[];
        if (args.path === "/bin/rm") files.clear();
        else {for (const f of (a[1] ?? "").match(/\/tmp\/vm-exec-[0-9a-f]+\.(out|err)/g) ?? []) {
            files.set(f, "");
          }}
        return { return: { pid: 7 } };
      }
      case "guest-exec-status": {
        polls++;
        const [out, err] = [...files.keys()];
        if (polls === 2 && out) files.set(out, "one\n");
        if (polls === 3 && out && err) (files.set(out, "one\ntwo\n"), files.set(err, "warn\n"));
        return { return: polls < 4 ? { exited: false } : { exited: true, exitcode: 3 } };
      }
      case "guest-file-open":
        return { return: [...files.keys()].indexOf(String(args.path)) + 100 };
      case "guest-file-seek":
        return { return: { position: args.offset, eof: false } };
      case "guest-file-read": {
        const path = [...files.keys()][Number(args.handle) - 100] ?? "";
        const data = enc.encode(files.get(path) ?? "");
        const pos = (fake.seen.findLast((s) =>
          s.cmd === "guest-file-seek"
        )?.args.offset as number) ?? 0;
        const chunk = data.subarray(pos);
        return {
          return: {
            count: chunk.length,
            "buf-b64": btoa(String.fromCharCode(...chunk)),
            eof: true,
          },
        };
      }
      case "guest-file-close":
        return { return: {} };
    }
    return undefined;
  });
  try {
    const a = await GuestAgent.connect(fake.dir, "web");
    const out: string[] = [];
    const err: string[] = [];
    const dec = new TextDecoder();
    const r = await guestExec(a, ["sh", "-c", "x; y"], {
      onStdout: (b) => void out.push(dec.decode(b)),
      onStderr: (b) => void err.push(dec.decode(b)),
      pollMs: 10,
    });
    a.close();
    assert.deepEqual(r, { exitCode: 3 });
    assert.deepEqual(out, ["one\n", "two\n"]);
    assert.deepEqual(err, ["warn\n"]);
    const exec = fake.seen.find((s) => s.cmd === "guest-exec")?.args as {
      path: string;
      arg: string[];
    };
    assert.equal(exec.path, "/bin/sh");
    assert.match(
      exec.arg[1] ?? "",
      /^umask 077; exec "\$@" >\/tmp\/vm-exec-\w+\.out 2>\/tmp\/vm-exec-\w+\.err$/,
    );
    assert.deepEqual(exec.arg.slice(2), ["sh", "sh", "-c", "x; y"]);
    assert.equal(fake.seen.at(-1)?.cmd, "guest-exec"); // the rm of both files, last
    assert.equal(files.size, 0);
  } finally {
    await fake.close();
  }
});

Deno.test("agentPowerdown sends guest-shutdown (powerdown); the delay is min(wait/2, 10 s)", async () => {
  const fake = new FakeAgent(() => undefined);
  try {
    const held = await agentPowerdown(fake.dir, "web", 1000);
    assert.ok(held !== undefined, "the connection is handed back, open");
    held.close();
    // The fake has read it once the next connection's handshake is through.
    await GuestAgent.connect(fake.dir, "web").then((a) => a.close());
    const sd = fake.seen.find((s) => s.cmd === "guest-shutdown");
    assert.deepEqual(sd?.args, { mode: "powerdown" });
  } finally {
    await fake.close();
  }
  assert.equal(agentDelayMs(4), 2000);
  assert.equal(agentDelayMs(10), 5000);
  assert.equal(agentDelayMs(60), 10_000);
});

// The bounded waits of a download, as a user sees them: `vm image pull` and `vm make
// --image URL` from a server on 127.0.0.1 that accepts and never answers,
// or stalls mid-body, end with one line and exit 111 once the wait set by
// VMCONF_HTTP_HEADER_TIMEOUT / VMCONF_HTTP_IDLE_TIMEOUT has passed (before,
// they waited forever), the `.part` kept with what arrived; SIGTERM during
// the wait leaves no empty `.part`.

import assert from "node:assert/strict";
import { join } from "node:path";
import { test, type TestEnv, waitFor } from "../support/harness.ts";
import { spawnPiped } from "../support/piped.ts";

/** A TCP server on 127.0.0.1 that does `serve` with each connection; `close` ends them all. */
function server(serve: (c: Deno.Conn) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const loop = (async () => {
    for await (const c of listener) {
      conns.push(c);
      void serve(c).catch(() => {}); // the client went away
    }
  })().catch(() => {}); // the listener was closed
  return {
    url: (file: string) => `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/${file}`,
    conns,
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed by the client */ }
      }
      await loop;
    },
  };
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

/** Runs `vm args` with `env`, killed after `ms` (then the code is "killed"). */
async function vmWithin(t: TestEnv, args: string[], env: Record<string, string>, ms: number) {
  const child = spawnPiped(t.vmExe, args, { ...t.env, ...env });
  await child.stdin.close();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, ms);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return {
    code: killed ? "killed" : out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

test("pull and make --image from a server that never answers: one line, exit 111, no .part", async (t) => {
  const s = server(() => new Promise(() => {})); // accepts, never reads nor writes
  try {
    const env = { VMCONF_HTTP_HEADER_TIMEOUT: "0.5" };
    const url = s.url("quiet.img");
    const pull = await vmWithin(t, ["image", "pull", url, "--insecure"], env, 20_000);
    assert.equal(pull.code, 111, pull.stderr);
    assert.equal(
      pull.stderr,
      `vm: fatal: Cannot download "${url}": no answer within 0.5 s of the request, the wait ` +
        `VMCONF_HTTP_HEADER_TIMEOUT sets; check the URL and the network, then pull again\n`,
    );
    const make = await vmWithin(t, ["make", "q", "--image", url, "--insecure", "-y"], env, 20_000);
    assert.equal(make.code, 111, make.stderr);
    assert.match(make.stderr, /no answer within 0\.5 s of the request/);
    assert.deepEqual([...Deno.readDirSync(join(t.vmdir, ".images"))], []);
    const bad = await vmWithin(
      t,
      ["image", "pull", url, "--insecure"],
      { VMCONF_HTTP_HEADER_TIMEOUT: "soon" },
      20_000,
    );
    assert.equal(bad.code, 100);
    assert.match(bad.stderr, /^vm: fatal: VMCONF_HTTP_HEADER_TIMEOUT="soon" is not a number/);
  } finally {
    await s.close();
  }
});

test("a server that stalls mid-body: one line, exit 111, the .part kept with what arrived", async (t) => {
  const s = server(async (c) => {
    await readRequest(c);
    const head = "HTTP/1.1 200 OK\r\nContent-Length: 4194304\r\nConnection: close\r\n\r\n";
    await c.write(new TextEncoder().encode(head));
    await c.write(new Uint8Array(256 * 1024).fill(1));
  });
  try {
    const url = s.url("stall.img");
    const r = await vmWithin(
      t,
      ["image", "pull", url, "--insecure"],
      { VMCONF_HTTP_IDLE_TIMEOUT: "0.5" },
      20_000,
    );
    assert.equal(r.code, 111, r.stderr);
    const part = join(t.vmdir, ".images", "stall.img.part");
    assert.match(
      r.stderr,
      new RegExp(
        `broke off after 256\\.0 KiB of 4\\.0 MiB \\(nothing received for 0\\.5 s, the wait ` +
          `VMCONF_HTTP_IDLE_TIMEOUT sets\\); "${part}" is kept: pull again to resume\\n$`,
      ),
    );
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.equal(Deno.statSync(part).size, 256 * 1024);
  } finally {
    await s.close();
  }
});

test("SIGTERM while waiting for the answer: the pull stops, no empty .part is left", async (t) => {
  const s = server(() => new Promise(() => {}));
  try {
    const url = s.url("term.img");
    const child = spawnPiped(t.vmExe, ["image", "pull", url, "--insecure"], t.env);
    await child.stdin.close();
    const part = join(t.vmdir, ".images", "term.img.part");
    const waiting = await waitFor(() => {
      try {
        return Deno.statSync(part).isFile && s.conns.length > 0;
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return false;
        throw e;
      }
    }, 20_000);
    assert.ok(waiting, "the pull did not connect");
    child.kill("SIGTERM");
    const out = await child.output();
    assert.equal(out.code, 130, new TextDecoder().decode(out.stderr));
    assert.throws(() => Deno.statSync(part), Deno.errors.NotFound);
  } finally {
    await s.close();
  }
});

/**
 * `vm image pull` against a local HTTP server (tests/support/image_server.ts):
 * verify, resume after a dropped connection, start over when the server
 * ignores Range, a wrong checksum, 404 and connection refused, two pulls at
 * once, Ctrl-C, and the progress line on a terminal and on a pipe. `vm image`
 * runs as the real `vm` subprocess.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { withImages } from "../support/image_env.ts";
import { sha256Hex, sha256Sums } from "../support/image_server.ts";
import { run, waitFor } from "../support/harness.ts";
import { skippable } from "../support/skip.ts";

/** The one line an error run prints, checked to be one `vm: fatal:` line. */
function oneFatalLine(stderr: string): string {
  const lines = stderr.split("\n").filter((l) => l !== "");
  assert.equal(lines.length, 1, `expected one line, got: ${JSON.stringify(stderr)}`);
  assert.match(lines[0] ?? "", /^vm: fatal: /);
  return lines[0] ?? "";
}

Deno.test("pull downloads, verifies and stores the image read-only; a second pull fetches nothing", () =>
  withImages(async (t) => {
    const r = await t.vm(["image", "pull", "tiny"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(t.listImages(), ["tiny.qcow2"]);
    const path = join(t.images, "tiny.qcow2");
    assert.equal(sha256Hex(Deno.readFileSync(path)), sha256Hex(t.tiny));
    assert.equal((Deno.statSync(path).mode ?? 0) & 0o777, 0o400);
    assert.equal((Deno.statSync(t.images).mode ?? 0) & 0o777, 0o700);
    // On a pipe: no bar, only the final line.
    assert.ok(!r.stderr.includes("\r"), JSON.stringify(r.stderr));
    assert.match(
      r.stderr,
      /^tiny: 3\.\d MiB in [\d.]+ s \(.*\); SHA256 verified; .*tiny\.qcow2\n$/,
    );
    const before = t.server.served("/tiny.qcow2").length;
    const again = await t.vm(["image", "pull", "tiny"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /already in the cache/);
    assert.equal(t.server.served("/tiny.qcow2").length, before);
  }));

Deno.test("a connection dropped at 50% leaves a .part; the next pull resumes it with Range", () =>
  withImages(async (t) => {
    const size = t.tiny.length;
    t.server.mode.dropAfter = Math.floor(size / 2);
    const first = await t.vm(["image", "pull", "tiny"]);
    assert.equal(first.code, 111);
    assert.match(
      oneFatalLine(first.stderr),
      /broke off after .* of 3\.\d MiB.*pull again to resume/,
    );
    assert.deepEqual(t.listImages(), ["tiny.qcow2.part"]);
    const kept = Deno.statSync(join(t.images, "tiny.qcow2.part")).size;
    assert.ok(kept > 0 && kept <= size / 2, `kept ${kept}`);
    const list = await t.vm(["image", "list"]);
    assert.match(list.stdout, /^tiny\s+\S+\s+disk\s+\S+ \S+\s+partial (4\d|50)%\s+-$/m);

    t.server.mode.dropAfter = undefined;
    const second = await t.vm(["image", "pull", "tiny"]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /resumed at/);
    const reqs = t.server.served("/tiny.qcow2");
    assert.equal(reqs.length, 2);
    assert.equal(reqs[1]?.range, `bytes=${kept}-`);
    assert.equal(reqs[1]?.status, 206);
    const fetched = reqs.reduce((n, r) => n + r.sent, 0);
    assert.ok(fetched >= size && fetched <= size * 1.1, `fetched ${fetched} of ${size}`);
    assert.equal(sha256Hex(Deno.readFileSync(join(t.images, "tiny.qcow2"))), sha256Hex(t.tiny));
  }));

Deno.test("a server that ignores Range: the pull says so and starts over", () =>
  withImages(async (t) => {
    t.server.mode.dropAfter = Math.floor(t.tiny.length / 2);
    assert.equal((await t.vm(["image", "pull", "tiny"])).code, 111);
    t.server.mode = { ...t.server.mode, dropAfter: undefined, range: false };
    const r = await t.vm(["image", "pull", "tiny"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /cannot be resumed \(.*the server does not support ranges\); starting over/,
    );
    const last = t.server.served("/tiny.qcow2").at(-1);
    assert.ok(last?.range !== undefined, "the pull asked for a range");
    assert.equal(last?.status, 200);
    assert.equal(last?.sent, t.tiny.length);
    assert.equal(sha256Hex(Deno.readFileSync(join(t.images, "tiny.qcow2"))), sha256Hex(t.tiny));
  }));

Deno.test("a file changed upstream since the .part: If-Range gets it whole, the pull starts over", () =>
  withImages(async (t) => {
    t.server.mode.dropAfter = Math.floor(t.tiny.length / 2);
    assert.equal((await t.vm(["image", "pull", "tiny"])).code, 111);
    const changed = t.tiny.slice();
    changed[changed.length - 1] = (changed.at(-1) ?? 0) ^ 0xff;
    t.server.files.set("/tiny.qcow2", changed);
    t.setSums(sha256Sums({ "tiny.qcow2": changed }));
    t.server.mode.dropAfter = undefined;
    const r = await t.vm(["image", "pull", "tiny"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /cannot be resumed \(changed upstream, .*\); starting over/);
    const last = t.server.served("/tiny.qcow2").at(-1);
    assert.equal(last?.status, 200);
    assert.equal(sha256Hex(Deno.readFileSync(join(t.images, "tiny.qcow2"))), sha256Hex(changed));
  }));

Deno.test("a wrong checksum: one line, exit 111, nothing left", () =>
  withImages(async (t) => {
    t.setSums(`${"0".repeat(64)}  tiny.qcow2\n`);
    const r = await t.vm(["image", "pull", "tiny"]);
    assert.equal(r.code, 111);
    assert.match(oneFatalLine(r.stderr), /SHA256 [0-9a-f]{64}, not the expected 0{64}/);
    assert.deepEqual(t.listImages(), []);
  }));

Deno.test("404, connection refused, an untrusted TLS certificate: one line each, exit 111, nothing left", () =>
  withImages(async (t) => {
    t.server.mode.notFound = true;
    const r404 = await t.vm(["image", "pull", "tiny"]);
    assert.equal(r404.code, 111);
    assert.match(oneFatalLine(r404.stderr), /HTTP 404/);
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = l.addr.port;
    l.close();
    const url = `http://127.0.0.1:${port}/x.qcow2`;
    const refused = await t.vm(["image", "pull", url, "--sha256", "a".repeat(64)]);
    assert.equal(refused.code, 111);
    assert.match(oneFatalLine(refused.stderr), /connection refused/);
    assert.deepEqual(t.listImages(), []);
    // A TLS server whose certificate nobody signed.
    const key = join(t.env.root, "key.pem");
    const cert = join(t.env.root, "cert.pem");
    const args = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert];
    assert.equal((await run("openssl", [...args, "-days", "1", "-subj", "/CN=127.0.0.1"])).code, 0);
    const tls = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      cert: Deno.readTextFileSync(cert),
      key: Deno.readTextFileSync(key),
      onListen() {},
    }, () => new Response("x"));
    try {
      const r = await t.vm([
        "image",
        "pull",
        `https://127.0.0.1:${tls.addr.port}/x.qcow2`,
        "--insecure",
      ]);
      assert.equal(r.code, 111);
      assert.match(oneFatalLine(r.stderr), /TLS error .*certificate is not trusted/);
    } finally {
      await tls.shutdown();
    }
    assert.deepEqual(t.listImages(), []);
    const unverified = await t.vm(["image", "pull", url]);
    assert.equal(unverified.code, 100);
    assert.match(oneFatalLine(unverified.stderr), /--sha256 H or --sha512 H.*--insecure/);
  }));

Deno.test("two pulls at once: one downloads, the other waits and finds it done", () =>
  withImages(async (t) => {
    t.server.mode = { ...t.server.mode, chunk: 128 * 1024, trickleMs: 40 };
    const a = t.spawn(["image", "pull", "tiny"]);
    await waitFor(() => t.listImages().includes("tiny.qcow2.part"), 20_000);
    const b = t.spawn(["image", "pull", "tiny"]);
    const [ra, rb] = await Promise.all([a.output(), b.output()]);
    const dec = new TextDecoder();
    assert.equal(ra.code, 0, dec.decode(ra.stderr));
    assert.equal(rb.code, 0, dec.decode(rb.stderr));
    assert.match(dec.decode(rb.stderr), /waiting[\s\S]*downloaded by another pull/);
    assert.equal(t.server.served("/tiny.qcow2").length, 1);
    assert.deepEqual(t.listImages(), ["tiny.qcow2"]);
    assert.equal(sha256Hex(Deno.readFileSync(join(t.images, "tiny.qcow2"))), sha256Hex(t.tiny));
  }));

Deno.test("Ctrl-C (SIGINT) mid-way leaves only the .part, which the next pull resumes", () =>
  withImages(async (t) => {
    t.server.mode = { ...t.server.mode, chunk: 64 * 1024, trickleMs: 40 };
    const child = t.spawn(["image", "pull", "tiny"]);
    const part = join(t.images, "tiny.qcow2.part");
    await waitFor(() => {
      try {
        return Deno.statSync(part).size >= 1 << 20;
      } catch {
        return false;
      }
    }, 20_000);
    child.kill("SIGINT");
    const out = await child.output();
    assert.equal(out.code, 130);
    assert.match(new TextDecoder().decode(out.stderr), /Interrupted; .*tiny\.qcow2\.part" is kept/);
    assert.deepEqual(t.listImages(), ["tiny.qcow2.part"]);
    t.server.mode.trickleMs = 0;
    const r = await t.vm(["image", "pull", "tiny"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /resumed at/);
    assert.equal(sha256Hex(Deno.readFileSync(join(t.images, "tiny.qcow2"))), sha256Hex(t.tiny));
  }));

Deno.test("progress of a slow pull: a redrawn line on a terminal (script -qc), only the final line on a pipe", () =>
  withImages(async (t) => {
    t.server.mode = { ...t.server.mode, chunk: 128 * 1024, trickleMs: 60 };
    const cmd = `cd ${JSON.stringify(t.env.root)} && ${t.shell(["image", "pull", "tiny"])}`;
    const out = await new Deno.Command("script", {
      args: ["-qec", cmd, "/dev/null"],
      env: { ...t.env.env, TERM: "xterm" },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
    const redraws = text.split("\r\x1b[K").filter((s) =>
      /^tiny +\d+% .* MiB\/s {2}ETA \d+:\d\d/.test(s)
    );
    assert.ok(redraws.length >= 2, `expected redrawn progress lines: ${JSON.stringify(text)}`);
    assert.match(text, /tiny: 3\.\d MiB in .*SHA256 verified/);
    assert.equal(text.trimEnd().split("\n").length, 1, "the bar never scrolls: one line in all");
    // The same slow download on a pipe: no bar, no \r, just the final line.
    t.catalog(
      `[tiny2]\nurl = ${t.server.url("/tiny.qcow2")}\nsums = ${t.server.url("/SHA256SUMS")}\n`,
    );
    const piped = await t.vm(["image", "pull", "tiny2"]);
    assert.equal(piped.code, 0, piped.stderr);
    assert.match(piped.stderr, /^tiny2: 3\.\d MiB in [\d.]+ s \(.*\); SHA256 verified; .*\n$/);
  }));

Deno.test("a catalog `file` glob picks the newest dated file; file:// URLs with --sha256 or --insecure", () =>
  withImages(async (t) => {
    const old = t.tiny.slice(0, 1000);
    t.server.files.set("/d/tiny-1.9.qcow2", old);
    t.server.files.set("/d/tiny-1.10.qcow2", t.tiny);
    const sums = sha256Sums({
      "tiny-1.9.qcow2": old,
      "tiny-1.10.qcow2": t.tiny,
      "tiny-latest.qcow2": old,
    });
    t.server.files.set("/d/SHA256SUMS", new TextEncoder().encode(sums));
    t.catalog(
      `[dated]\nurl = ${t.server.url("/d/")}\nsums = ${t.server.url("/d/SHA256SUMS")}\n` +
        "file = tiny-*.*.qcow2\n",
    );
    const r = await t.vm(["image", "pull", "dated"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(t.server.served("/d/tiny-1.10.qcow2").length, 1);
    assert.equal(t.server.served("/d/tiny-1.9.qcow2").length, 0);
    assert.equal(sha256Hex(Deno.readFileSync(join(t.images, "dated.qcow2"))), sha256Hex(t.tiny));

    const local = join(t.env.root, "tiny.qcow2");
    const url = `file://${local}`;
    const ok = await t.vm(["image", "pull", url, "--sha256", sha256Hex(t.tiny)]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /^tiny: .*SHA256 verified; .*\/\.images\/tiny\.qcow2\n$/);
    Deno.copyFileSync(local, join(t.env.root, "other.img"));
    const insecure = await t.vm([
      "image",
      "pull",
      `file://${join(t.env.root, "other.img")}`,
      "--insecure",
    ]);
    assert.equal(insecure.code, 0, insecure.stderr);
    assert.match(
      insecure.stderr,
      new RegExp(`not verified \\(--insecure\\); its SHA256 is ${sha256Hex(t.tiny)}`),
    );
    assert.deepEqual(t.listImages(), ["dated.qcow2", "other.img", "tiny.qcow2"]);
  }));

Deno.test({
  ...skippable(
    "a full disk: one line, exit 111, the .part kept for a resume (a 1 MiB tmpfs as the cache)",
    Deno.uid() !== 0 ? "needs root to mount a tmpfs" : undefined,
  ),
  fn: () =>
    withImages(async (t) => {
      Deno.mkdirSync(t.images, { mode: 0o700 });
      const mount = await run("mount", [
        "-t",
        "tmpfs",
        "-o",
        "size=1m,mode=0700",
        "tmpfs",
        t.images,
      ]);
      assert.equal(mount.code, 0, mount.stderr);
      try {
        const r = await t.vm(["image", "pull", "tiny"]);
        assert.equal(r.code, 111);
        assert.match(
          oneFatalLine(r.stderr),
          /Disk full while writing ".*tiny\.qcow2\.part"; free some space there, then pull again/,
        );
        assert.deepEqual(t.listImages(), ["tiny.qcow2.part"]);
      } finally {
        assert.equal((await run("umount", [t.images])).code, 0);
      }
    }),
});

Deno.test("redirects are followed, chunked bodies read; behind HTTP_PROXY the pull goes through the proxy", () =>
  withImages(async (t) => {
    t.server.redirects.set("/r/tiny.qcow2", "/tiny.qcow2");
    t.server.mode.noLength = true;
    t.catalog(
      `[tiny]\nurl = ${t.server.url("/r/tiny.qcow2")}\nsums = ${t.server.url("/SHA256SUMS")}\n`,
    );
    const r = await t.vm(["image", "pull", "tiny"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(t.server.served("/r/tiny.qcow2")[0]?.status, 302);
    assert.equal(sha256Hex(Deno.readFileSync(join(t.images, "tiny.qcow2"))), sha256Hex(t.tiny));
    // A forwarding proxy: fetch sends it absolute URLs.
    const seen: string[] = [];
    const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      seen.push(req.url);
      return fetch(req.url, { headers: req.headers });
    });
    try {
      t.server.files.set("/p/copy.qcow2", t.tiny);
      const url = t.server.url("/p/copy.qcow2");
      const proxied = await t.vm(["image", "pull", url, "--sha256", sha256Hex(t.tiny)], {
        HTTP_PROXY: `http://127.0.0.1:${proxy.addr.port}`,
      });
      assert.equal(proxied.code, 0, proxied.stderr);
      assert.deepEqual(seen, [url]);
      assert.equal(sha256Hex(Deno.readFileSync(join(t.images, "copy.qcow2"))), sha256Hex(t.tiny));
    } finally {
      await proxy.shutdown();
    }
  }));

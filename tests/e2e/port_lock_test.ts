// `vm port add` loses no update. 20 concurrent `vm port
// t1 add` on one VM all land in its `ports` file, none fails with a raw OS
// error (before, a few rules landed and some died on "rename …ports.new");
// the same host port added to two VMs at once is given to one of them; and
// `vm doctor` names a host port two VMs forward (as a clone or an import
// leaves it).

import assert from "node:assert/strict";
import { join } from "node:path";
import { netTemplate } from "../../lib/vm/ports.ts";
import { test, type TestEnv } from "../support/harness.ts";

/** Makes a stopped VM `name` with the user-mode network that takes forwards; returns its directory. */
async function make(t: TestEnv, name: string): Promise<string> {
  const r = await t.vm(["make", name, "--disk", "1M", "--wait", "1", "--no-log", "-y"], {
    env: { VMCONF_DEFAULT_TEMPLATES: "display-none" },
  });
  assert.equal(r.code, 0, r.stderr);
  Deno.writeTextFileSync(
    join(t.dir(name), "templates", "net-user-fwd"),
    netTemplate("52:54:00:aa:bb:cc"),
  );
  return t.dir(name);
}

/** The first of `n` consecutive host ports from a random start that nothing on 127.0.0.1 holds. */
function freePorts(n: number): number {
  for (;;) {
    const base = 20000 + Math.floor(Math.random() * 40000);
    const free = Array.from({ length: n }, (_, i) => base + i).every((p) => {
      try {
        Deno.listen({ hostname: "127.0.0.1", port: p }).close();
        return true;
      } catch (e) {
        if (e instanceof Deno.errors.AddrInUse) return false;
        throw e;
      }
    });
    if (free) return base;
  }
}

/** The host ports of a `ports` file. */
function hostPorts(dir: string): number[] {
  return Deno.readTextFileSync(join(dir, "ports")).trim().split("\n")
    .map((l) => Number(/:(\d+) /.exec(l)?.[1])).sort((a, b) => a - b);
}

test("20 concurrent vm port add on one VM: every rule reported added is in ports", async (t) => {
  const dir = await make(t, "t1");
  const base = freePorts(20);
  const runs = await Promise.all(
    Array.from(
      { length: 20 },
      (_, i) => t.vm(["port", "t1", "add", String(base + i), String(1000 + i)]),
    ),
  );
  const added: number[] = [];
  runs.forEach((r, i) => {
    assert.doesNotMatch(r.stderr, /os error|rename|ENOENT|\.new/, r.stderr);
    if (r.code === 0) {
      assert.match(
        r.stdout,
        new RegExp(`^t1: forwarding tcp 127\\.0\\.0\\.1:${base + i} ${1000 + i}`),
      );
      added.push(base + i);
    }
  });
  assert.equal(added.length, 20, runs.map((r) => r.stderr).join(""));
  assert.deepEqual(hostPorts(dir), added.sort((a, b) => a - b));
  // The lock file is vm's own and is left; no `ports.new` is.
  assert.ok(Deno.lstatSync(join(dir, ".lock")).isFile);
  assert.throws(() => Deno.lstatSync(join(dir, "ports.new")), Deno.errors.NotFound);
});

test("one host port added to two VMs at once goes to one; vm doctor names a shared port", async (t) => {
  t.startRunsvdir(); // a vmd: doctor finds nothing else to say
  const a = await make(t, "a");
  const b = await make(t, "b");
  const port = freePorts(1);
  const [ra, rb] = await Promise.all([
    t.vm(["port", "a", "add", String(port), "80"]),
    t.vm(["port", "b", "add", String(port), "80"]),
  ]);
  assert.deepEqual([ra.code, rb.code].sort(), [0, 100], ra.stderr + rb.stderr);
  const lost = ra.code === 0 ? rb : ra;
  assert.match(lost.stderr, /^vm: fatal: Host port \d+ is forwarded by another VM/);
  const kept = [a, b].filter((d) => {
    try {
      return hostPorts(d).includes(port);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return false;
      throw e;
    }
  });
  assert.equal(kept.length, 1);

  assert.equal((await t.vm(["doctor"])).code, 0);
  // As `vm clone` or `vm import tar` leave it: both VMs forward the port.
  Deno.writeTextFileSync(join(a, "ports"), `tcp 127.0.0.1:${port} 80\n`);
  Deno.writeTextFileSync(join(b, "ports"), `tcp 0.0.0.0:${port} 8080\nudp 127.0.0.1:${port} 53\n`);
  const doc = await t.vm(["doctor"]);
  assert.equal(doc.code, 1, doc.stdout + doc.stderr);
  const text = doc.stdout + doc.stderr;
  assert.match(
    text,
    new RegExp(
      `VM "b": host port ${port} \\(tcp 0\\.0\\.0\\.0:${port} 8080\\) is also forwarded by VM "a"` +
        `.*fix: vm port b rm ${port}`,
    ),
  );
  assert.doesNotMatch(text, /udp 127/); // another protocol: no clash
});

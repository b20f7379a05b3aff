// `vm ssh` of a VM made without --image says how to reach it with
// one's own ssh, on a free port; following that, `vm port add` gives the VM the
// `net-user-fwd` template (QEMU's default NIC on netdev vmnet) and says so, and the
// forward happens: QEMU listens on the port from the next start, and a second forward is
// added live. A VM whose own network template does not take the forwards is refused
// (exit 100, nothing written). VMs with the shipped templates and no guest OS.

import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "../support/harness.ts";
import { freePort } from "../support/cloud_vm.ts";

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
async function listening(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.ConnectionRefused) return false;
    throw e;
  }
}

test("vm port adds net-user-fwd to a VM without one; the forward happens", async (t) => {
  assert.equal((await t.vm(["make", "deb", "--disk", "1M", "--wait", "1", "-y"])).code, 0);
  const advice = await t.vm(["ssh", "deb"]);
  assert.equal(advice.code, 100);
  const m = /use your own: "vm port deb add (\d+) 22", then "ssh -p (\d+) <user>@127\.0\.0\.1"/
    .exec(advice.stderr);
  assert.ok(m !== null && m[1] === m[2], advice.stderr);
  const port = Number(m[1]);

  const add = await t.vm(["port", "deb", "add", String(port), "22"]);
  assert.equal(add.code, 0, add.stderr);
  assert.equal(
    add.stdout,
    `deb: forwarding tcp 127.0.0.1:${port} 22 from the next start (template "net-user-fwd" ` +
      "added: QEMU's default NIC, now with the forwards of the ports file)\n",
  );
  const args = await t.vm(["args", "deb"]);
  assert.ok(args.stdout.includes(` -nic user,id=vmnet,hostfwd=tcp:127.0.0.1:${port}-:22 `));

  t.startRunsvdir();
  const start = await t.vm(["start", "deb"]);
  assert.equal(start.code, 0, start.stderr);
  assert.ok(await listening(port), "QEMU forwards the port");
  const again = await t.vm(["ssh", "deb"]);
  assert.match(
    again.stderr,
    new RegExp(`use your own: "ssh -p ${port} <user>@127\\.0\\.0\\.1"\\n$`),
  );
  const live = freePort();
  const add2 = await t.vm(["port", "deb", "add", String(live), "80"]);
  assert.equal(add2.stdout, `deb: forwarding tcp 127.0.0.1:${live} 80 now and at every start\n`);
  assert.ok(await listening(live), "added to the running QEMU");
  assert.equal((await t.vm(["stop", "deb"])).code, 0);

  // A network of its own that does not take the forwards: refused, nothing written.
  const own = await t.vm(["make", "own", "--disk", "1M", "-y", "--templates", "net-user-virtio"]);
  assert.equal(own.code, 0, own.stderr);
  const refused = await t.vm(["port", "own", "add", String(freePort()), "22"]);
  assert.equal(refused.code, 100);
  assert.match(
    refused.stderr,
    /^vm: fatal: VM "own" has a network of its own \("templates\/net-user-virtio"\) that does not take the forwards of "ports": add ",id=vmnet\$VM_HOSTFWD" to its user-mode -nic or -netdev option/,
  );
  assert.deepEqual(
    [...Deno.readDirSync(t.dir("own"))].map((e) => e.name).filter((n) => n === "ports"),
    [],
  );
  assert.ok(
    ![...Deno.readDirSync(join(t.dir("own"), "templates"))].some((e) => e.name === "net-user-fwd"),
  );
});

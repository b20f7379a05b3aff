/**
 * Setting up cloud-init in VM directories without booting a guest: what
 * provisionCloud writes (keys, known_hosts, seed.iso read back by isoinfo,
 * ports, templates as `vm args` sees them), `vm cloud-init regenerate`,
 * `vm port` on a stopped VM, `vm ssh-config`, the commands that need a
 * running VM, and a start refused because its SSH port is taken. The
 * cloud commands run as the real `vm` CLI.
 */

import assert from "node:assert/strict";
import { type CloudMakeOptions, provisionCloud } from "../../lib/cloud_init/provision.ts";
import { instanceIdOf } from "../../lib/cloud_init/seed.ts";
import { freePort } from "../support/cloud_vm.ts";
import { readOr, run, test, TestEnv, waitFor } from "../support/harness.ts";

/** Makes VM `name` (16M disk, down, logging) and sets up cloud-init in it. */
async function makeCloudVm(t: TestEnv, name: string, opts: CloudMakeOptions = {}) {
  const r = await t.vm(["make", name, "--disk", "16M", "--wait", "20", "--log", "--yes"], {
    env: { VMCONF_DEFAULT_TEMPLATES: "display-none" },
  });
  assert.equal(r.code, 0, r.stderr);
  const dir = t.dir(name);
  const prov = await provisionCloud(t.vmdir, dir, name, { user: "vm", sshKeys: [], ...opts });
  return { dir, prov };
}

const mode = (p: string) => Deno.statSync(p).mode! & 0o777;

async function isoFile(iso: string, name: string): Promise<string> {
  const r = await run("isoinfo", ["-i", iso, "-R", "-x", `/${name}`]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

test("two VMs in a row: different SSH ports; keys, known_hosts, seed, ports, templates", async (t) => {
  const a = await makeCloudVm(t, "a");
  const b = await makeCloudVm(t, "b", { hostname: "bee.lan", packages: ["htop"] });
  assert.ok(b.prov.sshPort > a.prov.sshPort, `${a.prov.sshPort} then ${b.prov.sshPort}`);
  assert.deepEqual(a.prov.templates, ["cloud-init", "guest-agent", "net-user-fwd"]);
  const { dir } = a;
  for (const d of ["ssh", "cloud-init"]) assert.equal(mode(`${dir}/${d}`), 0o700);
  for (
    const f of [
      "ssh/ssh_host_ed25519_key",
      "ssh/known_hosts",
      "seed.iso",
      "ports",
      "cloud-init/user-data",
    ]
  ) {
    assert.equal(mode(`${dir}/${f}`), 0o600, f);
  }
  assert.equal(mode(`${t.vmdir}/.default/ssh`), 0o700);
  assert.equal(mode(`${t.vmdir}/.default/ssh/id_ed25519`), 0o600);
  const clientPub = Deno.readTextFileSync(`${t.vmdir}/.default/ssh/id_ed25519.pub`).trim();
  const y = await run("ssh-keygen", ["-y", "-f", `${t.vmdir}/.default/ssh/id_ed25519`]);
  assert.equal(y.stdout.trim(), clientPub);
  const hostPub = Deno.readTextFileSync(`${dir}/ssh/ssh_host_ed25519_key.pub`).trim();
  assert.equal(
    Deno.readTextFileSync(`${dir}/ssh/known_hosts`),
    `[127.0.0.1]:${a.prov.sshPort} ${hostPub.split(" ").slice(0, 2).join(" ")}\n`,
  );
  assert.equal(Deno.readTextFileSync(`${dir}/ports`), `tcp 127.0.0.1:${a.prov.sshPort} 22\n`);
  // The seed: exactly the sources, volume cidata.
  const iso = `${dir}/seed.iso`;
  assert.equal(
    await isoFile(iso, "meta-data"),
    Deno.readTextFileSync(`${dir}/cloud-init/meta-data`),
  );
  const ud = await isoFile(iso, "user-data");
  assert.equal(ud, Deno.readTextFileSync(`${dir}/cloud-init/user-data`));
  assert.ok(ud.includes(clientPub) && ud.includes(hostPub));
  assert.match(ud, /ed25519_private: \|\n {4}-----BEGIN OPENSSH PRIVATE KEY-----/);
  assert.match((await run("isoinfo", ["-i", iso, "-d"])).stdout, /^Volume id: cidata$/m);
  assert.match(
    await isoFile(`${b.dir}/seed.iso`, "user-data"),
    /fqdn: "bee.lan"[\s\S]*packages:\n {2}- "htop"/,
  );
  // What __run will run.
  const args = await t.vm(["args", "a"]);
  assert.equal(args.code, 0, args.stderr);
  assert.ok(
    args.stdout.includes(`user,id=vmnet,hostfwd=tcp:127.0.0.1:${a.prov.sshPort}-:22`),
    args.stdout,
  );
  assert.ok(args.stdout.includes("file=./seed.iso,if=virtio,format=raw,media=cdrom,readonly=on"));
  assert.ok(args.stdout.includes("socket,id=vmagent,path=./supervise/agent,server=on,wait=off"));
  assert.ok(args.stdout.includes("name=org.qemu.guest_agent.0"));
});

test("--cloud-init: a script becomes a second part; a file cloud-init would not take writes nothing", async (t) => {
  const script = `${t.root}/setup.sh`;
  Deno.writeTextFileSync(script, "#!/bin/sh\necho hi\n");
  const { dir } = await makeCloudVm(t, "s", { cloudInit: script });
  assert.equal(
    Deno.readTextFileSync(`${dir}/cloud-init/extra-user-data`),
    "#!/bin/sh\necho hi\n",
  );
  const ud = await isoFile(`${dir}/seed.iso`, "user-data");
  assert.match(ud, /^Content-Type: multipart\/mixed; boundary="(==vm-[0-9a-f]+==)"/);
  assert.match(ud, /Content-Type: text\/x-shellscript[^]*#!\/bin\/sh\necho hi\n/);
  const bad = `${t.root}/bad.yaml`;
  Deno.writeTextFileSync(bad, "hostname: x\n");
  const r = await t.vm(["make", "x", "--disk", "16M", "--yes"], {
    env: { VMCONF_DEFAULT_TEMPLATES: "display-none" },
  });
  assert.equal(r.code, 0, r.stderr);
  await assert.rejects(
    () => provisionCloud(t.vmdir, t.dir("x"), "x", { user: "vm", sshKeys: [], cloudInit: bad }),
    /bad.yaml" is no user-data cloud-init recognises/,
  );
  for (const f of ["seed.iso", "ssh", "cloud-init", "ports"]) {
    assert.equal(readOr(`${t.dir("x")}/${f}`), "", f);
    assert.throws(() => Deno.lstatSync(`${t.dir("x")}/${f}`), Deno.errors.NotFound);
  }
  await assert.rejects(
    () => provisionCloud(t.vmdir, t.dir("x"), "x", { user: "Bad User", sshKeys: [] }),
    /User name "Bad User" is not allowed/,
  );
  await assert.rejects(
    () => provisionCloud(t.vmdir, t.dir("x"), "x", { sshKeys: [`${t.root}/none.pub`] }),
    /SSH key file ".*none.pub" does not exist/,
  );
});

test("vm cloud-init regenerate: edits reach seed.iso; the instance-id changes only when asked", async (t) => {
  const { dir, prov } = await makeCloudVm(t, "r");
  Deno.writeTextFileSync(`${dir}/cloud-init/user-data`, "runcmd:\n  - [true]\n", {
    append: true,
  });
  const r = await t.vm(["cloud-init", "r", "regenerate"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`instance-id ${prov.instanceId} \\(kept`));
  assert.match(await isoFile(`${dir}/seed.iso`, "user-data"), /runcmd:\n {2}- \[true\]\n$/);
  const n = await t.vm(["cloud-init", "r", "regenerate", "--new-instance-id"]);
  assert.equal(n.code, 0, n.stderr);
  const id = instanceIdOf(Deno.readTextFileSync(`${dir}/cloud-init/meta-data`));
  assert.ok(id !== undefined && id !== prov.instanceId);
  assert.match(n.stdout, new RegExp(`instance-id ${id} \\(new`));
  assert.equal(instanceIdOf(await isoFile(`${dir}/seed.iso`, "meta-data")), id);
  assert.equal(mode(`${dir}/seed.iso`), 0o600);
  const plain = await t.vm(["make", "plain", "--disk", "16M", "--yes"], {
    env: { VMCONF_DEFAULT_TEMPLATES: "display-none" },
  });
  assert.equal(plain.code, 0, plain.stderr);
  const p = await t.vm(["cloud-init", "plain", "regenerate"]);
  assert.equal(p.code, 100);
  assert.match(p.stderr, /^vm: fatal: .* has no cloud-init sources .*not made with --image\n$/);
});

test("vm port on a stopped VM: add, list, refusals, rm; moving the SSH forward rewrites known_hosts", async (t) => {
  const { dir, prov } = await makeCloudVm(t, "p");
  const web = freePort();
  const add = await t.vm(["port", "p", "add", String(web), "80"]);
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout, new RegExp(`forwarding tcp 127.0.0.1:${web} 80 from the next start`));
  const list = await t.vm(["port", "p", "list"]);
  assert.equal(list.stdout, `tcp 127.0.0.1:${prov.sshPort} 22\ntcp 127.0.0.1:${web} 80\n`);
  assert.equal((await t.vm(["port", "p", "add", String(web), "81"])).code, 100);
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const hp = (held.addr as Deno.NetAddr).port;
    const taken = await t.vm(["port", "p", "add", `127.0.0.1:${hp}`, "443"]);
    assert.equal(taken.code, 1);
    assert.match(
      taken.stderr,
      new RegExp(`Host port 127.0.0.1:${hp} \\(tcp\\) is in use by PID ${Deno.pid} \\(`),
    );
  } finally {
    held.close();
  }
  assert.equal((await t.vm(["port", "p", "add", "tcp", "1.2.3.4.5:1", "2"])).code, 100);
  const rm = await t.vm(["port", "p", "rm", String(prov.sshPort)]);
  assert.equal(rm.code, 0, rm.stderr);
  const ssh2 = freePort();
  assert.equal((await t.vm(["port", "p", "add", String(ssh2), "22"])).code, 0);
  assert.match(
    Deno.readTextFileSync(`${dir}/ssh/known_hosts`),
    new RegExp(`^\\[127\\.0\\.0\\.1\\]:${ssh2} ssh-ed25519 `),
  );
  assert.equal((await t.vm(["port", "p", "rm", "udp", String(ssh2)])).code, 100);
});

test("ssh-config lists VMs with SSH; ssh, exec and ip need a running VM", async (t) => {
  const { prov } = await makeCloudVm(t, "web");
  const plain = await t.vm(["make", "plain", "--disk", "16M", "--yes"], {
    env: { VMCONF_DEFAULT_TEMPLATES: "display-none" },
  });
  assert.equal(plain.code, 0, plain.stderr);
  const c = await t.vm(["ssh-config"]);
  assert.equal(c.code, 0, c.stderr);
  assert.match(
    c.stdout,
    new RegExp(`^Host web\n  HostName 127.0.0.1\n  Port ${prov.sshPort}\n  User vm\n`, "m"),
  );
  assert.doesNotMatch(c.stdout, /Host plain|PRIVATE KEY/);
  assert.equal((await t.vm(["ssh-config", "plain"])).code, 100);
  const ssh = await t.vm(["ssh", "web", "--", "true"]);
  assert.equal(ssh.code, 1);
  assert.match(ssh.stderr, /VM "web" is not running; start it with "vm start web --ssh"/);
  const ip = await t.vm(["ip", "web"]);
  assert.equal(ip.code, 1);
  assert.match(ip.stderr, /^vm: fatal: VM "web": no agent answers \(no socket/);
  assert.equal((await t.vm(["exec", "web", "--", "true"])).code, 1);
  assert.equal((await t.vm(["exec", "web"])).code, 100);
});

test("a start whose SSH port is taken fails naming the port and the process holding it", async (t) => {
  let held: Deno.Listener | undefined;
  try {
    const { dir, prov } = await makeCloudVm(t, "busy");
    held = Deno.listen({ hostname: "127.0.0.1", port: prov.sshPort });
    t.startRunsvdir();
    const r = await t.vm(["start", "busy", "--timeout", "20"]);
    assert.notEqual(r.code, 0);
    const want =
      `Host port ${prov.sshPort} (tcp 127.0.0.1:${prov.sshPort} 22 in "ports" of VM "busy") ` +
      `is in use by PID ${Deno.pid} (`;
    assert.ok(r.stderr.includes(want), r.stderr);
    assert.ok(await waitFor(() => readOr(`${dir}/log/main/current`).includes(want), 5000));
  } finally {
    held?.close();
  }
});

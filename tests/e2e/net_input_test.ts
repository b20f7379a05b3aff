// vm net without guests: bad input is one line with exit 100 or 111 and
// nothing half made; addresses and MACs stay; networks are never VMs in
// listings; vm doctor names broken attachments.

import assert from "node:assert/strict";
import { join } from "node:path";
import { hostRoutes } from "../../lib/net/subnet.ts";
import { formatSubnet } from "../../lib/net/subnet.ts";
import { readOr, run, test, type TestEnv } from "../support/harness.ts";

/** The entries of VMDIR (sorted). */
function entries(t: TestEnv): string[] {
  return [...Deno.readDirSync(t.vmdir)].map((e) => e.name).sort();
}

/** Asserts `vm args` fails with one `vm: fatal:` line, exit `code`, VMDIR and the VM's files unchanged. */
async function refused(t: TestEnv, args: string[], code: number, re: RegExp): Promise<void> {
  const before = entries(t);
  const networks = readOr(join(t.dir("a"), "networks"));
  const r = await t.vm(args);
  assert.equal(r.code, code, `vm ${args.join(" ")}: ${r.stdout}${r.stderr}`);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^vm: fatal: [^\n]+\n$/);
  assert.match(r.stderr, re);
  assert.deepEqual(entries(t), before, "nothing made or left");
  assert.equal(readOr(join(t.dir("a"), "networks")), networks, "a's networks unchanged");
}

test("vm net: bad input refused in one line, nothing half made; addresses and MACs stay", async (t) => {
  const ok = async (...args: string[]) => {
    const r = await t.vm(args);
    assert.equal(r.code, 0, `vm ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  await ok("make", "a", "--disk", "1M", "--yes");
  await ok("make", "b", "--disk", "1M", "--yes");
  await ok("net", "create", "lan", "--subnet", "10.251.7.0/24");
  // Subnets: not a network, host bits, overlapping another network or a route of the host.
  await refused(t, ["net", "create", "x", "--subnet", "banana"], 100, /not a subnet/);
  await refused(t, ["net", "create", "x", "--subnet", "10.251.7.9/24"], 100, /host bits/);
  await refused(
    t,
    ["net", "create", "x", "--subnet", "10.251.0.0/16"],
    100,
    /overlaps network "lan"/,
  );
  const route = hostRoutes().find((r) => r.subnet.prefix >= 8 && r.subnet.prefix <= 29);
  if (route !== undefined) {
    await refused(t, ["net", "create", "x", "--subnet", formatSubnet(route.subnet)], 100, /route/);
  }
  await refused(t, ["net", "create", "lan"], 100, /exists already/);
  await refused(t, ["net", "create", "../x"], 100, /Invalid network name/);
  // Addresses: outside, the network's own, taken; a network that does not exist.
  await ok("net", "attach", "b", "lan", "--ip", "10.251.7.9");
  await refused(t, ["net", "attach", "a", "lan", "--ip", "10.251.8.9"], 100, /not a guest address/);
  await refused(t, ["net", "attach", "a", "lan", "--ip", "10.251.7.1"], 100, /network's own/);
  await refused(t, ["net", "attach", "a", "lan", "--ip", "10.251.7.9"], 100, /taken by VM "b"/);
  await refused(t, ["net", "attach", "a", "lan", "--ip", "10.251.7"], 100, /not an IPv4/);
  await refused(t, ["net", "attach", "a", "nope"], 100, /No network "nope".*vm net create nope/);
  // Bridges: one that does not exist, an interface that is not one.
  await refused(t, ["net", "attach", "a", "--bridge", "nobr0"], 111, /No bridge "nobr0"/);
  await refused(t, ["net", "attach", "a", "--bridge", "lo"], 111, /not a bridge/);
  // vm make: a network that does not exist, --no-nat alone.
  await refused(t, ["make", "c", "--yes", "--net", "nope"], 100, /No network "nope"/);
  await refused(t, ["make", "c", "--yes", "--no-nat"], 100, /--net/);
  // The first free address; attaching again keeps address and MAC, --ip changes only the address.
  assert.match(await ok("net", "attach", "a", "lan"), /10\.251\.7\.2 \(MAC 52:54:00:/);
  const first = readOr(join(t.dir("a"), "networks"));
  await ok("net", "attach", "a", "lan");
  assert.equal(readOr(join(t.dir("a"), "networks")), first);
  await ok("net", "attach", "a", "lan", "--ip", "10.251.7.77");
  const mac = first.split(" ")[2];
  assert.equal(readOr(join(t.dir("a"), "networks")), `net lan ${mac} 10.251.7.77\n`);
  assert.equal(Deno.statSync(join(t.dir("a"), "networks")).mode! & 0o777, 0o600);
  // A cloud-init VM made with --net: DHCP on each NIC in its seed's network-config.
  const img = join(t.root, "tiny.qcow2");
  assert.equal((await run("qemu-img", ["create", "-q", "-f", "qcow2", img, "16M"])).code, 0);
  await refused(t, ["make", "c", "--image", img, "--net", "lan", "--no-nat", "-y"], 100, /SSH/);
  await ok("make", "c", "--image", img, "--net", "lan", "-y");
  const cmac = readOr(join(t.dir("c"), "networks")).split(" ")[2];
  const nc = readOr(join(t.dir("c"), "cloud-init", "network-config"));
  assert.match(nc, /^version: 2\nethernets:\n {2}vmnic0:\n {4}match:\n {6}macaddress: "52:54:00:/);
  assert.ok(
    nc.includes(
      `vmnic1:\n    match:\n      macaddress: "${cmac}"\n    set-name: "vmnic1"\n    dhcp4: true\n`,
    ),
    nc,
  );
  assert.ok(
    new TextDecoder().decode(Deno.readFileSync(join(t.dir("c"), "seed.iso"))).includes(cmac ?? "x"),
  );
  await ok("destroy", "c", "--yes");
  // A clone gets NICs of its own: a fresh MAC, a free address.
  await ok("clone", "b", "b2");
  const b2 = readOr(join(t.dir("b2"), "networks"));
  assert.match(b2, /^net lan 52:54:00:\S+ 10\.251\.7\.2\n$/);
  assert.notEqual(b2.split(" ")[2], readOr(join(t.dir("b"), "networks")).split(" ")[2]);
  await ok("destroy", "b2", "--yes");
  // QEMU's default NIC stays as the net-user-fwd template (the same card).
  assert.ok(readOr(join(t.dir("a"), "templates", "net-user-fwd")).startsWith("-nic"));
  // Listings: the network has its table, never a VM's row.
  const list = await ok("list");
  assert.match(list, /^NETWORK\s+SUBNET\s+SWITCH\s+VMS$/m);
  assert.match(list, /^lan\s+10\.251\.7\.0\/24\s+down\s+a 10\.251\.7\.77, b 10\.251\.7\.9$/m);
  assert.deepEqual((await ok("list", "-q")).trim().split("\n"), ["a", "b"]);
  assert.deepEqual(JSON.parse(await ok("list", "--json")).map((v: { name: string }) => v.name), [
    "a",
    "b",
  ]);
  // Export: tar carries the attachments (a bridge's only with --trust); Nomad refuses them.
  Deno.writeTextFileSync(
    join(t.dir("a"), "networks"),
    `net lan ${mac} 10.251.7.77\nbridge br9 52:54:00:00:00:09\n`,
  );
  const tar = join(t.root, "a.tar");
  await ok("export", "tar", "a", tar);
  let r = await t.vm(["import", "tar", tar, "a2"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /networks: bridge br9 52:54:00:00:00:09: a NIC on a bridge of this host/);
  assert.match(r.stdout, /a2: 10\.251\.7\.77 on network "lan" is VM "a"'s too/);
  assert.equal(readOr(join(t.dir("a2"), "networks")), `net lan ${mac} 10.251.7.77\n`);
  r = await t.vm(["export", "nomad", "a"]);
  assert.equal(r.code, 100);
  assert.match(r.stderr, /^vm: fatal: VM "a" has a NIC on private network "lan"; Nomad's/);
  await ok("net", "detach", "a", "br9");
  await ok("destroy", "a2", "--yes");
  // rm refused while attached (exit 1), then done once detached.
  const rm = await t.vm(["net", "rm", "lan"]);
  assert.equal(rm.code, 1);
  assert.match(rm.stderr, /^vm: fatal: Network "lan" is used by "a", "b"; detach first/);
  // vm doctor: an attachment to a network that does not exist.
  Deno.writeTextFileSync(join(t.dir("b"), "networks"), "net gone 52:54:00:00:00:99 10.9.9.9\n");
  const doc = await t.vm(["doctor"]);
  assert.match(
    doc.stdout + doc.stderr,
    /VM "b" is attached to network "gone", which does not exist/,
  );
  await ok("net", "detach", "b", "gone");
  await ok("net", "detach", "a", "lan");
  await ok("net", "rm", "lan");
  assert.ok(!entries(t).includes("@lan"));
  r = await t.vm(["import", "tar", tar, "a3", "--trust"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /a3: network "lan" \(its address 10\.251\.7\.77\) does not exist here: vm net create lan/,
  );
  assert.match(readOr(join(t.dir("a3"), "networks")), /^bridge br9 /m);
});

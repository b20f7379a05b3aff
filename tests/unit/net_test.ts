// Private networks' pure parts: subnets (lib/net/subnet.ts), Ethernet and
// DHCP (lib/net/dhcp.ts), the switch's decisions (lib/service/switch.ts) and
// a VM's `networks` file (lib/vm/network.ts), hostile input included.

import assert from "node:assert/strict";
import {
  formatIp,
  freeIp,
  freeSubnet,
  guestIpProblem,
  overlaps,
  parseIp,
  parseRoutes,
  parseSubnet,
  type Subnet,
} from "../../lib/net/subnet.ts";
import {
  answerType,
  buildDhcpReply,
  DHCP,
  frameMacs,
  ipChecksum,
  parseDhcpRequest,
} from "../../lib/net/dhcp.ts";
import { decide, SWITCH_MAC } from "../../lib/service/switch.ts";
import { attachmentArgs, formatAttachments, parseAttachments } from "../../lib/vm/network.ts";
import { ParseError } from "../../lib/errors.ts";
import { bridgeProblem } from "../../lib/net/bridge.ts";

const S = (text: string): Subnet => {
  const s = parseSubnet(text);
  if (typeof s === "string") throw new Error(s);
  return s;
};

Deno.test("subnets: CIDR parsing, host bits, prefixes, overlap, free ones", () => {
  assert.deepEqual(S("10.20.30.0/24"), { base: parseIp("10.20.30.0"), prefix: 24 });
  assert.match(parseSubnet("10.20.30.5/24") as string, /host bits set.*10\.20\.30\.0\/24/);
  assert.match(parseSubnet("banana") as string, /not a subnet/);
  assert.match(parseSubnet("10.0.0.0/31") as string, /prefix/);
  assert.match(parseSubnet("300.0.0.0/24") as string, /not a subnet/);
  assert.equal(parseIp("10.1.2.03"), undefined);
  assert.ok(overlaps(S("10.0.0.0/8"), S("10.99.0.0/24")));
  assert.ok(!overlaps(S("10.98.0.0/24"), S("10.99.0.0/24")));
  assert.equal(
    formatIp(freeIp(S("10.1.1.0/24"), new Set([parseIp("10.1.1.2") ?? 0])) ?? 0),
    "10.1.1.3",
  );
  const base = parseIp("10.1.1.0") ?? 0;
  const full = new Set([2, 3, 4, 5, 6].map((i) => base + i));
  assert.equal(freeIp(S("10.1.1.0/29"), full), undefined);
  assert.match(guestIpProblem(S("10.1.1.0/24"), parseIp("10.1.1.1") ?? 0) ?? "", /network's own/);
  assert.match(guestIpProblem(S("10.1.1.0/24"), parseIp("10.1.1.255") ?? 0) ?? "", /not a guest/);
  assert.equal(guestIpProblem(S("10.1.1.0/24"), parseIp("10.1.1.254") ?? 0), undefined);
  const used = [S("10.86.0.0/24"), S("10.86.2.0/23")];
  assert.equal(formatIp(freeSubnet(used)?.base ?? 0), "10.86.1.0");
});

Deno.test("the host's routes from /proc/net/route (little-endian hex), default left out", () => {
  const text =
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
    "eth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
    "eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
    "junk\n";
  const r = parseRoutes(text);
  assert.equal(r.length, 1);
  assert.equal(r[0]?.iface, "eth0");
  assert.deepEqual(r[0]?.subnet, S("192.168.0.0/24"));
});

/** A DHCP client frame (as udhcpc sends it) from `mac` (12 hex digits). */
function dhcpFrame(mac: string, type: number, opts: number[] = [], chaddr = mac): Uint8Array {
  const options = [53, 1, type, ...opts, 255];
  const bootp = new Uint8Array(236 + 4 + options.length);
  bootp.set([1, 1, 6, 0, 0xde, 0xad, 0xbe, 0xef]);
  for (let i = 0; i < 6; i++) bootp[28 + i] = parseInt(chaddr.slice(2 * i, 2 * i + 2), 16);
  bootp.set([0x63, 0x82, 0x53, 0x63], 236);
  bootp.set(options, 240);
  const f = new Uint8Array(14 + 20 + 8 + bootp.length);
  f.fill(0xff, 0, 6);
  for (let i = 0; i < 6; i++) f[6 + i] = parseInt(mac.slice(2 * i, 2 * i + 2), 16);
  const v = new DataView(f.buffer);
  v.setUint16(12, 0x0800);
  v.setUint8(14, 0x45);
  v.setUint16(16, 20 + 8 + bootp.length);
  v.setUint8(23, 17);
  v.setUint32(30, 0xffffffff);
  v.setUint16(34, 68);
  v.setUint16(36, 67);
  v.setUint16(38, 8 + bootp.length);
  f.set(bootp, 42);
  return f;
}

const A = "525400000001", B = "525400000002";
const NET = { name: "lan", dir: "/x/@lan", subnet: S("10.9.9.0/24") };
const TABLE = new Map([[A, { ip: parseIp("10.9.9.50") ?? 0, vm: "a" }], [
  B,
  { ip: parseIp("10.9.9.2") ?? 0, vm: "b" },
]]);

Deno.test("DHCP: DISCOVER → OFFER and REQUEST → ACK with the port's lease; NAK for another address", () => {
  const req = parseDhcpRequest(dhcpFrame(A, DHCP.discover));
  assert.equal(req?.type, DHCP.discover);
  assert.equal(req?.chaddr, A);
  const server = parseIp("10.9.9.1") ?? 0;
  assert.equal(answerType(req!, 5, server), DHCP.offer);
  const r2 = parseDhcpRequest(
    dhcpFrame(A, DHCP.request, [50, 4, 10, 9, 9, 50, 54, 4, 10, 9, 9, 1]),
  );
  assert.equal(answerType(r2!, parseIp("10.9.9.50") ?? 0, server), DHCP.ack);
  assert.equal(answerType(r2!, parseIp("10.9.9.51") ?? 0, server), DHCP.nak);
  const other = parseDhcpRequest(dhcpFrame(A, DHCP.request, [54, 4, 10, 9, 9, 7]));
  assert.equal(answerType(other!, 5, server), undefined);
  const d = decide(NET, TABLE, A, dhcpFrame(A, DHCP.discover));
  assert.ok("reply" in d);
  const reply = d.reply;
  const v = new DataView(reply.buffer);
  assert.equal(v.getUint32(14 + 20 + 8 + 16), parseIp("10.9.9.50")); // yiaddr
  assert.equal(ipChecksum(reply.subarray(14, 34)), 0); // a valid IP header checksum
  assert.equal(frameMacs(reply)?.src, SWITCH_MAC);
  assert.equal(frameMacs(reply)?.dst, A);
  // The reply parses back as BOOTP with the offer's type (op 2 is not a client's request).
  assert.equal(parseDhcpRequest(reply), undefined);
  assert.ok(
    buildDhcpReply({
      type: DHCP.nak,
      request: req!,
      yiaddr: 0,
      serverIp: server,
      serverMac: SWITCH_MAC,
      mask: 0,
    }).length > 240,
  );
});

Deno.test("switch: a guest cannot pose as another MAC, get another's address, or answer DHCP", () => {
  // chaddr naming B from A's port: A's own lease, to A's MAC.
  const d = decide(NET, TABLE, A, dhcpFrame(A, DHCP.discover, [], B));
  assert.ok("reply" in d);
  assert.equal(new DataView(d.reply.buffer).getUint32(14 + 20 + 8 + 16), parseIp("10.9.9.50"));
  assert.equal(frameMacs(d.reply)?.dst, A);
  // A source MAC that is not the port's.
  assert.deepEqual(decide(NET, TABLE, A, dhcpFrame(B, DHCP.discover)), {
    drop: "source MAC not the port's",
  });
  // A port nobody attached.
  assert.ok("drop" in decide(NET, TABLE, "525400000009", dhcpFrame("525400000009", 1)));
  // A DHCP server's frame (UDP from 67) from a guest.
  const offer = dhcpFrame(A, DHCP.offer);
  new DataView(offer.buffer).setUint16(34, 67);
  new DataView(offer.buffer).setUint16(36, 68);
  assert.deepEqual(decide(NET, TABLE, A, offer), { drop: "DHCP answer from a guest" });
  // Broadcast goes to the others, unicast to its port, unknown nowhere; short frames dropped.
  const bcast = dhcpFrame(A, 99);
  new DataView(bcast.buffer).setUint16(12, 0x0806);
  assert.deepEqual(decide(NET, TABLE, A, bcast), { to: [B] });
  const uni = bcast.slice();
  uni.set([0x52, 0x54, 0, 0, 0, 2], 0);
  assert.deepEqual(decide(NET, TABLE, A, uni), { to: [B] });
  uni.set([0x52, 0x54, 0, 0, 0, 7], 0);
  assert.ok("drop" in decide(NET, TABLE, A, uni));
  assert.ok("drop" in decide(NET, TABLE, A, new Uint8Array(10)));
});

Deno.test("DHCP parsing survives any truncation and garbage", () => {
  const f = dhcpFrame(A, DHCP.request, [50, 4, 10, 9, 9, 50]);
  for (let n = 0; n <= f.length; n++) {
    parseDhcpRequest(f.subarray(0, n));
    decide(NET, TABLE, A, f.slice(0, n));
  }
  const bad = f.slice();
  bad[bad.length - 6] = 200; // an option longer than the packet
  assert.equal(parseDhcpRequest(bad), undefined);
  for (let i = 0; i < 2000; i++) {
    const g = crypto.getRandomValues(new Uint8Array(Math.floor(Math.random() * 400)));
    parseDhcpRequest(g);
    decide(NET, TABLE, A, g);
  }
});

Deno.test("a VM's networks file: round trip, bad lines named, QEMU's arguments", () => {
  const text = "net lan 52:54:00:00:00:01 10.9.9.50\nbridge br0 52:54:00:00:00:02\n";
  const list = parseAttachments(text, "networks");
  assert.equal(formatAttachments(list), text);
  assert.throws(() => parseAttachments("net lan 52:54:00:00:00:01\n", "f"), ParseError);
  assert.throws(() => parseAttachments("net lan xx 10.0.0.1\n", "f"), /MAC/);
  assert.throws(() => parseAttachments("bridge ../x 52:54:00:00:00:01\n", "f"), /interface/);
  const args = attachmentArgs("/v,x", list);
  assert.deepEqual(args.filter((_, i) => i % 2 === 0), [
    "-netdev",
    "-device",
    "-netdev",
    "-device",
  ]);
  assert.match(
    args[1] ?? "",
    /^dgram,id=vmnet0,local\.type=unix,local\.path=\/v,,x\/@lan\/ports\/525400000001,remote/,
  );
  assert.equal(args[3], "virtio-net-pci,netdev=vmnet0,mac=52:54:00:00:00:01,host_mtu=65520");
  assert.equal(args[7], "virtio-net-pci,netdev=vmnet1,mac=52:54:00:00:00:02");
  assert.match(args[5] ?? "", /^bridge,id=vmnet1,br=br0,helper=/);
});

Deno.test("bridges: what QEMU's bridge helper needs, said in one line", () => {
  const dir = Deno.makeTempDirSync({ prefix: "vm-bridge-test-" });
  try {
    const helper = `${dir}/helper`, conf = `${dir}/bridge.conf`, inc = `${dir}/more.conf`;
    const files = { helper, conf };
    assert.match(bridgeProblem("br0", 0, files) ?? "", /helper .* is missing/);
    Deno.writeTextFileSync(helper, "");
    Deno.chmodSync(helper, 0o755);
    assert.match(bridgeProblem("br0", 1000, files) ?? "", /not setuid root.*chmod u\+s/);
    assert.match(
      bridgeProblem("br0", 0, files) ?? "",
      /add the line "allow br0" to .*bridge\.conf/,
    );
    Deno.writeTextFileSync(conf, `allow br1\ninclude ${inc}\n`);
    Deno.writeTextFileSync(inc, "allow br0\n");
    assert.equal(bridgeProblem("br0", 0, files), undefined);
    Deno.chmodSync(helper, 0o4755);
    assert.equal(bridgeProblem("br1", 1000, files), undefined);
    Deno.writeTextFileSync(conf, "deny br0\nallow all\n");
    assert.match(bridgeProblem("br0", 0, files) ?? "", /allow br0/);
    assert.equal(bridgeProblem("br5", 0, files), undefined);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

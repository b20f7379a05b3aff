/**
 * `vm __switch`: the Ethernet switch and DHCP server of a private network,
 * the run of its runit service directory `$VMDIR/@NAME` (lib/vm/network.ts).
 * It binds the datagram socket `@NAME/sock`; each VM's QEMU sends its NIC's
 * frames there from `@NAME/ports/<mac>` (`-netdev dgram`). Datagram sockets
 * have no connection: when the switch dies and runit starts it again at the
 * same path, frames flow again, nothing reconnects.
 * A frame is taken only from a port whose MAC a VM's `networks` file
 * attaches to this network, and only with that MAC as its source (a guest
 * cannot pose as another); frames go out from `@NAME/tx/<mac>`, one socket
 * per port; DHCP requests are answered by the switch with the
 * port's own address (never the one a frame's chaddr names), and a guest's
 * DHCP answers are dropped. Frames to a group address go to every other
 * port, others to their MAC's port; a port that does not read (a paused
 * QEMU) gets at most QUEUE frames in flight, then drops, so it never stalls
 * the others. The table of MACs is read from the VMs' `networks` files at
 * start and again (at most once a second) when an unknown MAC or a DHCP
 * request comes. Idle, it waits in one receive: no timer, no CPU.
 * Reads `$VMDIR/@NAME/net.conf`, `$VMDIR/*\/networks`; binds `@NAME/sock`.
 * @module
 */

import { basename, dirname, join } from "../os/path.ts";
import { makeDir, MODE, removeIfExists, removeTree } from "../os/fs.ts";
import { NET, netOfEntry } from "../layout.ts";
import {
  answerType,
  buildDhcpReply,
  DHCP,
  frameMacs,
  isDhcpServerFrame,
  MAX_FRAME,
  parseDhcpRequest,
} from "../net/dhcp.ts";
import { formatIp, formatSubnet, gatewayOf, maskOf } from "../net/subnet.ts";
import { allAttachments, membersOf, type Network, requireNetwork } from "../vm/network.ts";
import { macKey } from "../net/dhcp.ts";

/** Frames waiting for one port at most (its QEMU not reading): more are dropped. */
export const QUEUE = 512;
/** The switch's own MAC (locally administered, unicast; not QEMU's 52:54:00 prefix). */
export const SWITCH_MAC = "564d00000001";
/** Least milliseconds between two reads of the VMs' `networks` files. */
const RESCAN_MS = 1000;

/** What the switch does with one frame: the ports (MACs) it goes to, or a reply to its sender. */
export type Decision =
  | { drop: string }
  | { to: string[] }
  | { reply: Uint8Array; log?: string };

/** The MACs (12 hex digits) of a network's ports and their addresses. */
export type Table = ReadonlyMap<string, { ip: number; vm: string }>;

/**
 * What to do with `frame` from port `from` (its MAC, 12 hex digits), given
 * the `table` (see the module). Pure.
 */
export function decide(net: Network, table: Table, from: string, frame: Uint8Array): Decision {
  const macs = frameMacs(frame);
  if (macs === undefined) return { drop: "bad length" };
  if (macs.src !== from) return { drop: "source MAC not the port's" };
  const me = table.get(from);
  if (me === undefined) return { drop: "port not attached" };
  if (isDhcpServerFrame(frame)) return { drop: "DHCP answer from a guest" };
  const req = parseDhcpRequest(frame);
  if (req !== undefined) {
    const serverIp = gatewayOf(net.subnet);
    const type = answerType(req, me.ip, serverIp);
    if (type === undefined) return { drop: "DHCP message not for us" };
    // The port's address whatever chaddr says: the reply goes to the port's MAC.
    const request = { ...req, chaddr: from };
    const reply = buildDhcpReply({
      type,
      request,
      yiaddr: type === DHCP.nak ? 0 : me.ip,
      serverIp,
      serverMac: SWITCH_MAC,
      mask: maskOf(net.subnet.prefix),
    });
    const what = type === DHCP.ack ? "ACK" : type === DHCP.nak ? "NAK" : undefined;
    if (what === undefined) return { reply };
    return { reply, log: `DHCP ${what} ${formatIp(me.ip)} to "${me.vm}" (${from})` };
  }
  if (macs.group) return { to: [...table.keys()].filter((m) => m !== from) };
  if (macs.dst !== from && table.has(macs.dst)) return { to: [macs.dst] };
  return { drop: "unknown destination" };
}

/** The table of network `net` from the VMs' `networks` files of `vmdir`. */
export function readTable(vmdir: string, net: Network): Map<string, { ip: number; vm: string }> {
  const table = new Map<string, { ip: number; vm: string }>();
  for (const m of membersOf(allAttachments(vmdir).byVm, net.name)) {
    const key = macKey(m.mac);
    if (key !== undefined && !table.has(key)) table.set(key, { ip: m.ip, vm: m.vm });
  }
  return table;
}

/**
 * The frames for one port, sent in order from a socket of their own
 * (`tx/<mac>`): Deno sends one datagram at a time per socket, and a send to a
 * QEMU that does not read waits, so each port waits alone. At most QUEUE
 * frames wait; more are dropped (as a switch's full output queue does).
 */
class Sender {
  #conn: Deno.DatagramConn;
  #to: Deno.UnixAddr;
  #queue: Uint8Array[] = [];
  #busy = false;
  #onError: (e: unknown) => void;

  constructor(path: string, to: string, onError: (e: unknown) => void) {
    removeIfExists(path);
    this.#conn = Deno.listenDatagram({ transport: "unixpacket", path });
    this.#to = { transport: "unixpacket", path: to };
    this.#onError = onError;
  }

  /** Queues `frame` (its own bytes). */
  push(frame: Uint8Array): void {
    if (this.#queue.length >= QUEUE) return;
    this.#queue.push(frame);
    if (!this.#busy) this.#pump();
  }

  async #pump(): Promise<void> {
    this.#busy = true;
    for (let f = this.#queue.shift(); f !== undefined; f = this.#queue.shift()) {
      try {
        await this.#conn.send(f, this.#to);
      } catch (e) {
        // A VM that is down has no socket (NotFound) or nobody reading it (ConnectionRefused).
        if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.ConnectionRefused) {
          this.#queue.length = 0;
        } else this.#onError(e);
      }
    }
    this.#busy = false;
  }
}

/** Runs the switch of the network in `dir` (`$VMDIR/@NAME`) until killed; `say` logs a line. */
export async function runSwitch(dir: string, say: (line: string) => void): Promise<number> {
  const vmdir = dirname(dir);
  const net = requireNetwork(vmdir, netOfEntry(basename(dir)) ?? "");
  const ports = join(dir, NET.ports);
  makeDir(ports, MODE.dir, true);
  const sock = join(dir, NET.socket);
  removeIfExists(sock);
  const conn = Deno.listenDatagram({ transport: "unixpacket", path: sock });
  let table = readTable(vmdir, net);
  let scanned = performance.now();
  const rescan = () => {
    if (performance.now() - scanned < RESCAN_MS) return;
    table = readTable(vmdir, net);
    scanned = performance.now();
  };
  const tx = join(dir, NET.tx);
  removeTree(tx); // a killed switch's
  makeDir(tx);
  const senders = new Map<string, Sender>();
  const errors = new Set<string>();
  const onError = (mac: string, e: unknown) => {
    const why = `${(e as Error).name}: ${(e as Error).message}`;
    if (!errors.has(why)) say(`cannot send to port ${mac}: ${why}`);
    errors.add(why);
  };
  const send = (mac: string, frame: Uint8Array) => {
    let s = senders.get(mac);
    if (s === undefined) {
      s = new Sender(join(tx, mac), join(ports, mac), (e) => onError(mac, e));
      senders.set(mac, s);
    }
    s.push(frame);
  };
  const acked = new Set<string>();
  const buffer = new Uint8Array(MAX_FRAME + 1);
  say(
    `switch of ${formatSubnet(net.subnet)} (DHCP server ${formatIp(gatewayOf(net.subnet))}) ` +
      `listening on ${sock}, ${table.size} port(s) attached`,
  );
  for (;;) {
    const [received, addr] = await conn.receive(buffer);
    const frame = received.slice(); // its own bytes: it may wait in a port's queue
    if (addr.transport !== "unixpacket" || dirname(addr.path) !== ports) continue;
    const from = basename(addr.path);
    if (!table.has(from) || parseDhcpRequest(frame) !== undefined) rescan();
    const d = decide(net, table, from, frame);
    if ("to" in d) { for (const mac of d.to) send(mac, frame); }
    else if ("reply" in d) {
      send(from, d.reply);
      if (d.log !== undefined && !acked.has(d.log)) {
        acked.add(d.log);
        say(d.log);
      }
    }
  }
}

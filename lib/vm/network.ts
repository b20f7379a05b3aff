/**
 * Private networks and a VM's attachments to them. A network `NAME` is the
 * runit service directory `$VMDIR/@NAME` (its `run` execs `vm __switch`):
 * `net.conf` holds its subnet, `sock` is its switch's datagram socket,
 * `ports/` the VMs' sockets (QEMU binds `ports/<mac>`: the switch knows a
 * frame's port, so its MAC, from the address it came from). A VM's NICs on
 * networks and bridges are its `networks` file, one per line:
 *   net NAME MAC IP       a NIC on private network NAME, with its fixed address
 *   bridge BR MAC         a NIC on host bridge BR (QEMU's bridge helper)
 * The VMs' `networks` files are the only record of who has which address:
 * the switch, `vm net list` and attach read them all.
 * Reads `$VMDIR/@*` and `$VMDIR/<vm>/networks`. Pure apart from the readers.
 * @module
 */

import { join } from "../os/path.ts";
import { ParseError, UsageError } from "../errors.ts";
import { F, NET, netEntry, netOfEntry } from "../layout.ts";
import { readTextIfExists } from "../os/fs.ts";
import { byteOrder } from "../text/byte_order.ts";
import { formatIp, formatSubnet, parseIp, parseSubnet, type Subnet } from "../net/subnet.ts";
import { macKey } from "../net/dhcp.ts";
import { BRIDGE_HELPER } from "../net/bridge.ts";
import { isValidName, MAX_NAME_BYTES } from "./name.ts";
import { readVmDirs } from "./dir.ts";

/** One NIC of a VM on a private network or a bridge. */
export type Attachment =
  | { kind: "net"; network: string; mac: string; ip: number }
  | { kind: "bridge"; bridge: string; mac: string };

/** A private network as its directory says. */
export interface Network {
  name: string;
  dir: string;
  subnet: Subnet;
}

/** The directory of network `name`. Pure. */
export function networkDir(vmdir: string, name: string): string {
  return join(vmdir, netEntry(name));
}

/** Throws UsageError (exit 100) when `name` is not a valid network name (as a VM's). Pure. */
export function checkNetworkName(name: string): string {
  if (!isValidName(name)) {
    throw new UsageError(
      `Invalid network name ${JSON.stringify(name)}: use letters, digits, ".", "_" and "-", ` +
        `starting with a letter or digit, at most ${MAX_NAME_BYTES} bytes`,
    );
  }
  return name;
}

/** Whether `name` is a valid host interface name (a bridge's). Pure. */
export function isInterfaceName(name: string): boolean {
  return /^[A-Za-z0-9_.-]{1,15}$/.test(name) && name !== "." && name !== "..";
}

/** The text of a network's `network` file. Pure. */
export function formatNetworkConfig(subnet: Subnet): string {
  return `subnet=${formatSubnet(subnet)}\n`;
}

/** The subnet in a `network` file's text; throws ParseError. Pure. */
export function parseNetworkConfig(text: string, file: string): Subnet {
  let subnet: Subnet | undefined;
  text.split("\n").forEach((line, i) => {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) return;
    const m = /^subnet=(\S+)$/.exec(t);
    if (m === null) throw new ParseError(file, i + 1, `expected "subnet=CIDR", found "${t}"`);
    const s = parseSubnet(m[1] ?? "");
    if (typeof s === "string") throw new ParseError(file, i + 1, s);
    subnet = s;
  });
  if (subnet === undefined) throw new ParseError(file, 1, `no "subnet=CIDR" line`);
  return subnet;
}

/** Network `name` of `vmdir`, undefined when there is none. Reads `@NAME/network`. */
export function findNetwork(vmdir: string, name: string): Network | undefined {
  const dir = networkDir(vmdir, checkNetworkName(name));
  const path = join(dir, NET.config);
  const text = readTextIfExists(path);
  return text === undefined ? undefined : { name, dir, subnet: parseNetworkConfig(text, path) };
}

/** Network `name`; throws UsageError (exit 100) naming `vm net create` when it does not exist. */
export function requireNetwork(vmdir: string, name: string): Network {
  const net = findNetwork(vmdir, name);
  if (net === undefined) {
    throw new UsageError(
      `No network "${name}" in ${vmdir}; make it with: vm net create ${name}`,
    );
  }
  return net;
}

/** The networks of `vmdir` (directories `@NAME` with a `network` file), sorted by name. */
export function listNetworks(vmdir: string): Network[] {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(vmdir)];
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  const names = entries.filter((e) => e.isDirectory).map((e) => netOfEntry(e.name) ?? "")
    .filter(isValidName).sort(byteOrder);
  return names.flatMap((n) => findNetwork(vmdir, n) ?? []);
}

/** A `networks` file's text. Pure. */
export function formatAttachments(list: readonly Attachment[]): string {
  return list.map((a) =>
    a.kind === "net"
      ? `net ${a.network} ${a.mac} ${formatIp(a.ip)}\n`
      : `bridge ${a.bridge} ${a.mac}\n`
  ).join("");
}

/** The attachments of a `networks` file's text; throws ParseError. Pure. */
export function parseAttachments(text: string, file: string): Attachment[] {
  const out: Attachment[] = [];
  text.split("\n").forEach((line, i) => {
    const w = line.trim().split(/\s+/);
    if (w[0] === "" || w[0]?.startsWith("#")) return;
    const bad = (why: string) => new ParseError(file, i + 1, why);
    const [kind, name = "", mac = "", ip = ""] = w;
    if (macKey(mac) === undefined) throw bad(`"${mac}" is not a MAC address`);
    if (kind === "net" && w.length === 4) {
      const n = parseIp(ip);
      if (!isValidName(name)) throw bad(`"${name}" is not a network name`);
      if (n === undefined) throw bad(`"${ip}" is not an IPv4 address`);
      out.push({ kind, network: name, mac: mac.toLowerCase(), ip: n });
    } else if (kind === "bridge" && w.length === 3) {
      if (!isInterfaceName(name)) throw bad(`"${name}" is not an interface name`);
      out.push({ kind, bridge: name, mac: mac.toLowerCase() });
    } else {
      throw bad(`expected "net NAME MAC IP" or "bridge BRIDGE MAC"`);
    }
  });
  return out;
}

/** The attachments of the VM in `dir` (none without a `networks` file). Throws ParseError. */
export function readAttachments(dir: string): Attachment[] {
  const path = join(dir, F.networks);
  const text = readTextIfExists(path);
  return text === undefined ? [] : parseAttachments(text, path);
}

/** One VM's NIC on a network, as the switch and `vm net list` see it. */
export interface Member {
  vm: string;
  mac: string;
  ip: number;
}

/**
 * Every VM's attachments in `vmdir`, by VM name (VMs whose `networks` file
 * does not parse are left out, and named in `bad`). Reads every `<vm>/networks`.
 */
export function allAttachments(vmdir: string): {
  byVm: Map<string, Attachment[]>;
  bad: { vm: string; error: unknown }[];
} {
  const byVm = new Map<string, Attachment[]>();
  const bad: { vm: string; error: unknown }[] = [];
  for (const [vm, entries] of readVmDirs(vmdir)) {
    if (!entries.has(F.networks)) continue;
    try {
      byVm.set(vm, readAttachments(join(vmdir, vm)));
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      bad.push({ vm, error: e });
    }
  }
  return { byVm, bad };
}

/** The members of network `name` among `byVm`. Pure. */
export function membersOf(byVm: ReadonlyMap<string, Attachment[]>, name: string): Member[] {
  const out: Member[] = [];
  for (const [vm, list] of byVm) {
    for (const a of list) {
      if (a.kind === "net" && a.network === name) out.push({ vm, mac: a.mac, ip: a.ip });
    }
  }
  return out;
}

/** The MTU a NIC on a private network offers its guest (its frames fit the switch's 64 KiB). */
export const PRIVATE_MTU = 65520;

/** The longest socket path QEMU can bind (sun_path is 108 bytes, with its NUL). */
const MAX_SOCKET_PATH = 107;

/**
 * QEMU's arguments for a VM's attachments: per NIC a `-netdev` (a datagram
 * socket to the network's switch, or the bridge helper) and a virtio NIC
 * with the attachment's MAC. Throws UsageError when a socket path is too long.
 */
export function attachmentArgs(vmdir: string, list: readonly Attachment[]): string[] {
  return list.flatMap((a, i) => {
    const id = `vmnet${i}`;
    let netdev: string;
    if (a.kind === "net") {
      const dir = networkDir(vmdir, a.network);
      const local = join(dir, NET.ports, macKey(a.mac) ?? "");
      if (new TextEncoder().encode(local).length > MAX_SOCKET_PATH) {
        throw new UsageError(
          `The socket path "${local}" is longer than ${MAX_SOCKET_PATH} bytes; ` +
            `use a shorter VMDIR or network name`,
        );
      }
      netdev = `dgram,id=${id},local.type=unix,local.path=${optValue(local)},remote.type=unix,` +
        `remote.path=${optValue(join(dir, NET.socket))}`;
    } else {
      netdev = `bridge,id=${id},br=${a.bridge},helper=${BRIDGE_HELPER}`;
    }
    // On a private network the NIC offers the guest a 64 KiB MTU (virtio's host_mtu): frames
    // through vm's switch cost per frame, not per byte. Bridges keep the LAN's MTU.
    const mtu = a.kind === "net" ? `,host_mtu=${PRIVATE_MTU}` : "";
    return ["-netdev", netdev, "-device", `virtio-net-pci,netdev=${id},mac=${a.mac}${mtu}`];
  });
}

/**
 * What the private networks of a VM `name` (imported) (in `dir`) need here: each
 * one `vmdir` lacks, named with how to make it, and each address another VM
 * of it has. Reads `$VMDIR/@*` and the VMs' `networks`.
 */
export function networkNeeds(vmdir: string, name: string, dir: string): string[] {
  const out: string[] = [];
  const { byVm } = allAttachments(vmdir);
  byVm.delete(name);
  for (const a of readAttachments(dir)) {
    if (a.kind !== "net") continue;
    if (findNetwork(vmdir, a.network) === undefined) {
      out.push(
        `network "${a.network}" (its address ${formatIp(a.ip)}) does not exist here: ` +
          `vm net create ${a.network} (or vm net detach ${name} ${a.network})`,
      );
      continue;
    }
    const other = membersOf(byVm, a.network).find((m) => m.ip === a.ip);
    if (other !== undefined) {
      out.push(
        `${formatIp(a.ip)} on network "${a.network}" is VM "${other.vm}"'s too: ` +
          `vm net attach ${name} ${a.network} --ip <another address>`,
      );
    }
  }
  return out;
}

/** A value inside a QEMU option list: its commas doubled. Pure. */
function optValue(v: string): string {
  return v.replaceAll(",", ",,");
}

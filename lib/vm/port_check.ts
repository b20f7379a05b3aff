/**
 * Whether host ports are free, and who holds one that is not: a bind test
 * on the rule's address, then the socket's inode from `/proc/net/{tcp,udp}`
 * (and the IPv6 tables) and the process with that socket among
 * `/proc/<pid>/fd/*`; the first free port for a VM's SSH forward. Parsing the tables is pure; the rest reads /proc and
 * binds sockets briefly (never keeps one).
 * Level: vm.
 * @module
 */

import { SystemError } from "../errors.ts";
import { socketHolder } from "../os/proc.ts";
import { F } from "../layout.ts";
import { FIRST_SSH_PORT, firstFreePort, formatRule, type PortRule, portsInUse } from "./ports.ts";

/** A socket of a `/proc/net/{tcp,udp}[6]` table. */
export interface ProcSocket {
  port: number;
  /** The kernel's state: 0A is LISTEN for tcp; 07 is an unconnected udp socket. */
  state: string;
  inode: number;
}

/** The sockets of a `/proc/net/tcp`-style table text. Pure. */
export function parseProcNet(text: string): ProcSocket[] {
  const out: ProcSocket[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    const local = f[1];
    const state = f[3];
    const inode = Number(f[9]);
    if (local === undefined || state === undefined || !Number.isInteger(inode)) continue;
    const port = parseInt(local.slice(local.lastIndexOf(":") + 1), 16);
    if (Number.isInteger(port)) out.push({ port, state, inode });
  }
  return out;
}

/** The inode of the socket bound to `port` (listening, for tcp), or undefined. Reads /proc/net. */
export function socketInode(proto: "tcp" | "udp", port: number): number | undefined {
  for (const table of [proto, `${proto}6`]) {
    let text: string;
    try {
      text = Deno.readTextFileSync(`/proc/net/${table}`);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue; // no IPv6 here
      throw e;
    }
    const s = parseProcNet(text).find((x) =>
      x.port === port && (proto === "udp" || x.state === "0A") && x.inode !== 0
    );
    if (s !== undefined) return s.inode;
  }
  return undefined;
}

/**
 * Whether `addr:port` is free for `proto`: for tcp a bind test (the socket
 * is closed at once); for udp (Deno binds udp only with --unstable-net) no
 * udp socket on that port in /proc/net/udp[6].
 */
export function canBind(proto: "tcp" | "udp", hostname: string, port: number): boolean {
  if (proto === "udp") return socketInode("udp", port) === undefined;
  try {
    Deno.listen({ hostname, port, transport: "tcp" }).close();
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) return false;
    throw e;
  }
}

/**
 * The first host port from 2222 for an SSH forward of VM `name` of `vmdir` on
 * `addr`: one no other VM forwards, none of `own` (the VM's other rules)
 * takes, and free on the host. Reads other VMs' `ports`; binds for a moment.
 * Throws UsageError when none is left.
 */
export function freeSshPort(
  vmdir: string,
  name: string,
  own: readonly PortRule[] = [],
  addr = "127.0.0.1",
): number {
  const used = portsInUse(vmdir, name);
  for (const r of own) used.add(r.hostPort);
  return firstFreePort(used, (p) => canBind("tcp", addr, p), FIRST_SSH_PORT);
}

/** Who holds a rule's host port, in words: `PID 123 (nc)` or `another process`. */
export function holderText(r: PortRule): string {
  const inode = socketInode(r.proto, r.hostPort);
  const h = inode === undefined ? undefined : socketHolder(inode);
  return h === undefined ? "another process" : `PID ${h.pid} (${h.comm})`;
}

/**
 * Throws SystemError naming the first rule of VM `name` whose host port
 * is taken, and the process holding it when it can be found. Binds each
 * host socket for a moment.
 */
export function checkPortsFree(name: string, rules: readonly PortRule[]): void {
  for (const r of rules) {
    if (canBind(r.proto, r.hostAddr, r.hostPort)) continue;
    throw new SystemError(
      `Host port ${r.hostPort} (${formatRule(r)} in "${F.ports}" of VM "${name}") is in use by ` +
        `${holderText(r)}; stop that or move the forward with "vm port ${name} rm ${r.hostPort}"`,
    );
  }
}

/**
 * IPv4 subnets of private networks (`vm net create --subnet CIDR`): parsing
 * addresses and CIDRs, overlap, the host's routes (`/proc/net/route`), and a
 * free /24 in 10.0.0.0/8 for a network made without `--subnet`. The first
 * host address of a subnet is the switch's own (its DHCP server's); guests
 * get the others. Pure except {@link hostRoutes}, which reads /proc/net/route.
 * @module
 */

/** An IPv4 subnet: its network address (a 32-bit number) and prefix length. */
export interface Subnet {
  base: number;
  prefix: number;
}

/** The shortest and longest prefixes a network may have (a /29 holds 5 guests). */
export const MIN_PREFIX = 8;
export const MAX_PREFIX = 29;

/** The 32-bit number of dotted-quad `text`, or undefined when it is not one. Pure. */
export function parseIp(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (m === null) return undefined;
  let n = 0;
  for (const part of m.slice(1)) {
    const v = Number(part);
    if (v > 255 || (part.length > 1 && part.startsWith("0"))) return undefined;
    n = n * 256 + v;
  }
  return n;
}

/** Dotted quad of a 32-bit number. Pure. */
export function formatIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
}

/** The mask of a prefix length, as an unsigned 32-bit number. Pure. */
export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** `10.1.2.0/24`. Pure. */
export function formatSubnet(s: Subnet): string {
  return `${formatIp(s.base)}/${s.prefix}`;
}

/**
 * The subnet `text` names (`10.1.2.0/24`), or why it is none: not a CIDR, a
 * prefix out of MIN_PREFIX…MAX_PREFIX, or host bits set (`10.1.2.5/24`). Pure.
 */
export function parseSubnet(text: string): Subnet | string {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text);
  const base = m === null ? undefined : parseIp(m[1] ?? "");
  if (m === null || base === undefined) {
    return `"${text}" is not a subnet; give one in CIDR form, e.g. 10.20.30.0/24`;
  }
  const prefix = Number(m[2]);
  if (prefix < MIN_PREFIX || prefix > MAX_PREFIX) {
    return `subnet "${text}": the prefix must be /${MIN_PREFIX} to /${MAX_PREFIX}, e.g. 10.20.30.0/24`;
  }
  if (((base & maskOf(prefix)) >>> 0) !== base) {
    const net = formatSubnet({ base: (base & maskOf(prefix)) >>> 0, prefix });
    return `"${text}" is not a network address (host bits set); did you mean ${net}?`;
  }
  return { base, prefix };
}

/** Whether two subnets share an address. Pure. */
export function overlaps(a: Subnet, b: Subnet): boolean {
  const mask = maskOf(Math.min(a.prefix, b.prefix));
  return ((a.base & mask) >>> 0) === ((b.base & mask) >>> 0);
}

/** Whether `ip` is in `s`. Pure. */
export function contains(s: Subnet, ip: number): boolean {
  return ((ip & maskOf(s.prefix)) >>> 0) === s.base;
}

/** The switch's own address in `s`: its first host address. Pure. */
export function gatewayOf(s: Subnet): number {
  return s.base + 1;
}

/** The addresses guests may have in `s`: after the switch's, before the broadcast. Pure. */
export function guestRange(s: Subnet): { first: number; last: number } {
  const size = 2 ** (32 - s.prefix);
  return { first: s.base + 2, last: s.base + size - 2 };
}

/** Why `ip` cannot be a guest's address in `s`, or undefined. Pure. */
export function guestIpProblem(s: Subnet, ip: number): string | undefined {
  const { first, last } = guestRange(s);
  if (ip >= first && ip <= last) return undefined;
  return `address ${formatIp(ip)} is not a guest address of ${formatSubnet(s)} ` +
    `(${formatIp(first)} to ${formatIp(last)}; ${formatIp(gatewayOf(s))} is the network's own)`;
}

/** The first address of `s` usable by a guest and not in `taken`, or undefined. Pure. */
export function freeIp(s: Subnet, taken: ReadonlySet<number>): number | undefined {
  const { first, last } = guestRange(s);
  for (let ip = first; ip <= last; ip++) if (!taken.has(ip)) return ip;
  return undefined;
}

/**
 * The routes of `/proc/net/route`'s text, default routes left out. Its
 * addresses are hexadecimal in host byte order (little-endian here). Pure.
 */
export function parseRoutes(text: string): { iface: string; subnet: Subnet }[] {
  const out: { iface: string; subnet: Subnet }[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const dest = leHex(f[1] ?? ""), mask = leHex(f[7] ?? "");
    if (dest === undefined || mask === undefined || mask === 0) continue;
    const prefix = 32 - Math.log2(((~mask) >>> 0) + 1);
    if (!Number.isInteger(prefix)) continue;
    out.push({ iface: f[0] ?? "", subnet: { base: (dest & mask) >>> 0, prefix } });
  }
  return out;
}

/** A little-endian hex word of /proc/net/route as a number. Pure. */
function leHex(hex: string): number | undefined {
  if (!/^[0-9A-Fa-f]{8}$/.test(hex)) return undefined;
  const v = parseInt(hex, 16);
  return (((v & 0xff) << 24) | ((v >>> 8 & 0xff) << 16) | ((v >>> 16 & 0xff) << 8) | (v >>> 24)) >>>
    0;
}

/** The host's routes (not the default); none when /proc/net/route cannot be read. */
export function hostRoutes(): { iface: string; subnet: Subnet }[] {
  try {
    return parseRoutes(Deno.readTextFileSync("/proc/net/route"));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied) return [];
    throw e;
  }
}

/** The first /24 of 10.86.0.0 onward (then the rest of 10/8) that overlaps none of `used`. Pure. */
export function freeSubnet(used: readonly Subnet[]): Subnet | undefined {
  for (let i = 0; i < 256 * 256; i++) {
    const b = (86 + (i >> 8)) % 256, c = i & 255;
    const s = { base: ((10 << 24) | (b << 16) | (c << 8)) >>> 0, prefix: 24 };
    if (!used.some((u) => overlaps(u, s))) return s;
  }
  return undefined;
}

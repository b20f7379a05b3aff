/**
 * Ethernet frames and DHCP as the switch of a private network sees them
 * (lib/service/switch.ts): the MAC addresses of a frame, whether it is a
 * DHCP client's request (DISCOVER, REQUEST) or a DHCP server's answer, and
 * the OFFER / ACK / NAK the switch answers with. Frames come from guests and
 * are hostile: every length and offset is checked, anything malformed is
 * `undefined`, never an exception. Pure.
 * @module
 */

/** Ethernet header length; the largest frame the switch forwards (jumbo frames allowed). */
export const ETH_HEADER = 14;
export const MAX_FRAME = 65535;

const ETHERTYPE_IPV4 = 0x0800;
const UDP = 17;
const SERVER_PORT = 67;
const CLIENT_PORT = 68;
const COOKIE = 0x63825363;
/** BOOTP's fixed part (op … file), then the magic cookie. */
const BOOTP_FIXED = 236;

/** DHCP message types (option 53). */
export const DHCP = { discover: 1, offer: 2, request: 3, ack: 5, nak: 6 } as const;

/** A MAC address as 12 lower-case hex digits, from 6 bytes at `at`. Pure. */
export function macHex(b: Uint8Array, at: number): string {
  let s = "";
  for (let i = at; i < at + 6; i++) s += (b[i] ?? 0).toString(16).padStart(2, "0");
  return s;
}

/** `52:54:00:12:34:56` as `525400123456`; undefined when not a MAC address. Pure. */
export function macKey(mac: string): string | undefined {
  return /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)
    ? mac.replaceAll(":", "").toLowerCase()
    : undefined;
}

/** 6 bytes of a 12-hex-digit MAC. Pure. */
function macBytes(hex: string): number[] {
  return Array.from({ length: 6 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16) || 0);
}

/** The destination and source MACs of an Ethernet frame, undefined when it is too short or long. */
export function frameMacs(f: Uint8Array): { dst: string; src: string; group: boolean } | undefined {
  if (f.length < ETH_HEADER || f.length > MAX_FRAME) return undefined;
  return { dst: macHex(f, 0), src: macHex(f, 6), group: ((f[0] ?? 0) & 1) === 1 };
}

/** The IPv4 UDP ports and payload of a frame, or undefined (not IPv4 UDP, a fragment, malformed). */
function udpOf(f: Uint8Array): { sport: number; dport: number; payload: Uint8Array } | undefined {
  if (f.length < ETH_HEADER + 20 + 8) return undefined;
  const v = new DataView(f.buffer, f.byteOffset, f.length);
  if (v.getUint16(12) !== ETHERTYPE_IPV4) return undefined;
  const ip = ETH_HEADER;
  const vihl = v.getUint8(ip);
  const ihl = (vihl & 15) * 4;
  if (vihl >> 4 !== 4 || ihl < 20 || v.getUint8(ip + 9) !== UDP) return undefined;
  if ((v.getUint16(ip + 6) & 0x3fff) !== 0) return undefined; // MF or an offset: a fragment
  const total = v.getUint16(ip + 2);
  if (total < ihl + 8 || ip + total > f.length) return undefined;
  const udp = ip + ihl;
  const ulen = v.getUint16(udp + 4);
  if (ulen < 8 || udp + ulen > ip + total) return undefined;
  return {
    sport: v.getUint16(udp),
    dport: v.getUint16(udp + 2),
    payload: f.subarray(udp + 8, udp + ulen),
  };
}

/** Whether a frame is a DHCP server's (UDP from port 67): a guest must not answer DHCP. */
export function isDhcpServerFrame(f: Uint8Array): boolean {
  return udpOf(f)?.sport === SERVER_PORT;
}

/** A DHCP client's message, as the switch needs it. */
export interface DhcpRequest {
  /** Option 53. */
  type: number;
  xid: number;
  flags: number;
  ciaddr: number;
  /** The client's hardware address (12 hex digits). */
  chaddr: string;
  /** Option 50, the address asked for. */
  requested?: number;
  /** Option 54, the server the client chose. */
  serverId?: number;
}

/** The DHCP client message in frame `f` (UDP to port 67), or undefined when it is none. Pure. */
export function parseDhcpRequest(f: Uint8Array): DhcpRequest | undefined {
  const udp = udpOf(f);
  if (udp === undefined || udp.dport !== SERVER_PORT) return undefined;
  const p = udp.payload;
  if (p.length < BOOTP_FIXED + 4) return undefined;
  const v = new DataView(p.buffer, p.byteOffset, p.length);
  if (v.getUint8(0) !== 1 || v.getUint8(1) !== 1 || v.getUint8(2) !== 6) return undefined;
  if (v.getUint32(BOOTP_FIXED) !== COOKIE) return undefined;
  const req: Partial<DhcpRequest> = {
    xid: v.getUint32(4),
    flags: v.getUint16(10),
    ciaddr: v.getUint32(12),
    chaddr: macHex(p, 28),
  };
  let i = BOOTP_FIXED + 4;
  while (i < p.length) {
    const code = p[i] ?? 255;
    if (code === 255) break;
    if (code === 0) {
      i++;
      continue;
    }
    const len = p[i + 1];
    if (len === undefined || i + 2 + len > p.length) return undefined;
    if (code === 53 && len === 1) req.type = p[i + 2];
    if (code === 50 && len === 4) req.requested = v.getUint32(i + 2);
    if (code === 54 && len === 4) req.serverId = v.getUint32(i + 2);
    i += 2 + len;
  }
  return req.type === undefined ? undefined : req as DhcpRequest;
}

/** What the switch answers a DHCP client with. */
export interface DhcpReply {
  type: number;
  /** The request answered. */
  request: DhcpRequest;
  /** The address given (0 for a NAK). */
  yiaddr: number;
  /** The switch's address (option 54) and MAC (12 hex digits). */
  serverIp: number;
  serverMac: string;
  /** The subnet's mask (option 1). */
  mask: number;
}

/** The Internet checksum of `b`. Pure. */
export function ipChecksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
  if (b.length % 2 === 1) sum += (b[b.length - 1] ?? 0) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return (~sum) & 0xffff;
}

/**
 * The Ethernet frame of a DHCP reply: to the client's MAC, IP broadcast
 * (the client has no address yet), UDP 67 → 68; an infinite lease, the
 * subnet mask, no router (the network is private). Pure.
 */
export function buildDhcpReply(r: DhcpReply): Uint8Array {
  const opts: number[] = [53, 1, r.type, 54, 4, ...be32(r.serverIp)];
  if (r.type !== DHCP.nak) opts.push(51, 4, 255, 255, 255, 255, 1, 4, ...be32(r.mask));
  opts.push(255);
  const bootpLen = BOOTP_FIXED + 4 + opts.length;
  const udpLen = 8 + bootpLen, ipLen = 20 + udpLen;
  const f = new Uint8Array(ETH_HEADER + ipLen);
  const v = new DataView(f.buffer);
  f.set(macBytes(r.request.chaddr), 0);
  f.set(macBytes(r.serverMac), 6);
  v.setUint16(12, ETHERTYPE_IPV4);
  const ip = ETH_HEADER;
  v.setUint8(ip, 0x45);
  v.setUint16(ip + 2, ipLen);
  v.setUint8(ip + 8, 64);
  v.setUint8(ip + 9, UDP);
  v.setUint32(ip + 12, r.serverIp);
  v.setUint32(ip + 16, 0xffffffff);
  v.setUint16(ip + 10, ipChecksum(f.subarray(ip, ip + 20)));
  const udp = ip + 20;
  v.setUint16(udp, SERVER_PORT);
  v.setUint16(udp + 2, CLIENT_PORT);
  v.setUint16(udp + 4, udpLen); // checksum 0: none (allowed for UDP over IPv4)
  const b = udp + 8;
  v.setUint8(b, 2);
  v.setUint8(b + 1, 1);
  v.setUint8(b + 2, 6);
  v.setUint32(b + 4, r.request.xid);
  v.setUint16(b + 10, r.request.flags);
  v.setUint32(b + 12, r.request.ciaddr);
  v.setUint32(b + 16, r.yiaddr);
  f.set(macBytes(r.request.chaddr), b + 28);
  v.setUint32(b + BOOTP_FIXED, COOKIE);
  f.set(opts, b + BOOTP_FIXED + 4);
  return f;
}

/** Big-endian bytes of a 32-bit number. Pure. */
function be32(n: number): number[] {
  return [n >>> 24 & 255, n >>> 16 & 255, n >>> 8 & 255, n & 255];
}

/**
 * The answer to a client's message, given the address its MAC is leased
 * (`lease`): DISCOVER → OFFER; REQUEST → ACK when it asks for that address
 * (or none) from this server, NAK when it asks for another; nothing for a
 * REQUEST to another server or other messages. Pure.
 */
export function answerType(req: DhcpRequest, lease: number, serverIp: number): number | undefined {
  if (req.type === DHCP.discover) return DHCP.offer;
  if (req.type !== DHCP.request) return undefined;
  if (req.serverId !== undefined && req.serverId !== serverIp) return undefined;
  const asked = req.requested ?? (req.ciaddr !== 0 ? req.ciaddr : undefined);
  return asked === undefined || asked === lease ? DHCP.ack : DHCP.nak;
}

/**
 * INTERIM parser of a VM's `ports` file, kept tiny on purpose: the
 * cloud-init work owns the format and will ship lib/vm/ports.ts; swap this
 * module for that one (only `parsePorts` and `PortForward` are used). Format:
 * one forward per line, `<proto> <host-addr>:<host-port> <guest-port>`
 * (`tcp 127.0.0.1:2222 22`); blank lines and `#` comments skipped. Pure.
 * Area lib/export, at the level of actions.
 * @module
 */

import { ParseError } from "../errors.ts";

/** One forwarded port: the host's address and port to the guest's port. */
export interface PortForward {
  proto: "tcp" | "udp";
  hostAddr: string;
  hostPort: number;
  guestPort: number;
}

function port(text: string, file: string, line: number): number {
  const n = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 65535)) {
    throw new ParseError(file, line, `"${text}" is not a port (1-65535)`);
  }
  return n;
}

/** Parses the text of a `ports` file; throws ParseError (`ports:<line>`). Pure. */
export function parsePorts(text: string, file = "ports"): PortForward[] {
  const out: PortForward[] = [];
  text.split("\n").forEach((raw, i) => {
    const words = raw.replace(/#.*/, "").trim().split(/\s+/).filter((w) => w !== "");
    if (words.length === 0) return;
    const [proto, host, guest] = words;
    const colon = host?.lastIndexOf(":") ?? -1;
    if (
      words.length !== 3 || (proto !== "tcp" && proto !== "udp") || host === undefined || colon < 1
    ) {
      throw new ParseError(file, i + 1, 'Expected "tcp|udp <host-addr>:<host-port> <guest-port>"');
    }
    out.push({
      proto,
      hostAddr: host.slice(0, colon).replace(/^\[(.*)\]$/, "$1"),
      hostPort: port(host.slice(colon + 1), file, i + 1),
      guestPort: port(guest ?? "", file, i + 1),
    });
  });
  return out;
}

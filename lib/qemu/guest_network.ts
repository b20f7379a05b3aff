/**
 * The guest's network interfaces as its agent reports them
 * (`guest-network-get-interfaces`, for `vm ip`): the reply is checked for
 * the shape qemu-ga gives it, since the agent runs in the guest; a reply of
 * another shape is one line naming the agent, never a TypeError.
 * Level: qemu.
 * @module
 */

import type { GuestAgent } from "./guest_agent.ts";
import { asObject } from "./qmp_message.ts";

/** One address of a guest network interface. */
export interface GuestAddress {
  family: "ipv4" | "ipv6";
  address: string;
  prefix: number;
}

/** A guest network interface as `guest-network-get-interfaces` describes it. */
export interface GuestInterface {
  name: string;
  mac?: string;
  addresses: GuestAddress[];
}

/** One address of a reply, or why it is not one. Pure. */
function parseAddress(value: unknown): GuestAddress | string {
  const a = asObject(value);
  if (a === undefined) return "an address that is not an object";
  const address = a["ip-address"];
  const prefix = a.prefix;
  if (typeof address !== "string") return "an address without an ip-address string";
  if (typeof prefix !== "number" || !Number.isInteger(prefix) || prefix < 0 || prefix > 128) {
    return `address "${address}" without a prefix 0-128`;
  }
  return { family: a["ip-address-type"] === "ipv6" ? "ipv6" : "ipv4", address, prefix };
}

/** One interface of a reply, or why it is not one. Pure. */
function parseInterface(value: unknown): GuestInterface | string {
  const i = asObject(value);
  if (i === undefined) return "an interface that is not an object";
  if (typeof i.name !== "string") return "an interface without a name";
  const raw = i["ip-addresses"] ?? [];
  if (!Array.isArray(raw)) return `interface "${i.name}": ip-addresses is not a list`;
  const addresses: GuestAddress[] = [];
  for (const a of raw) {
    const address = parseAddress(a);
    if (typeof address === "string") return `interface "${i.name}": ${address}`;
    addresses.push(address);
  }
  const out: GuestInterface = { name: i.name, addresses };
  if (typeof i["hardware-address"] === "string") out.mac = i["hardware-address"];
  return out;
}

/**
 * The interfaces of a `guest-network-get-interfaces` reply, or why it is
 * not one (a list of objects with a name and, optionally, addresses with a
 * prefix). Pure.
 */
export function parseInterfaces(reply: unknown): GuestInterface[] | string {
  if (!Array.isArray(reply)) return "not a list of interfaces";
  const out: GuestInterface[] = [];
  for (const value of reply) {
    const i = parseInterface(value);
    if (typeof i === "string") return i;
    out.push(i);
  }
  return out;
}

/**
 * The guest's interfaces (through `guest-network-get-interfaces`). Throws
 * SystemError for a malformed reply.
 */
export async function guestInterfaces(agent: GuestAgent): Promise<GuestInterface[]> {
  const command = "guest-network-get-interfaces";
  const ifs = parseInterfaces(await agent.execute(command));
  if (typeof ifs === "string") throw agent.malformed(command, ifs);
  return ifs;
}

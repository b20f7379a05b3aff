/**
 * `vm ip <vm> [--json]`: the guest's network addresses, as its guest agent
 * reports them (`guest-network-get-interfaces`); the loopback interface is
 * left out. Fails with "no agent" when none answers within 2 s.
 * @module
 */

import { CheckFailedError, UsageError } from "../../lib/errors.ts";
import { netEntry, netOfEntry } from "../../lib/layout.ts";
import { formatIp } from "../../lib/net/subnet.ts";
import { inspectVm } from "../../lib/vm/inspect.ts";
import { type Attachment, findNetwork } from "../../lib/vm/network.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import { GuestAgent } from "../../lib/qemu/guest_agent.ts";
import { type GuestInterface, guestInterfaces } from "../../lib/qemu/guest_network.ts";
import {
  type CommandSpec,
  defineCommand,
  type Invocation,
  type RowOptions,
  VM,
} from "../core/command.ts";
import { print } from "../core/output.ts";
import { optFlag } from "../core/parse.ts";
import { visible } from "../../lib/text/visible.ts";

/** The row of `vm ip`. */
const IP_ROW = {
  name: "ip",
  summary: "list the guest's addresses (private networks' from vm, the rest from its agent)",
  args: [VM],
  options: [{
    name: "json",
    help: "a JSON array of {name, mac, addresses: [{family, address, prefix}]}",
  }],
  help: [
    "asks the guest agent (template guest-agent, qemu-guest-agent in the guest);",
    "loopback is left out; NICs on private networks (@NETWORK) are shown first, with the",
    "address vm gives them by DHCP, without the agent",
    'exit: 0 ok, 1 no agent answers within 2 s ("no agent") and no private network, 100 usage',
  ],
} as const satisfies CommandSpec;

/**
 * The table `vm ip` prints: one line per interface, its addresses with prefix lengths; the
 * guest's text with its control characters made visible. Pure.
 */
export function formatInterfaces(ifs: readonly GuestInterface[]): string {
  return ifs.map((i) =>
    [i.name, ...i.addresses.map((a) => `${a.address}/${a.prefix}`)].map(visible).join(" ")
  ).join("\n");
}

/** Interfaces other than loopback. Pure. */
function withoutLoopback(ifs: readonly GuestInterface[]): GuestInterface[] {
  return ifs.filter((i) =>
    i.name !== "lo" && !i.addresses.every((a) => /^(127\.|::1$)/.test(a.address))
  );
}

/**
 * The VM's NICs on private networks, named `@NETWORK`, with the address each
 * gets by DHCP (its `networks` file: no agent needed). Pure.
 */
export function networkInterfaces(list: readonly Attachment[]): GuestInterface[] {
  return list.flatMap((a) =>
    a.kind === "net"
      ? [{
        name: netEntry(a.network),
        mac: a.mac,
        addresses: [{ family: "ipv4" as const, address: formatIp(a.ip), prefix: 0 }],
      }]
      : []
  );
}

/** The guest agent's interfaces, or undefined when none answers and `nets` say enough. */
async function agentInterfaces(
  dir: string,
  name: string,
  nets: readonly GuestInterface[],
): Promise<GuestInterface[] | undefined> {
  let agent: GuestAgent;
  try {
    agent = await GuestAgent.connect(dir, name);
  } catch (e) {
    if (nets.length > 0 && e instanceof CheckFailedError) return undefined;
    throw e;
  }
  try {
    return withoutLoopback(await guestInterfaces(agent));
  } finally {
    agent.close();
  }
}

/** Prints the addresses; exit 0, 1 when no agent answers (and the VM is on no network). */
async function run(inv: Invocation<RowOptions<typeof IP_ROW>>): Promise<number> {
  const name = inv.args[0];
  if (name === undefined || inv.args.length > 1) throw new UsageError(`Usage: vm ip <vm> [--json]`);
  const cfg = loadConfig();
  const dir = requireVm(cfg.vmdir, name);
  const vm = inspectVm(cfg.vmdir, name);
  const nets = networkInterfaces(vm.attachments).map((i) => {
    const net = findNetwork(cfg.vmdir, netOfEntry(i.name) ?? "");
    const prefix = net?.subnet.prefix ?? 32;
    return { ...i, addresses: i.addresses.map((a) => ({ ...a, prefix })) };
  });
  const guest = await agentInterfaces(dir, name, nets);
  const ifs = [...nets, ...guest ?? []];
  print(optFlag(inv, "json") ? JSON.stringify(ifs, null, 2) : formatInterfaces(ifs));
  return 0;
}

/** `vm ip`. */
export const ip = defineCommand(IP_ROW, { run });

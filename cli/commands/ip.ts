/**
 * `vm ip <vm> [--json]`: the guest's network addresses, as its guest agent
 * reports them (`guest-network-get-interfaces`); the loopback interface is
 * left out. Fails with "no agent" when none answers within 2 s.
 * @module
 */

import { UsageError } from "../../lib/errors.ts";
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
  summary: "list the guest's addresses (from its guest agent)",
  args: [VM],
  options: [{
    name: "json",
    help: "a JSON array of {name, mac, addresses: [{family, address, prefix}]}",
  }],
  help: [
    "asks the guest agent (template guest-agent, qemu-guest-agent in the guest);",
    "loopback is left out",
    'exit: 0 ok, 1 no agent answers within 2 s ("no agent"), 100 usage',
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

/** Prints the addresses; exit 0, 1 when no agent answers. */
async function run(inv: Invocation<RowOptions<typeof IP_ROW>>): Promise<number> {
  const name = inv.args[0];
  if (name === undefined || inv.args.length > 1) throw new UsageError(`Usage: vm ip <vm> [--json]`);
  const dir = requireVm(loadConfig().vmdir, name);
  const agent = await GuestAgent.connect(dir, name);
  try {
    const ifs = withoutLoopback(await guestInterfaces(agent));
    print(optFlag(inv, "json") ? JSON.stringify(ifs, null, 2) : formatInterfaces(ifs));
  } finally {
    agent.close();
  }
  return 0;
}

/** `vm ip`. */
export const ip = defineCommand(IP_ROW, { run });

/**
 * `vm port <vm> list|add|rm`: the VM's port forwards (its `ports` file).
 *   list                                   one forward per line
 *   add [tcp|udp] [ADDR:]HOSTPORT GUESTPORT   host ADDR defaults to 127.0.0.1
 *   rm [tcp|udp] HOSTPORT
 * On a running VM add and rm apply at once through QEMU's monitor; a VM
 * without network templates gets `net-user-fwd` (lib/actions/port_edit.ts).
 * @module
 */

import { UsageError } from "../../lib/errors.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import { formatRule, parseRuleWords, readPorts } from "../../lib/vm/ports.ts";
import { addPort, removePort } from "../../lib/actions/port_edit.ts";
import {
  type CommandSpec,
  defineCommand,
  type Invocation,
  type RowOptions,
  VM,
} from "../core/command.ts";
import { print } from "../core/output.ts";

/** The row of `vm port`. */
const PORT_ROW = {
  name: "port",
  summary: "list, add or remove port forwards (the ports file; live on a running VM)",
  args: [
    VM,
    { name: "list|add|rm", kind: ["list", "add", "rm"], optional: true },
    { name: "<rule>", kind: "none", optional: true, repeat: true },
  ],
  help: [
    "vm port web list",
    "vm port web add [tcp|udp] [ADDR:]HOSTPORT GUESTPORT   (ADDR 127.0.0.1 unless given)",
    "vm port web rm [tcp|udp] HOSTPORT",
    "on a running VM add and rm apply at once through QEMU's monitor (hostfwd_add/remove);",
    "moving the SSH forward (guest port 22) rewrites the VM's known_hosts; a VM without",
    "network templates gets net-user-fwd (QEMU's default NIC, with the forwards) from its",
    "next start; one whose own network does not take them ($VM_HOSTFWD) is refused",
    "exit: 0 ok, 1 the host port is taken (its process named) or QEMU refused, 100 usage",
  ],
} as const satisfies CommandSpec;

const USAGE = "vm port <vm> list | add [tcp|udp] [ADDR:]HOSTPORT GUESTPORT | rm [tcp|udp] HOSTPORT";

/** The protocol and host port of `rm`'s words. Pure. Throws UsageError. */
function parseRm(words: readonly string[]): { proto?: "tcp" | "udp"; hostPort: number } {
  const w = [...words];
  const proto = w[0] === "tcp" || w[0] === "udp" ? w.shift() as "tcp" | "udp" : undefined;
  const port = (w[0] ?? "").replace(/^.*:/, "");
  if (w.length !== 1 || !/^[0-9]{1,5}$/.test(port)) throw new UsageError(`Usage: ${USAGE}`);
  return proto === undefined ? { hostPort: Number(port) } : { proto, hostPort: Number(port) };
}

/** Runs `vm port`. */
async function run(inv: Invocation<RowOptions<typeof PORT_ROW>>): Promise<number> {
  const [name, action, ...words] = inv.args;
  if (name === undefined) throw new UsageError(`Usage: ${USAGE}`);
  const cfg = loadConfig();
  const dir = requireVm(cfg.vmdir, name);
  const when = (live: boolean) => (live ? "now and at every start" : "from the next start");
  switch (action ?? "list") {
    case "list":
      if (words.length > 0) throw new UsageError(`Usage: ${USAGE}`);
      for (const r of readPorts(dir)) print(formatRule(r));
      return 0;
    case "add": {
      const rule = parseRuleWords(words);
      if (typeof rule === "string") throw new UsageError(`${rule}; usage: ${USAGE}`);
      const c = await addPort(cfg.vmdir, name, dir, rule);
      const added = c.templateAdded === undefined ? "" : ` (template "${c.templateAdded}" ` +
        "added: QEMU's default NIC, now with the forwards of the ports file)";
      print(`${name}: forwarding ${formatRule(c.rule)} ${when(c.live)}${added}`);
      return 0;
    }
    case "rm": {
      const { proto, hostPort } = parseRm(words);
      const c = await removePort(name, dir, hostPort, proto);
      print(`${name}: removed ${formatRule(c.rule)}${c.live ? " (also from the running VM)" : ""}`);
      return 0;
    }
    default:
      throw new UsageError(`Unknown action "${action}"; usage: ${USAGE}`);
  }
}

/** `vm port`. */
export const port = defineCommand(PORT_ROW, { run });

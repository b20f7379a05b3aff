/**
 * `vm net create|list|rm|attach|detach`: private networks between VMs
 * (no root needed: a switch of vm's own, `vm __switch`, supervised by vmd as
 * the runit service `$VMDIR/@NAME`) and NICs on host bridges
 * (lib/actions/net.ts).
 * @module
 */

import { UsageError } from "../../lib/errors.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { formatIp, formatSubnet } from "../../lib/net/subnet.ts";
import {
  attach,
  attachmentText,
  createNetwork,
  detach,
  networkInfos,
  removeNetwork,
} from "../../lib/actions/net.ts";
import { networkTable } from "../core/net_table.ts";
import {
  type CommandSpec,
  defineCommand,
  defineGroup,
  type Invocation,
  type RowOptions,
  VM,
} from "../core/command.ts";
import { print } from "../core/output.ts";
import { exclusive, optFlag, optString } from "../core/parse.ts";

const NETWORK = { name: "<network>", kind: "none" } as const;

/** The row of `vm net`. */
const NET_ROW = {
  name: "net",
  summary: "private networks between VMs (stable addresses by DHCP, no root) and bridges",
  args: [],
  help: [
    "A network is the runit service $VMDIR/@NAME: vmd runs its switch and DHCP server",
    "(vm __switch) and restarts it if it dies; a VM attached gets one more NIC (virtio,",
    "a MAC that stays) and always the same address by DHCP. Changes to a VM apply from",
    "its next start.",
  ],
} as const satisfies CommandSpec;

const CREATE_ROW = {
  name: "create",
  summary: "makes a network (default: a free /24 in 10.0.0.0/8)",
  args: [NETWORK],
  options: [{
    name: "subnet",
    value: "CIDR",
    help: "its subnet, e.g. 10.20.30.0/24 (/8 to /29; not overlapping another network\n" +
      "or a route of the host); .1 is the network's own, guests get the others",
  }],
  help: ["exit: 0 made, 100 a bad name or subnet, an overlap, a network of that name"],
} as const satisfies CommandSpec;

const LIST_ROW = {
  name: "list",
  summary: "the networks, their switches, their VMs and addresses",
  args: [],
  options: [{ name: "json", help: "a JSON array instead of the table" }],
} as const satisfies CommandSpec;

const RM_ROW = {
  name: "rm",
  summary: "removes a network (refused while a VM is attached to it)",
  args: [NETWORK],
  help: ["exit: 0 removed, 1 VMs are attached (named), 100 no such network"],
} as const satisfies CommandSpec;

const ATTACH_ROW = {
  name: "attach",
  summary: "gives a VM a NIC on a network (--ip: its address) or a host bridge (--bridge)",
  args: [VM, { name: "<network>", kind: "none", optional: true }],
  options: [
    {
      name: "ip",
      value: "ADDR",
      help: "the VM's address on the network (default: kept, or a free one)",
    },
    {
      name: "bridge",
      value: "BR",
      help: "a NIC on host bridge BR instead (QEMU's bridge helper: BR allowed in\n" +
        "/etc/qemu/bridge.conf; the helper setuid root for users other than root)",
    },
  ],
  help: [
    "the VM keeps its user-mode NIC (internet, port forwards, vm ssh): a VM on QEMU's default",
    "NIC gets the net-user-fwd template (the same card); attaching again changes --ip",
    "exit: 0 ok, 1 the network is full, 100 bad input (an address outside the subnet or",
    "taken), 111 no such bridge, or the bridge helper may not use it (what to configure said)",
  ],
} as const satisfies CommandSpec;

const DETACH_ROW = {
  name: "detach",
  summary: "removes a VM's NIC on a network or bridge",
  args: [VM, { name: "<network|bridge>", kind: "none" }],
} as const satisfies CommandSpec;

async function createCmd(inv: Invocation<RowOptions<typeof CREATE_ROW>>): Promise<number> {
  const name = inv.args[0] ?? "";
  const r = await createNetwork(loadConfig().vmdir, name, optString(inv, "subnet"));
  const sw = r.vmdRunning
    ? "vmd starts its switch within 5 s"
    : "its switch starts with vmd (vm daemon)";
  print(`Network "${name}": ${formatSubnet(r.net.subnet)}; ${sw}`);
  return 0;
}

function listCmd(inv: Invocation<RowOptions<typeof LIST_ROW>>): number {
  const infos = networkInfos(loadConfig().vmdir);
  if (optFlag(inv, "json")) {
    print(JSON.stringify(
      infos.map((n) => ({
        name: n.name,
        subnet: formatSubnet(n.subnet),
        switch: n.running ? "run" : "down",
        vms: n.members.map((m) => ({ vm: m.vm, mac: m.mac, ip: formatIp(m.ip) })),
      })),
      null,
      2,
    ));
    return 0;
  }
  print(infos.length === 0 ? "No networks (vm net create NAME)" : networkTable(infos));
  return 0;
}

async function rmCmd(inv: Invocation<RowOptions<typeof RM_ROW>>): Promise<number> {
  const name = inv.args[0] ?? "";
  await removeNetwork(loadConfig().vmdir, name);
  print(`Network "${name}" removed`);
  return 0;
}

async function attachCmd(inv: Invocation<RowOptions<typeof ATTACH_ROW>>): Promise<number> {
  const [vm = "", network] = inv.args;
  const bridge = optString(inv, "bridge");
  exclusive(inv, "bridge", "ip");
  if ((bridge === undefined) === (network === undefined)) {
    throw new UsageError(
      "Give a network or --bridge BR: vm net attach <vm> <network> [--ip ADDR] | " +
        "vm net attach <vm> --bridge BR",
    );
  }
  const ip = optString(inv, "ip");
  const target = bridge !== undefined
    ? { bridge }
    : ip !== undefined
    ? { network: network ?? "", ip }
    : { network: network ?? "" };
  const r = await attach(loadConfig().vmdir, vm, target);
  const added = r.templateAdded === undefined
    ? ""
    : `; template "${r.templateAdded}" added (its user-mode NIC stays)`;
  print(`${vm}: ${attachmentText(r.attachment)} from its next start${added}`);
  return 0;
}

async function detachCmd(inv: Invocation<RowOptions<typeof DETACH_ROW>>): Promise<number> {
  const [vm = "", name = ""] = inv.args;
  const gone = await detach(loadConfig().vmdir, vm, name);
  print(`${vm}: ${attachmentText(gone)} removed from its next start`);
  return 0;
}

/** `vm net create|list|rm|attach|detach`. */
export const net = defineGroup(NET_ROW, [
  defineCommand(CREATE_ROW, { run: createCmd }),
  defineCommand(LIST_ROW, { run: listCmd }),
  defineCommand(RM_ROW, { run: rmCmd }),
  defineCommand(ATTACH_ROW, { run: attachCmd }),
  defineCommand(DETACH_ROW, { run: detachCmd }),
]);

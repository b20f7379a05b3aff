/**
 * `vm doctor`'s look at private networks and attachments (lib/actions/net.ts).
 * Reads `$VMDIR/@*`, every `<vm>/networks`, /sys/class/net, bridge.conf.
 * @module
 */

import { join } from "../os/path.ts";
import { DEFAULT_VM, NET } from "../layout.ts";
import { exists } from "../os/fs.ts";
import { findRunsvdir } from "../qemu/processes.ts";
import { formatIp } from "../net/subnet.ts";
import { bridgeProblem, isBridge } from "../net/bridge.ts";
import { allAttachments, listNetworks, membersOf } from "../vm/network.ts";
import { switchRunning } from "./net.ts";

/**
 * What `vm doctor` finds wrong with networks and attachments, one line each:
 * a switch not running under a running vmd, `.default`'s run script of
 * networks missing, a `networks` file that does not parse, an attachment to
 * a network that does not exist, an address two VMs have, a bridge missing
 * or not allowed to QEMU's bridge helper (for `uid`).
 */
export function networkProblems(vmdir: string, uid: number): string[] {
  const out: string[] = [];
  const nets = listNetworks(vmdir);
  const { byVm, bad } = allAttachments(vmdir);
  const vmd = findRunsvdir(vmdir).length > 0;
  if (nets.length > 0 && !exists(join(vmdir, DEFAULT_VM, NET.run))) {
    out.push(
      `"${join(vmdir, DEFAULT_VM, NET.run)}" is missing, so no network's switch can run; ` +
        `fix: run ./install.sh of this vm again`,
    );
  }
  for (const net of nets) {
    if (vmd && !switchRunning(net.dir)) {
      out.push(
        `Network "${net.name}": its switch (vm __switch) is not running under vmd; ` +
          `fix: see vmd's log, then sv up "${net.dir}"`,
      );
    }
    const seen = new Map<number, string>();
    for (const m of membersOf(byVm, net.name)) {
      const other = seen.get(m.ip);
      if (other !== undefined) {
        out.push(
          `Network "${net.name}": VMs "${other}" and "${m.vm}" both have ${formatIp(m.ip)}; ` +
            `fix: vm net attach ${m.vm} ${net.name} --ip <another address>`,
        );
      }
      seen.set(m.ip, m.vm);
    }
  }
  for (const b of bad) out.push(`VM "${b.vm}": ${(b.error as Error).message}; fix: edit that line`);
  const names = new Set(nets.map((n) => n.name));
  for (const [vm, list] of byVm) {
    for (const a of list) {
      if (a.kind === "net" && !names.has(a.network)) {
        out.push(
          `VM "${vm}" is attached to network "${a.network}", which does not exist; ` +
            `fix: vm net create ${a.network} (or vm net detach ${vm} ${a.network})`,
        );
      }
      if (a.kind === "bridge") {
        const problem = isBridge(a.bridge)
          ? bridgeProblem(a.bridge, uid)
          : `no bridge "${a.bridge}" on this host`;
        if (problem !== undefined) out.push(`VM "${vm}" (bridge "${a.bridge}"): ${problem}`);
      }
    }
  }
  return out;
}

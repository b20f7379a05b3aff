/**
 * `vm ssh-config [<vm>…]`: `Host` blocks for `~/.ssh/config` (through
 * `Include`), so `ssh web`, `scp`, `rsync` and editors reach the VMs with
 * vm's key and each VM's pinned host key. Without names: every VM that
 * has SSH set up.
 * @module
 */

import { loadConfig } from "../../lib/vm/config.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import { join } from "../../lib/os/path.ts";
import { sshConfigBlock, sshTarget, sshVms } from "../../lib/ssh/ssh_args.ts";
import type { Invocation } from "../core/command.ts";
import { print } from "../core/output.ts";

/** Prints the blocks; exit 0. */
export function run(inv: Invocation): number {
  const cfg = loadConfig();
  const blocks: string[] = [];
  if (inv.args.length > 0) {
    for (const name of inv.args) {
      blocks.push(sshConfigBlock(sshTarget(cfg.vmdir, name, requireVm(cfg.vmdir, name))));
    }
  } else {
    for (const name of sshVms(cfg.vmdir)) {
      blocks.push(sshConfigBlock(sshTarget(cfg.vmdir, name, join(cfg.vmdir, name))));
    }
  }
  print(`# vm ssh-config: Include this file from ~/.ssh/config (VMDIR ${cfg.vmdir})\n`);
  print(blocks.join("\n").trimEnd());
  return 0;
}

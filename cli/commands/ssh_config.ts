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
import {
  type CommandSpec,
  defineCommand,
  type Invocation,
  type RowOptions,
  SSH_VM,
} from "../core/command.ts";
import { print } from "../core/output.ts";

/** The row of `vm ssh-config`. */
const SSH_CONFIG_ROW = {
  name: "ssh-config",
  summary: "print Host blocks for ~/.ssh/config (ssh web, scp, rsync, editors)",
  args: [{ ...SSH_VM, optional: true, repeat: true }],
  help: [
    "without VMs: every VM with SSH set up. Use it through Include:",
    "  vm ssh-config > ~/.ssh/vm.config; echo 'Include vm.config' >> ~/.ssh/config",
    "(Include must come before the first Host line of ~/.ssh/config)",
    "exit: 0 ok, 100 a named VM does not exist or has no SSH set up",
  ],
} as const satisfies CommandSpec;

/** Prints the blocks; exit 0. */
function run(inv: Invocation<RowOptions<typeof SSH_CONFIG_ROW>>): number {
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

/** `vm ssh-config`. */
export const sshConfig = defineCommand(SSH_CONFIG_ROW, { run });

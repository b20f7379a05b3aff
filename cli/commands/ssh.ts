/**
 * `vm ssh <vm> [-- cmd…]`: becomes `ssh` to the VM's forwarded SSH port as
 * its user, with vm's key and the VM's own known_hosts
 * (StrictHostKeyChecking=yes): a guest whose host key changed is refused.
 * The exit code is ssh's.
 * @module
 */

import { CheckFailedError, UsageError } from "../../lib/errors.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import { running } from "../../lib/qemu/processes.ts";
import { sshArgv, sshTarget } from "../../lib/ssh/ssh_args.ts";
import {
  type CommandSpec,
  defineCommand,
  type Invocation,
  type RowOptions,
  SSH_VM,
} from "../core/command.ts";
import { execProgram } from "../core/external.ts";

/** The row of `vm ssh`. */
const SSH_ROW = {
  name: "ssh",
  summary: "log in to the VM with SSH (its host key pinned), or run a command there",
  args: [SSH_VM, { name: "<cmd>", kind: "none", optional: true, repeat: true }],
  passThrough: true,
  help: [
    "vm ssh web            a login shell",
    "vm ssh web -- ls -la  a command (its words are joined by ssh, as with ssh itself)",
    "runs ssh -p <port from ports> with vm's key ($VMDIR/.default/ssh/id_ed25519), as the",
    "VM's user (ssh/user), StrictHostKeyChecking=yes and the VM's ssh/known_hosts: a guest",
    "whose host key changed is refused. For VMs made with --image.",
    "exit: ssh's (255: ssh failed), 1 the VM is not running, 100 usage or no SSH set up",
  ],
} as const satisfies CommandSpec;

/** The remote command of `vm ssh`'s arguments after the VM (a leading `--` dropped). Pure. */
export function remoteCommand(rest: readonly string[]): string[] {
  return rest[0] === "--" ? rest.slice(1) : [...rest];
}

/** Runs `vm ssh`: replaces this process with ssh (returns only by throwing). */
function run(inv: Invocation<RowOptions<typeof SSH_ROW>>): Promise<number> {
  const [name, ...rest] = inv.args;
  if (name === undefined) throw new UsageError(`"vm ssh" needs a VM: vm ssh <vm> [-- cmd...]`);
  const cfg = loadConfig();
  const dir = requireVm(cfg.vmdir, name);
  const target = sshTarget(cfg.vmdir, name, dir);
  if (running(dir) === undefined) {
    throw new CheckFailedError(
      `VM "${name}" is not running; start it with "vm start ${name} --ssh"`,
    );
  }
  execProgram(sshArgv(target, remoteCommand(rest)), "openssh-client");
}

/** `vm ssh`. */
export const ssh = defineCommand(SSH_ROW, { run });

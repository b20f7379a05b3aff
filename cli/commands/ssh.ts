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
import type { Invocation } from "../core/command.ts";
import { execProgram } from "../core/external.ts";

/** The remote command of `vm ssh`'s arguments after the VM (a leading `--` dropped). Pure. */
export function remoteCommand(rest: readonly string[]): string[] {
  return rest[0] === "--" ? rest.slice(1) : [...rest];
}

/** Runs `vm ssh`: replaces this process with ssh (returns only by throwing). */
export function run(inv: Invocation): Promise<number> {
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

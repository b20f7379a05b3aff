/**
 * `vm exec <vm> -- cmd…`: runs a command in the guest through its guest
 * agent (as root; no network needed), prints its output as it comes and
 * exits with its exit code (128 + N when signal N ended it).
 * @module
 */

import { UsageError } from "../../lib/errors.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import { GuestAgent } from "../../lib/qemu/guest_agent.ts";
import { guestExec } from "../../lib/qemu/guest_exec.ts";
import type { Invocation } from "../core/command.ts";
import { writeBytes } from "../core/output.ts";
import { remoteCommand } from "./ssh.ts";

/** Runs the command; returns its exit code. */
export async function run(inv: Invocation): Promise<number> {
  const [name, ...rest] = inv.args;
  const argv = remoteCommand(rest);
  if (name === undefined || argv.length === 0) {
    throw new UsageError(`"vm exec" needs a VM and a command: vm exec <vm> -- cmd [args...]`);
  }
  const dir = requireVm(loadConfig().vmdir, name);
  const agent = await GuestAgent.connect(dir, name);
  try {
    const r = await guestExec(agent, argv, {
      onStdout: (b) => writeBytes("stdout", b),
      onStderr: (b) => writeBytes("stderr", b),
    });
    return r.signal !== undefined ? 128 + r.signal : r.exitCode ?? 0;
  } finally {
    agent.close();
  }
}

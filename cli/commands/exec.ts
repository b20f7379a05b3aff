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
import {
  type CommandSpec,
  defineCommand,
  type Invocation,
  type RowOptions,
  VM,
} from "../core/command.ts";
import { writeBytes } from "../core/output.ts";
import { remoteCommand } from "./ssh.ts";

/** The row of `vm exec`. */
const EXEC_ROW = {
  name: "exec",
  summary: "run a command in the guest through its agent (no network needed)",
  args: [VM, { name: "<cmd>", kind: "none", repeat: true }],
  passThrough: true,
  help: [
    "vm exec web -- id -un     runs as root; output is printed as it comes",
    "(the command's output goes through files in the guest's /tmp, removed afterwards)",
    "exit: the command's (128+N for signal N), 1 no agent answers, 100 usage",
  ],
} as const satisfies CommandSpec;

/** Runs the command; returns its exit code. */
async function run(inv: Invocation<RowOptions<typeof EXEC_ROW>>): Promise<number> {
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

/** `vm exec`. */
export const exec = defineCommand(EXEC_ROW, { run });

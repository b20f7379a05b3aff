/**
 * `vm cp [-r] SRC… DST`: copies between the host and one VM with scp
 * (`vm cp web:/etc/hostname .`, `vm cp ./f web:/tmp/`); `<vm>:` operands
 * name paths in the guest. Same key and pinned host key as `vm ssh`; the
 * exit code is scp's.
 * @module
 */

import { CheckFailedError } from "../../lib/errors.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { listVms, requireVm } from "../../lib/vm/dir.ts";
import { running } from "../../lib/qemu/processes.ts";
import { cpVm, cpVmNamed, parseCpOperand, scpArgv, sshTarget } from "../../lib/ssh/ssh_args.ts";
import { exists } from "../../lib/os/fs.ts";
import {
  type CommandSpec,
  defineCommand,
  type Invocation,
  type RowOptions,
} from "../core/command.ts";
import { optFlag } from "../core/parse.ts";
import { execProgram } from "../core/external.ts";

/** The row of `vm cp`. */
const CP_ROW = {
  name: "cp",
  summary: "copy files between this host and a VM with scp",
  args: [{ name: "<src>", kind: "file" }, { name: "<dst>", kind: "file", repeat: true }],
  options: [{ name: "recursive", short: "r", help: "copy directories" }],
  help: [
    "operands <vm>:<path> are in the guest: vm cp web:/etc/hostname .   vm cp ./f web:/tmp/",
    "one VM per copy; same key and pinned host key as vm ssh",
    "exit: scp's, 1 the VM is not running, 100 usage",
  ],
} as const satisfies CommandSpec;

/** Runs `vm cp`: replaces this process with scp (returns only by throwing). */
function run(inv: Invocation<RowOptions<typeof CP_ROW>>): Promise<number> {
  const cfg = loadConfig();
  const ops = inv.args.map((w) => parseCpOperand(w, listVms(cfg.vmdir)));
  for (const o of ops) {
    if (!("local" in o)) continue;
    // `nosuchvm:/tmp/`: no VM of that name, and no local file either.
    const named = cpVmNamed(o.local);
    if (named !== undefined && !exists(o.local)) requireVm(cfg.vmdir, named);
  }
  const name = cpVm(ops);
  const dir = requireVm(cfg.vmdir, name);
  const target = sshTarget(cfg.vmdir, name, dir);
  if (running(dir) === undefined) {
    throw new CheckFailedError(
      `VM "${name}" is not running; start it with "vm start ${name} --ssh"`,
    );
  }
  execProgram(scpArgv(target, ops, optFlag(inv, "recursive")), "openssh-client");
}

/** `vm cp`. */
export const cp = defineCommand(CP_ROW, { run });

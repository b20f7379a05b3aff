/**
 * `vm doctor [--fix]`: every problem lib/actions/doctor.ts finds in VMDIR,
 * and those of the disk images (lib/actions/doctor_disks.ts), one line each
 * on stdout; exit 1 when any is left, 0 when none. `--fix` removes the
 * leftovers of interrupted operations whose owner is gone.
 * @module
 */

import { EXIT_CHECK } from "../../lib/errors.ts";
import { doctor } from "../../lib/actions/doctor.ts";
import { diskProblems } from "../../lib/actions/doctor_disks.ts";
import { formatBytes } from "../../lib/text/units.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { leftoverCommand } from "../../lib/images/leftovers.ts";
import { type CommandSpec, defineCommand } from "../core/command.ts";
import { print } from "../core/output.ts";
import { optFlag } from "../core/parse.ts";

/** The row of `vm doctor`. */
const DOCTOR_ROW = {
  name: "doctor",
  summary: "list every problem in VMDIR (set-up, vmd, unsafe files, orphan QEMU, leftovers)",
  args: [],
  options: [{
    name: "fix",
    help: "remove what interrupted make, destroy, clone or import left behind\n" +
      "(.make-*, .destroy-*, .clone-*, .import-*) when their process is gone",
  }],
  help: [
    "one line per problem, naming the file and the command that fixes it: VMDIR or .default",
    "missing (VMDIR=… ./install.sh sets them up), no vmd supervising VMDIR, VMDIR, .default",
    "or a VM's files writable by group or others or owned by another user (vm refuses to",
    "start such a VM), symlinks out of a VM's directory, an unusable wait file, a QEMU",
    "whose runsv was killed, an svlogd left by one, and leftovers of interrupted operations",
    "exit: 0 no problem, 1 any",
  ],
} as const satisfies CommandSpec;

/** `vm doctor`. */
export const doctorCommand = defineCommand(DOCTOR_ROW, {
  async run(inv) {
    const cfg = loadConfig();
    const vmdir = cfg.vmdir;
    const r = doctor(vmdir, optFlag(inv, "fix"));
    r.problems.push(...await diskProblems(cfg));
    for (const l of r.removed) {
      const also = l.outside === undefined ? "" : ` and "${l.outside}"`;
      print(`Removed "${l.path}"${also} (${formatBytes(l.bytes)})`);
    }
    for (const l of r.inProgress) {
      print(`In progress, left alone: "${l.path}" ("${leftoverCommand(l)}", PID ${l.pid})`);
    }
    for (const line of r.problems) print(line);
    if (r.problems.length > 0) return EXIT_CHECK;
    print(`No problems in "${vmdir}"`);
    return 0;
  },
});

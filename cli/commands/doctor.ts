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
import { leftoverCommand } from "../../lib/vm/leftovers.ts";
import type { CommandModule } from "../core/command.ts";
import { print } from "../core/output.ts";
import { optFlag } from "../core/parse.ts";

/** `vm doctor`. */
export const doctorCommand: CommandModule = {
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
};

/**
 * `vm doctor [--fix]`: every problem lib/actions/doctor.ts finds in VMDIR,
 * one line each on stdout; exit 1 when any is left, 0 when none. `--fix`
 * removes the leftovers of interrupted operations whose owner is gone.
 * @module
 */

import { EXIT_CHECK } from "../lib/errors.ts";
import { doctor } from "../lib/actions/doctor.ts";
import { formatBytes } from "../lib/text/units.ts";
import { loadConfig } from "../lib/vm/config.ts";
import type { CommandModule } from "./command.ts";
import { print } from "./output.ts";
import { optFlag } from "./parse.ts";

/** `vm doctor`. */
export const doctorCommand: CommandModule = {
  run(inv) {
    const { vmdir } = loadConfig();
    const r = doctor(vmdir, optFlag(inv, "fix"));
    for (const l of r.removed) print(`Removed "${l.path}" (${formatBytes(l.bytes)})`);
    for (const l of r.inProgress) {
      print(`In progress, left alone: "${l.path}" ("vm ${l.op} ${l.vm}", PID ${l.pid})`);
    }
    for (const line of r.problems) print(line);
    if (r.problems.length > 0) return EXIT_CHECK;
    print(`No problems in "${vmdir}"`);
    return 0;
  },
};

/**
 * runit's `run`: `vm __run <dir>` becomes QEMU (lib/service/run.ts).
 * @module
 */

import { EXIT_SYSTEM } from "../../lib/errors.ts";
import { resolve } from "../../lib/os/path.ts";
import { runVm } from "../../lib/service/run.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import type { CommandModule } from "../core/command.ts";
import { entry } from "./runit_entry.ts";

/** `vm __run <dir>`: becomes QEMU (returns only on failure). */
export const run: CommandModule = {
  run(inv) {
    const dir = resolve(inv.args[0] ?? ".");
    return entry(EXIT_SYSTEM, dir, (say) => runVm(loadConfig(), dir, say));
  },
};

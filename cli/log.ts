/**
 * `vm log <vm> [-f] [-n N]`: the VM's svlogd log, followed across rotations
 * (lib/vm/log.ts).
 * @module
 */

import { parseLineCount } from "../lib/text/units.ts";
import { loadConfig } from "../lib/vm/config.ts";
import { requireVm } from "../lib/vm/dir.ts";
import { DEFAULT_LINES, followLog, logFile } from "../lib/vm/log.ts";
import type { CommandModule } from "./command.ts";
import { optFlag, optString } from "./parse.ts";

/** `vm log`. */
export const log: CommandModule = {
  async run(inv) {
    const name = inv.args[0] ?? "";
    const lines = optString(inv, "lines");
    const n = lines === undefined ? DEFAULT_LINES : parseLineCount(lines);
    const dir = requireVm(loadConfig().vmdir, name);
    await followLog(name, logFile(name, dir), n, optFlag(inv, "follow"), Deno.stdout);
    return 0;
  },
};

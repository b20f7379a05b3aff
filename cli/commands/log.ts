/**
 * `vm log <vm> [-f] [-n N]`: the VM's svlogd log, followed across rotations
 * (lib/vm/log.ts), its control characters (the guest's serial output)
 * made visible (lib/text/visible.ts).
 * @module
 */

import { parseLineCount } from "../../lib/text/units.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import { DEFAULT_LINES, followLog, logFile } from "../../lib/vm/log.ts";
import { type CommandSpec, defineCommand, VM } from "../core/command.ts";
import { optFlag, optString } from "../core/parse.ts";
import { writeAll, type Writer } from "../../lib/os/io.ts";
import { VisibleStream } from "../../lib/text/visible.ts";

/** The row of `vm log`. */
const LOG_ROW = {
  name: "log",
  summary: "show the VM's log (log/main/current); -f follows it",
  args: [VM],
  options: [
    {
      name: "follow",
      short: "f",
      help: "keep printing what is appended (across svlogd's rotations)",
    },
    {
      name: "lines",
      short: "n",
      value: "N",
      help: "print the last N lines first (default 10)",
    },
  ],
  help: [
    "Control characters of the guest's serial output are shown escaped (ESC as \\x1b), never",
    "sent to the terminal as they are; the raw bytes are in log/main/current.",
    "exit: 0 ok, 1 the VM does not log (make VMs with vm make --log) or has no log yet,",
    "100 usage",
  ],
} as const satisfies CommandSpec;

/** stdout, written with control characters made visible; `end` writes what was held back. */
function visibleStdout(): Writer & { end(): Promise<void> } {
  const stream = new VisibleStream();
  return {
    async write(p: Uint8Array) {
      await writeAll(Deno.stdout, stream.push(p));
      return p.length;
    },
    end: () => writeAll(Deno.stdout, stream.flush()),
  };
}

/** `vm log`. */
export const log = defineCommand(LOG_ROW, {
  async run(inv) {
    const name = inv.args[0] ?? "";
    const lines = optString(inv, "lines");
    const n = lines === undefined ? DEFAULT_LINES : parseLineCount(lines);
    const dir = requireVm(loadConfig().vmdir, name);
    const out = visibleStdout();
    await followLog(name, logFile(name, dir), n, optFlag(inv, "follow"), out);
    await out.end();
    return 0;
  },
});

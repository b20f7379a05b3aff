/**
 * `vm autostart <vm> [on|off]`: whether vmd starts the VM (runit's `down`
 * file, lib/vm/dir.ts).
 * @module
 */

import { loadConfig } from "../../lib/vm/config.ts";
import { requireVm, setAutostart } from "../../lib/vm/dir.ts";
import { inspectDir } from "../../lib/vm/inspect.ts";
import { type CommandSpec, defineCommand, VM } from "../core/command.ts";
import { print } from "../core/output.ts";
import { refuse } from "../core/parse.ts";

/** The row of `vm autostart`. */
const AUTOSTART_ROW = {
  name: "autostart",
  summary: "whether vmd starts the VM (removes/creates its down file)",
  args: [VM, { name: "on|off", kind: ["on", "off"], optional: true }],
  help: ["without on|off, shows the setting; it takes effect when vmd next starts the VM"],
} as const satisfies CommandSpec;

/** The line `vm autostart` prints: the VM's autostart setting and what it means. Pure. */
export function autostartMessage(name: string, on: boolean): string {
  return on
    ? `${name}: autostart on (starts with vmd)`
    : `${name}: autostart off (vmd leaves it down; "vm start ${name}" starts it)`;
}

/** `vm autostart`. */
export const autostart = defineCommand(AUTOSTART_ROW, {
  run(inv) {
    const [name = "", setting] = inv.args;
    if (setting !== undefined && setting !== "on" && setting !== "off") {
      refuse(AUTOSTART_ROW, `Say "on" or "off", not "${setting}"`);
    }
    const dir = requireVm(loadConfig().vmdir, name);
    if (setting !== undefined) setAutostart(dir, setting === "on");
    print(autostartMessage(name, inspectDir(dir).autostart));
    return 0;
  },
});

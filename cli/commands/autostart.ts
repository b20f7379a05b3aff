/**
 * `vm autostart <vm> [on|off]`: whether vmd starts the VM (runit's `down`
 * file, lib/vm/dir.ts).
 * @module
 */

import { loadConfig } from "../../lib/vm/config.ts";
import { requireVm, setAutostart } from "../../lib/vm/dir.ts";
import { vmState } from "../../lib/vm/state.ts";
import type { CommandModule } from "../core/command.ts";
import { print } from "../core/output.ts";
import { refuse } from "../core/parse.ts";

/** The line `vm autostart` prints: the VM's autostart setting and what it means. Pure. */
export function autostartMessage(name: string, on: boolean): string {
  return on
    ? `${name}: autostart on (starts with vmd)`
    : `${name}: autostart off (vmd leaves it down; "vm start ${name}" starts it)`;
}

/** `vm autostart`. */
export const autostart: CommandModule = {
  run(inv) {
    const [name = "", setting] = inv.args;
    if (setting !== undefined && setting !== "on" && setting !== "off") {
      refuse("autostart", `Say "on" or "off", not "${setting}"`);
    }
    const dir = requireVm(loadConfig().vmdir, name);
    if (setting !== undefined) setAutostart(dir, setting === "on");
    print(autostartMessage(name, vmState(name, dir).autostart));
    return 0;
  },
};

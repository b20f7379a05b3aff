/**
 * Autostart: whether vmd (runsvdir) starts a VM, which is runit's `down`
 * file (present = no autostart). runsv reads it only when it starts, so a
 * change takes effect the next time vmd starts the VM's runsv.
 * Creates or removes `<vm>/down`.
 * @module
 */

import { join } from "../os/path.ts";
import { writeFileAtomic } from "../os/fs.ts";
import { F } from "./files.ts";
import { hasAutostart } from "./dir.ts";

/** Turns autostart of the VM in `dir` on (removes `down`) or off (creates `down` atomically). */
export function setAutostart(dir: string, on: boolean): void {
  const down = join(dir, F.down);
  if (!on) {
    if (hasAutostart(dir)) writeFileAtomic(down, "");
    return;
  }
  try {
    Deno.removeSync(down);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** The line `vm autostart` prints: the VM's autostart setting and what it means. Pure. */
export function autostartMessage(name: string, on: boolean): string {
  return on
    ? `${name}: autostart on (starts with vmd)`
    : `${name}: autostart off (vmd leaves it down; "vm start ${name}" starts it)`;
}

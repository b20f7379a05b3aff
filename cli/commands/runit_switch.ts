/**
 * runit's `run` of a private network (`$VMDIR/@NAME`): `vm __switch <dir>`
 * is its switch and DHCP server (lib/service/switch.ts), until killed.
 * @module
 */

import { EXIT_SYSTEM } from "../../lib/errors.ts";
import { resolve } from "../../lib/os/path.ts";
import { runSwitch } from "../../lib/service/switch.ts";
import { type CommandSpec, defineCommand } from "../core/command.ts";
import { entry, VM_DIR } from "./runit_entry.ts";

/** The row of `vm __switch`. */
const SWITCH_ROW = {
  name: "__switch",
  summary: "runit run of a network: its switch and DHCP server",
  args: [VM_DIR],
  hidden: true,
} as const satisfies CommandSpec;

/** `vm __switch <dir>`: runs the network's switch (returns only on failure). */
export const switchRun = defineCommand(SWITCH_ROW, {
  run(inv) {
    const dir = resolve(inv.args[0] ?? ".");
    return entry(EXIT_SYSTEM, dir, (say) => runSwitch(dir, say));
  },
});

/**
 * `vm boot <vm> [<arg>...]`: one start with extra QEMU arguments, kept in
 * `templates/once` (lib/vm/templates.ts) and consumed by that start.
 * @module
 */

import { describe, SystemError } from "../../lib/errors.ts";
import { control } from "../../lib/runit/control.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import { appendOnce } from "../../lib/vm/templates.ts";
import { type CommandSpec, defineCommand, VM } from "../core/command.ts";
import { print } from "../core/output.ts";

/** The row of `vm boot`. */
const BOOT_ROW = {
  name: "boot",
  summary: "boot a VM once and pass args to QEMU",
  args: [VM, { name: "<arg>", kind: "none", optional: true, repeat: true }],
  passThrough: true,
  help: ["the arguments are kept in templates/once for that one start"],
} as const satisfies CommandSpec;

/** `vm boot`. */
export const boot = defineCommand(BOOT_ROW, {
  async run(inv) {
    const [name = "", ...qemuArgs] = inv.args;
    const dir = requireVm(loadConfig().vmdir, name);
    await appendOnce(dir, qemuArgs);
    try {
      control(dir, "o");
    } catch (e) {
      if (!(e instanceof SystemError)) throw e;
      throw new SystemError(
        `${describe(e)}; the arguments are kept in templates/once for the next start`,
      );
    }
    print(`Booting "${name}" once${qemuArgs.length ? " with: " + qemuArgs.join(" ") : ""}`);
    return 0;
  },
});

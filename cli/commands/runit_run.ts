/**
 * runit's `run`: `vm __run <dir>` becomes QEMU (lib/service/run.ts).
 * @module
 */

import { EXIT_SYSTEM } from "../../lib/errors.ts";
import { resolve } from "../../lib/os/path.ts";
import { runVm } from "../../lib/service/run.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { inspectDir } from "../../lib/vm/inspect.ts";
import { type CommandSpec, defineCommand } from "../core/command.ts";
import { entry, VM_DIR } from "./runit_entry.ts";

/** The row of `vm __run`. */
const RUN_ROW = {
  name: "__run",
  summary: "runit run: become QEMU",
  args: [VM_DIR],
  hidden: true,
} as const satisfies CommandSpec;

/** `vm __run <dir>`: becomes QEMU (returns only on failure). */
export const run = defineCommand(RUN_ROW, {
  run(inv) {
    const dir = resolve(inv.args[0] ?? ".");
    return entry(EXIT_SYSTEM, dir, (say) => runVm(loadConfig(), inspectDir(dir), say));
  },
});

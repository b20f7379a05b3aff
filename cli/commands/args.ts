/**
 * `vm args <vm> [--lines | --json]`: the QEMU command line the next start runs,
 * worked out as `vm __run` works it out (lib/service/run.ts), with the
 * environment of the runsvdir supervising VMDIR when there is one.
 * @module
 */

import { planStart } from "../../lib/service/run.ts";
import { runsvdirEnv } from "../../lib/qemu/processes.ts";
import { quoteWord } from "../../lib/text/shell_words.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import { inspectDir } from "../../lib/vm/inspect.ts";
import { type CommandSpec, defineCommand, VM } from "../core/command.ts";
import { print, printErr } from "../core/output.ts";
import { exclusive, optFlag } from "../core/parse.ts";

/** The row of `vm args`. */
const ARGS_ROW = {
  name: "args",
  summary: "print the QEMU command line the VM's next start runs",
  args: [VM],
  options: [
    { name: "lines", help: "one argument per line" },
    { name: "json", help: "a JSON array of the words (argv[0] first)" },
  ],
  help: [
    "works it out as vm __run does (pre_qemu hook run, templates/once included but kept;",
    "KVM asked for but not usable by you: TCG instead, said on stderr),",
    "with the environment of the vmd (runsvdir) supervising VMDIR when there is one;",
    "every word is shell-quoted; relative paths are relative to the VM's directory;",
    "the companions started before QEMU (a virtiofsd per shared folder) are said on stderr",
    "exit: 0 ok, 100 a template or the config cannot be parsed, 111 QEMU missing or a hook failed",
  ],
} as const satisfies CommandSpec;

/** The argv as shell words: one line, or one argument per line with `lines`. Pure. */
export function formatArgv(argv: readonly string[], lines: boolean): string {
  return argv.map(quoteWord).join(lines ? "\n" : " ");
}

/** `vm args`. */
export const args = defineCommand(ARGS_ROW, {
  async run(inv) {
    const own = loadConfig();
    // As __run: the physical directory ("$PWD" of the run script), vmd's environment.
    const dir = Deno.realPathSync(requireVm(own.vmdir, inv.args[0] ?? ""));
    const { env } = runsvdirEnv(own.vmdir, dir, Deno.env.toObject());
    exclusive(inv, "json", "lines");
    const plan = await planStart(loadConfig(env), inspectDir(dir));
    if (plan.accelNote !== undefined) printErr(`vm: ${plan.accelNote}`);
    for (const c of plan.companions) {
      printErr(`vm: started before QEMU: ${c.name}: ${formatArgv(c.argv, false)}`);
    }
    print(
      optFlag(inv, "json")
        ? JSON.stringify(plan.argv)
        : formatArgv(plan.argv, optFlag(inv, "lines")),
    );
    return 0;
  },
});

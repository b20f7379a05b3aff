/**
 * `vm help [<command>]`: every command (cli/core/help.ts), or one command's
 * help as its `--help` shows it.
 * @module
 */

import { UsageError } from "../../lib/errors.ts";
import { type CommandSpec, defineCommand } from "../core/command.ts";
import { allCommands, findCommand, visibleNames } from "../core/command_list.ts";
import { commandHelp, helpText } from "../core/help.ts";
import { print } from "../core/output.ts";
import { unknownCommand } from "../core/suggest.ts";

/** The row of `vm help`. */
const HELP_ROW = {
  name: "help",
  summary: "display this help",
  args: [{ name: "<command>", kind: "command", optional: true }],
} as const satisfies CommandSpec;

/** `vm help [<command>]`. */
export const help = defineCommand(HELP_ROW, {
  async run(inv) {
    const [name] = inv.args;
    if (name === undefined) {
      print(helpText((await allCommands()).map((c) => c.row)));
      return 0;
    }
    const command = await findCommand(name);
    if (command === undefined || command.row.hidden) {
      throw new UsageError(unknownCommand(name, visibleNames(await allCommands())));
    }
    print(commandHelp(command.row));
    return 0;
  },
});

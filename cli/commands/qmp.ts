/**
 * `vm qmp <vm> <command> [<json-arguments>]`: one QMP command, its JSON reply
 * printed (lib/qemu/qmp_command.ts).
 * @module
 */

import { parseQmpArguments, runQmp } from "../../lib/qemu/qmp_command.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import type { CommandModule } from "../core/command.ts";
import { print } from "../core/output.ts";

/** `vm qmp`. */
export const qmp: CommandModule = {
  async run(inv) {
    const [name = "", command = "", json] = inv.args;
    const args = json === undefined ? undefined : parseQmpArguments(json);
    const dir = requireVm(loadConfig().vmdir, name);
    print(JSON.stringify(await runQmp(name, dir, command, args) ?? {}, null, 2));
    return 0;
  },
};

/**
 * `vm qmp <vm> <command> [<json-arguments>]`: one QMP command, its JSON reply
 * printed (lib/qemu/qmp_command.ts).
 * @module
 */

import { parseQmpArguments, runQmp } from "../../lib/qemu/qmp_command.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import { type CommandSpec, defineCommand, VM } from "../core/command.ts";
import { print } from "../core/output.ts";

/** The row of `vm qmp`. */
const QMP_ROW = {
  name: "qmp",
  summary: "run one QMP command and print its JSON reply",
  args: [
    VM,
    { name: "<command>", kind: "none" },
    { name: "<json-arguments>", kind: "none", optional: true },
  ],
  help: [
    "prints the command's return value as one JSON document, e.g.",
    "  vm qmp web query-status",
    '  vm qmp web eject \'{"device": "ide1-cd0"}\'',
    "QEMU serves one QMP client at a time (vm stop uses it while the guest powers off).",
    "exit: 0 ok, 1 QEMU answered with an error or the VM is not running, 100 usage",
    "(arguments not a JSON object), 111 no answer",
  ],
} as const satisfies CommandSpec;

/** `vm qmp`. */
export const qmp = defineCommand(QMP_ROW, {
  async run(inv) {
    const [name = "", command = "", json] = inv.args;
    const args = json === undefined ? undefined : parseQmpArguments(json);
    const dir = requireVm(loadConfig().vmdir, name);
    print(JSON.stringify(await runQmp(name, dir, command, args) ?? {}, null, 2));
    return 0;
  },
});

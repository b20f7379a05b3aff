/**
 * `vm info [--json] <vm>`: state, templates, disks and settings of one VM
 * (lib/actions/info.ts).
 * @module
 */

import { vmInfo } from "../../lib/actions/info.ts";
import { formatInfo } from "../core/info_text.ts";
import { inspectDir } from "../../lib/vm/inspect.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import { type CommandSpec, defineCommand, VM } from "../core/command.ts";
import { print } from "../core/output.ts";
import { optFlag } from "../core/parse.ts";
import { visible } from "../../lib/text/visible.ts";

/** The row of `vm info`. */
const INFO_ROW = {
  name: "info",
  summary: "show a VM's state, templates, disks and settings",
  args: [VM],
  options: [{
    name: "json",
    help: "one object: name, dir, state (as vm list --json), autostart, wait_s, log,\n" +
      "hooks, templates [{name, args}], disks [{file, path, info}]",
  }],
  help: [
    "templates are shown with the arguments they resolve to (hooks are not run; vm args",
    "runs pre_qemu); disks are the files the templates name, as qemu-img info sees them",
  ],
} as const satisfies CommandSpec;

/** `vm info`. */
export const info = defineCommand(INFO_ROW, {
  async run(inv) {
    const name = inv.args[0] ?? "";
    const cfg = loadConfig();
    const v = await vmInfo(cfg, inspectDir(requireVm(cfg.vmdir, name)));
    // Visible: disk names and formats come from images (qemu-img), which may be anyone's.
    print(optFlag(inv, "json") ? JSON.stringify(v, null, 2) : visible(formatInfo(v)));
    return 0;
  },
});

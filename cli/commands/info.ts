/**
 * `vm info [--json] <vm>`: state, templates, disks and settings of one VM
 * (lib/actions/info.ts).
 * @module
 */

import { formatInfo, vmInfo } from "../../lib/actions/info.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import type { CommandModule } from "../core/command.ts";
import { print } from "../core/output.ts";
import { optFlag } from "../core/parse.ts";
import { visible } from "../../lib/text/visible.ts";

/** `vm info`. */
export const info: CommandModule = {
  async run(inv) {
    const name = inv.args[0] ?? "";
    const cfg = loadConfig();
    const v = await vmInfo(cfg, name, requireVm(cfg.vmdir, name));
    // Visible: disk names and formats come from images (qemu-img), which may be anyone's.
    print(optFlag(inv, "json") ? JSON.stringify(v, null, 2) : visible(formatInfo(v)));
    return 0;
  },
};

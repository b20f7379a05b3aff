/**
 * `vm disk <vm> resize +SIZE|SIZE [--drive FILE] [--shrink]`
 * (lib/actions/disks.ts).
 * @module
 */

import { chooseDisk, resizeDisk } from "../../lib/actions/disks.ts";
import { checkStopped } from "../../lib/qemu/processes.ts";
import { formatBytes, parseNewSize } from "../../lib/text/units.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import type { CommandModule } from "../core/command.ts";
import { print } from "../core/output.ts";
import { optFlag, optString, refuse } from "../core/parse.ts";
import { showDisk, vmDisks } from "../../lib/vm/disk_paths.ts";

/** `vm disk`. */
export const disk: CommandModule = {
  async run(inv) {
    const [name = "", op = "", sizeText = ""] = inv.args;
    if (op !== "resize") refuse("disk", `Unknown disk operation "${op}"`);
    const size = parseNewSize(sizeText);
    const cfg = loadConfig();
    const dir = requireVm(cfg.vmdir, name);
    checkStopped(name, dir, "resize its disk");
    const path = chooseDisk(name, dir, vmDisks(cfg, dir), optString(inv, "drive"));
    const r = await resizeDisk(path, size, optFlag(inv, "shrink"));
    print(
      `Resized "${showDisk(dir, path)}" of VM "${name}": ` +
        `${formatBytes(r.before)} -> ${formatBytes(r.after)}`,
    );
    return 0;
  },
};

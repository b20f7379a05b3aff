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
import { type CommandSpec, defineCommand, VM } from "../core/command.ts";
import { print } from "../core/output.ts";
import { optFlag, optString, refuse } from "../core/parse.ts";
import { showDisk, vmDisks } from "../../lib/vm/disk_paths.ts";

/** The row of `vm disk`. */
const DISK_ROW = {
  name: "disk",
  summary: "grow a stopped VM's disk (or set its size)",
  args: [VM, { name: "resize", kind: ["resize"] }, { name: "+SIZE|SIZE", kind: "none" }],
  options: [
    {
      name: "drive",
      value: "FILE",
      complete: "file",
      help: "the disk, as the templates name it; needed when there are several",
    },
    { name: "shrink", help: "allow a size below the current one (data past it is lost)" },
  ],
  help: [
    "+10G grows the disk by 10 GiB, 40G makes it 40 GiB (qemu-img resize); grow the",
    "partition and file system in the guest afterwards",
  ],
} as const satisfies CommandSpec;

/** `vm disk`. */
export const disk = defineCommand(DISK_ROW, {
  async run(inv) {
    const [name = "", op = "", sizeText = ""] = inv.args;
    if (op !== "resize") refuse(DISK_ROW, `Unknown disk operation "${op}"`);
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
});

/**
 * `vm __setup <default-src> <vm-exe>` (run by install.sh): creates or
 * updates `$VMDIR/.default` (lib/actions/setup_default.ts).
 * @module
 */

import { setupDefault } from "../../lib/actions/setup_default.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import type { CommandModule } from "../core/command.ts";
import { print } from "../core/output.ts";

/** `vm __setup`. */
export const setup: CommandModule = {
  run(inv) {
    const [src = "", exe = ""] = inv.args;
    const r = setupDefault(src, loadConfig().vmdir, exe);
    print(
      `${r.dir}: ${r.added.length} template(s) added, service scripts ` +
        (r.scripts.length ? `written (${r.scripts.join(" ")})` : "unchanged"),
    );
    for (const t of r.kept) print(`${r.dir}: kept your edited template "${t}"`);
    return 0;
  },
};

/**
 * `vm __setup <default-src> <vm-exe>` (run by install.sh): creates or
 * updates `$VMDIR/.default` (lib/actions/setup_default.ts).
 * @module
 */

import { setupDefault } from "../../lib/actions/setup_default.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { type CommandSpec, defineCommand } from "../core/command.ts";
import { print } from "../core/output.ts";

/** The row of `vm __setup` (install.sh runs it). */
const SETUP_ROW = {
  name: "__setup",
  summary: "create $VMDIR/.default",
  args: [{ name: "<default-src>", kind: "file" }, { name: "<vm-exe>", kind: "file" }],
  hidden: true,
} as const satisfies CommandSpec;

/** `vm __setup`. */
export const setup = defineCommand(SETUP_ROW, {
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
});

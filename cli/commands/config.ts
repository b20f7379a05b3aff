/**
 * `vm config`: which config files `vm` looks for and reads, and every
 * effective `VM*` setting with its origin (lib/vm/config_report.ts).
 * @module
 */

import { type ConfigReport, configReport } from "../../lib/vm/config_report.ts";
import { quoteWord } from "../../lib/text/shell_words.ts";
import { type CommandSpec, defineCommand } from "../core/command.ts";
import { print } from "../core/output.ts";

/** The row of `vm config`. */
const CONFIG_ROW = {
  name: "config",
  summary: "show the config files read and every VM* setting with its origin",
  args: [],
  help: [
    "the config file is $VMCONF when set; otherwise the first found of",
    "$XDG_CONFIG_HOME/runit-vm/conf (when set), ~/.config/runit-vm/conf, /etc/runit-vm/conf",
    "(for every user, root too). Each file looked for is shown (read, not found, not read),",
    "then each setting as KEY=value with its origin: file (overrides the environment), env",
    "or default",
  ],
} as const satisfies CommandSpec;

const STATE_TEXT = {
  read: "read",
  missing: "not found",
  skipped: "not read (the first file found applies)",
} as const;

/**
 * The text of `vm config`: one `config <file>: read|not found|…` line per
 * file looked for, then `KEY=value (origin)` per setting, the value quoted
 * as in a config file. Pure.
 */
export function configText(r: ConfigReport): string {
  const files = r.files.map((f) =>
    `config ${f.path}: ${STATE_TEXT[f.state]}${r.fromVmconf ? " (VMCONF)" : ""}`
  );
  const settings = r.settings.map((s) => `${s.key}=${quoteWord(s.value)} (${s.origin})`);
  return [...files, ...settings].join("\n");
}

/** `vm config`. */
export const config = defineCommand(CONFIG_ROW, {
  run() {
    print(configText(configReport(Deno.env.toObject())));
    return 0;
  },
});

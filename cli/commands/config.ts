/**
 * `vm config`: which config files `vm` looks for and reads, and every
 * effective `VM*` setting with its origin (lib/vm/config_report.ts).
 * @module
 */

import { type ConfigReport, configReport } from "../../lib/vm/config_report.ts";
import { quoteWord } from "../../lib/text/shell_words.ts";
import type { CommandModule } from "../core/command.ts";
import { print } from "../core/output.ts";

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
export const config: CommandModule = {
  run() {
    print(configText(configReport(Deno.env.toObject())));
    return 0;
  },
};

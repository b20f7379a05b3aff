/**
 * `vm daemon` (vmd: runsvdir on VMDIR, every VM stopped gracefully on TERM)
 * and `vm service install runit|systemd` (lib/actions/daemon.ts,
 * lib/actions/service_install.ts).
 * @module
 */

import { runDaemon } from "../../lib/actions/daemon.ts";
import {
  checkKind,
  installService,
  nextSteps,
  serviceWillRun,
} from "../../lib/actions/service_install.ts";
import { EXIT_CHECK } from "../../lib/errors.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import type { CommandModule } from "../core/command.ts";
import { print, printErr } from "../core/output.ts";
import { refuse } from "../core/parse.ts";

/** `vm daemon`. */
export const daemon: CommandModule = {
  async run() {
    return await runDaemon(loadConfig(), (line) => printErr(`vm daemon: ${line}`));
  },
};

/** `vm service install runit|systemd`. */
export const service: CommandModule = {
  async run(inv) {
    const [action = "", kind = ""] = inv.args;
    if (action !== "install") refuse("service", `Unknown service action "${action}"`);
    const cfg = loadConfig();
    const r = await installService(checkKind(kind), cfg.vmdir, cfg.env);
    const what = r.kind === "runit" ? "runit service" : "systemd user unit";
    print(`vmd ${what} ${r.action}: ${r.path}`);
    for (const line of nextSteps(r)) print(line);
    // Installed, but nothing runs it: not the success the user asked for.
    return serviceWillRun(r) ? 0 : EXIT_CHECK;
  },
};

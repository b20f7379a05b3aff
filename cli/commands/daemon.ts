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
import { type CommandSpec, defineCommand } from "../core/command.ts";
import { print, printErr } from "../core/output.ts";
import { refuse } from "../core/parse.ts";

/** The row of `vm daemon`. */
const DAEMON_ROW = {
  name: "daemon",
  summary: "run vmd: supervise the VMs (runsvdir); TERM stops them all gracefully",
  args: [],
  help: [
    "runs runsvdir on VMDIR in the foreground (one vm daemon per VMDIR). On TERM, INT or",
    "HUP it stops every VM in parallel, each within its wait, and exits 0 once all are",
    "down (111 when some are still up after the largest wait + 10 s). Left-overs of a",
    "vm daemon killed with SIGKILL (its runsvdir, or runsv processes) are adopted: their",
    "VMs keep running, never twice. Messages go to stderr. Install it as a service with",
    '"vm service install runit|systemd".',
  ],
} as const satisfies CommandSpec;

/** The row of `vm service`. */
const SERVICE_ROW = {
  name: "service",
  summary: "install and enable vmd as a runit user service or systemd user unit",
  args: [
    { name: "install", kind: ["install"] },
    { name: "runit|systemd", kind: ["runit", "systemd"] },
  ],
  help: [
    "runit:   creates ${SVDIR:-~/service}/vmd (run execs vm daemon) for your user's runsvdir",
    "systemd: writes ${XDG_CONFIG_HOME:-~/.config}/systemd/user/vmd.service, then runs",
    "         systemctl --user daemon-reload and enable (or says how, when it cannot)",
    'A file there that vm did not write is never replaced. Needs ".default" (./install.sh).',
    "exit 1 when no runsvdir watches ${SVDIR:-~/service}: the service is installed, but",
    "nothing runs it until your user's runsvdir does",
  ],
} as const satisfies CommandSpec;

/** `vm daemon`. */
export const daemon = defineCommand(DAEMON_ROW, {
  async run() {
    return await runDaemon(loadConfig(), (line) => printErr(`vm daemon: ${line}`));
  },
});

/** `vm service install runit|systemd`. */
export const service = defineCommand(SERVICE_ROW, {
  async run(inv) {
    const [action = "", kind = ""] = inv.args;
    if (action !== "install") refuse(SERVICE_ROW, `Unknown service action "${action}"`);
    const cfg = loadConfig();
    const r = await installService(checkKind(kind), cfg.vmdir, cfg.env);
    const what = r.kind === "runit" ? "runit service" : "systemd user unit";
    print(`vmd ${what} ${r.action}: ${r.path}`);
    for (const line of nextSteps(r)) print(line);
    // Installed, but nothing runs it: not the success the user asked for.
    return serviceWillRun(r) ? 0 : EXIT_CHECK;
  },
});

/**
 * `vm start <vm>… --ssh`: starts each VM and waits until it answers SSH
 * with its pinned host key, printing how long the boot took. On a terminal
 * one redrawn line tells what each VM waits for and for how long
 * (cli/core/wait_line.ts); nothing of it on a pipe. `vm start` calls {@link run}
 * when `--ssh` is given.
 * @module
 */

import { loadConfig } from "../../lib/vm/config.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import {
  type BootProgress,
  SSH_TIMEOUT_S,
  sshStartMessage,
  startWithSsh,
} from "../../lib/actions/start_ssh.ts";
import type { BootSeen } from "../../lib/actions/boot_watch.ts";
import { failureExit } from "../../lib/actions/start_stop.ts";
import type { Invocation, OptionSpec } from "../core/command.ts";
import { fatalText, print, printErr } from "../core/output.ts";
import { optString } from "../core/parse.ts";
import { parseSeconds } from "../../lib/text/units.ts";
import { WaitLine } from "../core/wait_line.ts";

/** The options `vm start` gets for --ssh (read here). */
export const START_SSH_OPTIONS = [
  {
    name: "ssh",
    help: "wait until the VM answers SSH with its pinned host key; print the boot time;\n" +
      "on a terminal, one line tells what it waits for (QEMU, the guest's serial\n" +
      "console or agent, port 22, sshd, the login) and for how long",
  },
] as const satisfies readonly OptionSpec[];

/** What a VM waits for now, in words, for the wait line. Pure. */
export function bootStageText(seen: Readonly<BootSeen>): string {
  const p = seen.ssh.probe;
  switch (seen.stage) {
    case "qemu":
      return "starting QEMU";
    case "firmware":
      if (p?.kind === "refused") return "QEMU up; nothing listens on its SSH port";
      return seen.screen?.kind === "text" && seen.screen.lines.length > 0
        ? `QEMU up; waiting for the guest; its screen: "${seen.screen.lines.at(-1)}"`
        : "QEMU up; waiting for the guest";
    case "guest": {
      const last = seen.console?.last;
      return last !== undefined ? `the guest is booting: "${last}"` : "its agent answers";
    }
    case "port":
      return "the guest's network is up; waiting for sshd on port 22";
    case "login":
      return seen.ssh.sshSaid === undefined
        ? `sshd answers (${p?.kind === "banner" ? p.banner : "banner"}); logging in`
        : `sshd answers; the login failed so far (ssh: ${seen.ssh.sshSaid})`;
  }
}

/**
 * Starts the VMs in parallel, each waiting for SSH within `timeoutS`;
 * prints one line per VM as each ends (errors as `vm: fatal: …` on stderr),
 * above the wait line. Returns how many failed (max 99).
 */
async function startSsh(names: readonly string[], timeoutS: number): Promise<number> {
  const vmdir = loadConfig().vmdir;
  const unique = [...new Set(names)];
  const dirs = unique.map((n) => requireVm(vmdir, n));
  const line = new WaitLine();
  let failed = 0;
  await Promise.all(unique.map(async (n, i) => {
    const onProgress: BootProgress = (seen, waitedS, capS) =>
      line.update(n, { waitedS, capS, what: bootStageText(seen) });
    try {
      const r = await startWithSsh(vmdir, n, dirs[i] ?? "", { timeoutS, onProgress });
      line.done(n, () => print(sshStartMessage(r)));
    } catch (e) {
      failed++;
      line.done(n, () => printErr(fatalText(e)));
    }
  }));
  return failureExit(failed);
}

/** `vm start <vm>… --ssh [--timeout S]`: S bounds the whole wait (default 300). */
export function run(inv: Invocation<{ readonly timeout: string | undefined }>): Promise<number> {
  const t = optString(inv, "timeout");
  return startSsh(inv.args, t === undefined ? SSH_TIMEOUT_S : parseSeconds(t, "--timeout", "300"));
}

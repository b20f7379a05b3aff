/**
 * `vm start <vm>… --ssh`: starts each VM and waits until it answers SSH
 * with its pinned host key, printing how long the boot took. The lead's
 * `vm start` calls {@link startSsh} when `--ssh` is given.
 * @module
 */

import { loadConfig } from "../lib/vm/config.ts";
import { requireVm } from "../lib/vm/dir.ts";
import { SSH_TIMEOUT_S, sshStartMessage, startWithSsh } from "../lib/actions/start_ssh.ts";
import type { Invocation } from "./command.ts";
import { fatalText, print, printErr } from "./output.ts";
import { optString } from "./parse.ts";
import { parseSeconds } from "../lib/text/units.ts";

/**
 * Starts the VMs in parallel, each waiting for SSH; prints one line per VM
 * (errors as `vm: fatal: …` on stderr). Returns how many failed (max 99).
 */
export async function startSsh(
  names: readonly string[],
  opts: { timeoutS?: number; sshTimeoutS?: number } = {},
): Promise<number> {
  const vmdir = loadConfig().vmdir;
  const results = await Promise.allSettled(
    names.map((n) => startWithSsh(vmdir, n, requireVm(vmdir, n), opts)),
  );
  let failed = 0;
  for (const r of results) {
    if (r.status === "fulfilled") print(sshStartMessage(r.value));
    else {
      failed++;
      printErr(fatalText(r.reason));
    }
  }
  return Math.min(failed, 99);
}

/** `vm start <vm>… --ssh [--timeout S] [--ssh-timeout S]` on its own. */
export function run(inv: Invocation): Promise<number> {
  const t = optString(inv, "timeout");
  const s = optString(inv, "ssh-timeout");
  return startSsh(inv.args, {
    ...(t === undefined ? {} : { timeoutS: parseSeconds(t, "--timeout", "120") }),
    sshTimeoutS: s === undefined ? SSH_TIMEOUT_S : parseSeconds(s, "--ssh-timeout", "300"),
  });
}

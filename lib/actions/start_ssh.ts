/**
 * `vm start <vm> --ssh`: start the VM (runsv `u`, QEMU up), then wait until
 * it answers SSH with its pinned host key, and tell how long the boot took.
 * Reads `<vm>/supervise/status`, `<vm>/ports`, `<vm>/ssh/`; spawns `ssh`.
 * @module
 */

import { readStatus } from "../runit/status.ts";
import { isAlive } from "../os/proc.ts";
import { sshTarget } from "../ssh/ssh_args.ts";
import { waitForSsh } from "../ssh/ssh_ready.ts";
import { requireSupervised, startVm } from "./start_stop.ts";
import { secondsText } from "../text/units.ts";

/** Default seconds to wait for SSH after QEMU is up (a first boot under TCG takes ~2 minutes). */
export const SSH_TIMEOUT_S = 300;

/** How a start with --ssh went. */
export interface SshStartResult {
  name: string;
  /** QEMU was already running. */
  already: boolean;
  /** Seconds from the start request until QEMU was up, and until SSH answered. */
  qemuSeconds: number;
  sshSeconds: number;
  port: number;
}

/**
 * Starts VM `name` (in `dir` of `vmdir`) and waits until SSH answers with
 * the pinned key, within `sshTimeoutS` after QEMU is up. Throws what
 * requireSupervised and startVm throw, CheckFailedError for a wrong host key, SystemError when
 * SSH does not answer in time or QEMU exits first.
 */
export async function startWithSsh(
  vmdir: string,
  name: string,
  dir: string,
  opts: { timeoutS?: number; sshTimeoutS?: number } = {},
): Promise<SshStartResult> {
  const target = sshTarget(vmdir, name, dir);
  await requireSupervised(vmdir, name);
  const t0 = performance.now();
  const started = await startVm(name, dir, opts.timeoutS);
  const pid = started.pid;
  const stillUp = () => readStatus(dir)?.pid === pid && isAlive(pid);
  await waitForSsh(target, (opts.sshTimeoutS ?? SSH_TIMEOUT_S) * 1000, stillUp);
  return {
    name,
    already: started.already,
    qemuSeconds: started.seconds,
    sshSeconds: (performance.now() - t0) / 1000,
    port: target.port,
  };
}

/** The line `vm start --ssh` prints. Pure. */
export function sshStartMessage(r: SshStartResult): string {
  const how = r.already
    ? "was already running"
    : `booted (QEMU up in ${secondsText(r.qemuSeconds)})`;
  return `${r.name}: ${how}; SSH answered with the pinned host key on 127.0.0.1:${r.port} ` +
    `after ${secondsText(r.sshSeconds)}`;
}

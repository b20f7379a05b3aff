/**
 * `vm start <vm> --ssh`: start the VM (runsv `u`, QEMU up), then wait until
 * it answers SSH with its pinned host key, telling what it waits for as it
 * goes (lib/actions/boot_watch.ts), and how long the boot took. A wait that
 * fails says what was seen last and the one next step. Reads
 * `<vm>/supervise/status`, `<vm>/ports`, `<vm>/ssh/`; spawns `ssh`.
 * @module
 */

import { StartFailedError } from "../errors.ts";
import { readStatus } from "../runit/status.ts";
import { isAlive } from "../os/proc.ts";
import { sshTarget } from "../ssh/ssh_args.ts";
import { SshWaitTimeout, waitForSsh } from "../ssh/ssh_ready.ts";
import { requireSupervised, START_TIMEOUT_S, startVm } from "./start_stop.ts";
import { secondsText } from "../text/units.ts";
import { type BootSeen, BootWatch, nextStep, seenText } from "./boot_watch.ts";

/** Default seconds to wait for SSH (a first boot under TCG takes ~2 minutes). */
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

/** What `vm start --ssh` hears while it waits: what was seen, seconds waited, the bound. */
export type BootProgress = (seen: Readonly<BootSeen>, waitedS: number, capS: number) => void;

/**
 * Starts VM `name` (in `dir` of `vmdir`) and waits until SSH answers with
 * the pinned key, within `timeoutS` (default 300) from the start request;
 * `onProgress` hears how far the boot got, every second. Throws what
 * requireSupervised and startVm throw, CheckFailedError for a wrong host
 * key, StartFailedError when QEMU exits first, the guest cannot boot, or SSH
 * does not answer in time (saying what was seen last).
 */
export async function startWithSsh(
  vmdir: string,
  name: string,
  dir: string,
  opts: { timeoutS?: number; onProgress?: BootProgress } = {},
): Promise<SshStartResult> {
  const target = sshTarget(vmdir, name, dir);
  await requireSupervised(vmdir, name);
  const capS = opts.timeoutS ?? SSH_TIMEOUT_S;
  const t0 = performance.now();
  const watch = new BootWatch(dir, name);
  const tell = () => opts.onProgress?.(watch.seen, (performance.now() - t0) / 1000, capS);
  tell();
  const ticker = setInterval(tell, 1000);
  try {
    const started = await startVm(name, dir, Math.min(START_TIMEOUT_S, capS));
    await watch.qemuUp();
    tell();
    const pid = started.pid;
    const left = capS * 1000 - (performance.now() - t0);
    try {
      await waitForSsh(target, left, {
        stillUp: () => readStatus(dir)?.pid === pid && isAlive(pid),
        onSeen: (ssh) => watch.onSsh(ssh),
        between: () => watch.look(),
      });
    } catch (e) {
      if (!(e instanceof SshWaitTimeout)) throw e;
      await watch.lastLook();
      throw new StartFailedError(
        `VM "${name}" did not answer SSH on 127.0.0.1:${target.port} within ${capS} s; ` +
          `last seen: ${seenText(watch.seen, target.port, name)}; ` +
          nextStep(name, watch.seen, watch.ways()),
      );
    }
    return {
      name,
      already: started.already,
      qemuSeconds: started.seconds,
      sshSeconds: (performance.now() - t0) / 1000,
      port: target.port,
    };
  } finally {
    clearInterval(ticker);
    watch.close();
  }
}

/** The line `vm start --ssh` prints. Pure. */
export function sshStartMessage(r: SshStartResult): string {
  const how = r.already
    ? "was already running"
    : `booted (QEMU up in ${secondsText(r.qemuSeconds)})`;
  return `${r.name}: ${how}; SSH answered with the pinned host key on 127.0.0.1:${r.port} ` +
    `after ${secondsText(r.sshSeconds)}`;
}

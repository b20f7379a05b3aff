/**
 * What a stop or kill of a VM did (`vm stop`, `vm restart`, `vm kill`),
 * and a stop's options: the values lib/actions/start_stop.ts,
 * force_stop.ts and orphan.ts return and take, and cli/ reports. Pure.
 * @module
 */

/** How a VM went down. */
export type StopHow =
  /** The guest powered off (runsv's control/t, within the VM's wait). */
  | "poweroff"
  /** control/t told QEMU to quit after the VM's wait. */
  | "wait"
  /** Forced: QEMU quit through the HMP monitor. */
  | "monitor"
  /** Forced: QEMU got SIGTERM. */
  | "term"
  /** Forced: QEMU got SIGKILL (also `vm kill`). */
  | "kill"
  /** QEMU was already gone when forcing began; only runsv had to catch up. */
  | "gone"
  /** QEMU was not running (crash-loop backoff, a hanging pre_qemu): only its restart was stopped. */
  | "restart"
  /** control/t recorded that QEMU exited before the guest powered off (someone quit or killed it). */
  | "ended"
  /** QEMU exited, and control/t recorded no outcome (it failed or did not run: see the VM's log). */
  | "unrecorded";

/** What a stop did. */
export interface StopResult {
  name: string;
  /** The VM was down already; nothing was stopped. */
  already: boolean;
  /** Seconds from the stop command until runsv reported the VM down. */
  seconds: number;
  how: StopHow;
  /** Why QEMU was forced: --force, or the timeout (seconds) passed. */
  forced?: { by: "force" } | { by: "timeout"; seconds: number };
  /** A finish (cleanup) or control/t that hung had to be ended. */
  hungKilled?: "finish" | "control/t";
  /** The VM's wait (seconds). */
  wait: number;
  /** PID of the QEMU that ran without its runsv (lib/actions/orphan.ts). */
  orphan?: number;
  /** Seconds the guest took to power off, as control/t recorded them. */
  guestSeconds?: number;
  /** control/t also asked the guest agent to shut down (ACPI went unanswered). */
  agent?: boolean;
}

/**
 * A stop's options: `--timeout S` caps the graceful wait; `--force` skips
 * it; `onWait` hears, while the graceful stop is awaited, the seconds waited
 * so far, the VM's wait (cut by `--timeout`) and whether QEMU has exited
 * (for a progress line).
 */
export interface StopOptions {
  timeoutS?: number;
  force?: boolean;
  onWait?: (waitedS: number, waitS: number, exited: boolean) => void;
}

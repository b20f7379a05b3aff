/**
 * Whether QEMU is up: its run state as QMP `query-status` reports it
 * (`running`, `prelaunch` with `-S`, `inmigrate` with `-incoming`, `paused`,
 * `internal-error`, …), and which states count as started for the command
 * line QEMU was given. Connects to a VM's `supervise/qmp`.
 * @module
 */

import { SystemError } from "../errors.ts";
import { QmpClient } from "./qmp.ts";

/** States that mean the guest will not run without help: a start that reaches one failed. */
export const BROKEN_STATES: readonly string[] = [
  "internal-error",
  "io-error",
  "guest-panicked",
  "shutdown",
];

/**
 * Whether QMP state `status` means a VM whose QEMU got `argv` has started:
 * `running`, or, when the command line asks QEMU to wait (`-S`: prelaunch,
 * `-incoming`: inmigrate), those or `paused`. Pure.
 */
export function isStarted(status: string, argv: readonly string[]): boolean {
  if (status === "running") return true;
  const waits = argv.some((a) => a === "-S" || a === "-incoming" || a === "--incoming");
  return waits && ["prelaunch", "inmigrate", "paused"].includes(status);
}

/**
 * QEMU's run state through the QMP socket at `path`, within `timeoutMs`; or
 * undefined when QEMU does not answer (not listening yet, exiting, or another
 * client holds the socket).
 */
export async function qmpStatus(path: string, timeoutMs: number): Promise<string | undefined> {
  let qmp: QmpClient;
  try {
    qmp = await QmpClient.connect(path, { timeoutMs });
  } catch (e) {
    if (e instanceof SystemError) return undefined;
    throw e;
  }
  try {
    const r = await qmp.execute("query-status", undefined, { timeoutMs }) as { status?: unknown };
    return typeof r.status === "string" ? r.status : undefined;
  } catch (e) {
    if (e instanceof SystemError) return undefined;
    throw e;
  } finally {
    qmp.close();
  }
}

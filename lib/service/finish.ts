/**
 * After QEMU exited (runit's `finish`): run the `cleanup` hook with the exit
 * code and signal, remove the VM's sockets, and record the run for the
 * crash-loop backoff. Reads `<vm>/hooks`; deletes
 * `<vm>/supervise/{monitor,qmp,console}`; writes `<vm>/backoff`.
 * @module
 */

import { type BackoffStep, recordExit } from "./backoff.ts";
import type { Config } from "../vm/config.ts";
import { runCleanup } from "../vm/hooks.ts";
import { orphanQemu, removeSockets, vmEnv } from "./run.ts";
import { hasHooks } from "../vm/dir.ts";

/** What finishVm did. */
export interface FinishResult extends BackoffStep {
  /** cleanup's exit code (0 without hooks). */
  status: number;
}

/**
 * `vm __finish <dir> <code> <signal>`: runs cleanup (when the VM has hooks),
 * removes the sockets, records the exit for the backoff. The caller sleeps
 * the backoff, if any (see backoff.ts).
 */
export async function finishVm(
  cfg: Config,
  vmDir: string,
  code: string,
  signal: string,
): Promise<FinishResult> {
  let status = 0;
  try {
    if (hasHooks(vmDir)) status = await runCleanup(vmDir, vmEnv(cfg, vmDir), code, signal);
  } finally {
    // A QEMU still working here is one whose runsv was killed (__run refused
    // to start another): its sockets are its only way to be stopped.
    if (orphanQemu(vmDir) === undefined) removeSockets(vmDir);
  }
  return { status, ...recordExit(vmDir) };
}

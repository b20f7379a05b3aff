/**
 * After QEMU exited (runit's `finish`): run the `cleanup` hook with the exit
 * code and signal, remove the VM's sockets, end the companions a QEMU left
 * without ever connecting to them (./companions.ts), and record the run for the
 * crash-loop backoff. runsv restarts a VM at once (at most once a second)
 * whenever QEMU exits; a QEMU that dies within seconds of starting would
 * restart forever. So `vm __finish` (which runsv waits for before
 * restarting) sleeps a growing delay after each quick death while the VM is
 * wanted up, and forgets it once QEMU has run for a while (lib/vm/backoff.ts
 * holds the rule and the file); the sleep ends at once when the VM is no
 * longer wanted up (`sv down`, vmd stop). After a stop vmd did itself, the
 * shipped `finish` script starts `vm __finish` only for a VM with hooks: vmd
 * has done the rest (lib/service/vmd_stop.ts).
 * Reads `<vm>/hooks`, `<vm>/supervise/status`; deletes
 * `<vm>/supervise/{monitor,qmp,console}`; writes `<vm>/backoff`.
 * @module
 */

import { type BackoffStep, nextBackoff, readBackoff, writeBackoff } from "../vm/backoff.ts";
import type { Config } from "../vm/config.ts";
import { HOOK_MIN_S, runCleanup } from "../vm/hooks.ts";
import { orphanQemu } from "../qemu/processes.ts";
import { readStatus } from "../runit/status.ts";
import { removeSockets, vmEnv } from "../vm/dir.ts";
import type { Vm } from "../vm/inspect.ts";
import { sleep } from "../os/poll.ts";
import { endCompanions } from "./companions.ts";
import type { CompanionProc } from "../qemu/processes.ts";

/** What finishVm did. */
export interface FinishResult extends BackoffStep {
  /** cleanup's exit code (0 without hooks). */
  status: number;
  /** Why cleanup was ended, when it ran past its bound (the VM's wait, at least 10 s). */
  cleanupEnded?: string;
  /** Companions (swtpm, virtiofsd) QEMU left running, ended here (./companions.ts). */
  endedCompanions: CompanionProc[];
}

/**
 * `vm __finish <dir> <code> <signal>`: runs cleanup (when the VM has hooks),
 * removes the sockets, records the exit for the backoff. The caller sleeps
 * the backoff, if any (see backoff.ts).
 */
export async function finishVm(
  cfg: Config,
  vm: Vm,
  code: string,
  signal: string,
): Promise<FinishResult> {
  const vmDir = vm.dir;
  let status = 0;
  let cleanupEnded: string | undefined;
  let endedCompanions: CompanionProc[] = [];
  try {
    if (vm.hooks) {
      const bound = Math.max(vm.wait, HOOK_MIN_S);
      const r = await runCleanup(vmDir, vmEnv(cfg, vmDir), code, signal, bound);
      status = r.code;
      cleanupEnded = r.ended;
    }
  } finally {
    // A QEMU still working here is one whose runsv was killed (__run refused
    // to start another): its sockets are its only way to be stopped.
    if (orphanQemu(vmDir) === undefined) removeSockets(vmDir);
    endedCompanions = await endCompanions(vmDir);
  }
  const result: FinishResult = { status, endedCompanions, ...recordExit(vmDir) };
  if (cleanupEnded !== undefined) result.cleanupEnded = cleanupEnded;
  return result;
}

/**
 * Records the run that just ended (runsv's status still holds its start
 * time) and returns the backoff to sleep, if the VM is wanted up and died
 * quickly. Reads `supervise/status`, writes `backoff`.
 */
export function recordExit(dir: string, now = Date.now() / 1000): BackoffStep {
  const st = readStatus(dir);
  const ran = st === undefined ? Infinity : Math.max(0, now - st.since);
  if (st?.want !== "up") {
    writeBackoff(dir, undefined);
    return { ran };
  }
  const next = nextBackoff(readBackoff(dir), ran, now);
  writeBackoff(dir, next);
  return next === undefined ? { ran } : { ran, backoff: next };
}

/**
 * Sleeps until `until` (Unix seconds), checking every 200 ms whether the VM
 * is still wanted up; returns false when the sleep was cut short. Then (`sv
 * down`, `sv once`, vmd stopping) the user took over: the backoff is
 * forgotten (`backoff` removed), so a later start backs off from 1 s again.
 */
export async function sleepBackoff(dir: string, until: number): Promise<boolean> {
  while (Date.now() / 1000 < until) {
    if (readStatus(dir)?.want !== "up") {
      writeBackoff(dir, undefined);
      return false;
    }
    await sleep(Math.min(200, Math.max(1, until * 1000 - Date.now())));
  }
  return true;
}

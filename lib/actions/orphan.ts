/**
 * A QEMU left running in a VM's directory when its runsv was killed (an
 * "orphan": runsv, if a new one runs, reports the VM down and knows nothing
 * of it). `vm stop` and `vm kill` reach it through its sockets and its PID
 * as they would a supervised one; once it is gone its sockets are removed,
 * the svlogd its dead runsv left is ended (so the VM's new runsv can log),
 * and a runsv, if any, is told to keep the VM down, so the next `vm start`
 * proceeds normally. Connects to `<vm>/supervise/{qmp,monitor}`; signals the
 * QEMU and stray svlogd; removes `<vm>/supervise/{monitor,qmp,console}`;
 * writes `<vm>/supervise/control`.
 * @module
 */

import { describe, SystemError } from "../errors.ts";
import { isAlive, signal } from "../os/proc.ts";
import { pollUntil } from "../os/poll.ts";
import { strayLoggers } from "../qemu/processes.ts";
import { control } from "../runit/control.ts";
import { isSupervised } from "../runit/status.ts";
import { stopVm } from "../service/control_t.ts";
import { readWait, removeSockets } from "../vm/dir.ts";
import { forceQemu, STEP_MS } from "./force_stop.ts";
import type { StopHow, StopOptions, StopResult } from "./stop_result.ts";

/**
 * Ends the stray svlogd processes of the VM in `dir` (waiting until they are
 * gone, at most STEP_MS, so that a new runsv's svlogd can log at once);
 * removes the orphan's sockets; keeps the VM down.
 */
async function tidyAfter(dir: string): Promise<void> {
  removeSockets(dir);
  const loggers = strayLoggers(dir).filter((pid) => signal(pid, "SIGTERM"));
  await pollUntil(() => loggers.every((pid) => !isAlive(pid)), STEP_MS);
  if (isSupervised(dir)) control(dir, "d");
}

/**
 * The graceful part of stopping orphan `pid`: the power button through QMP
 * for up to `seconds` (as `vm __stop` does), then QMP quit. Returns how it
 * went, or undefined when QMP could not be used (then it is forced).
 */
async function powerOff(dir: string, seconds: number): Promise<StopHow | undefined> {
  try {
    const r = await stopVm(dir, seconds);
    return r.how === "poweroff" ? "poweroff" : r.how === "quit" ? "wait" : "gone";
  } catch (e) {
    if (e instanceof SystemError) return undefined; // QMP unreachable or QEMU stuck: forced below
    throw e;
  }
}

/**
 * `vm stop` of VM `name` (in `dir`) whose QEMU `pid` runs without runsv:
 * graceful within its wait (capped by `timeoutS`; none with `force`), then
 * HMP quit, TERM, KILL (lib/actions/force_stop.ts). Throws SystemError when
 * it survives all of that.
 */
export async function stopOrphan(
  name: string,
  dir: string,
  pid: number,
  opts: StopOptions,
): Promise<StopResult> {
  const wait = readWait(dir);
  const t0 = performance.now();
  const graceful = opts.force ? 0 : Math.min(wait, opts.timeoutS ?? wait);
  let how = graceful > 0 ? await powerOff(dir, graceful) : undefined;
  if (how !== undefined && !await pollUntil(() => !isAlive(pid), STEP_MS)) how = undefined;
  const cut = graceful < wait && how !== "poweroff" && how !== "gone";
  // Cut short by --timeout, QMP's quit is a forced stop like the monitor's.
  if (cut && how === "wait") how = "monitor";
  how ??= await forceQemu(dir, pid);
  const result: StopResult = { name, already: false, seconds: 0, how, wait, orphan: pid };
  if (cut) result.forced = opts.force ? { by: "force" } : { by: "timeout", seconds: graceful };
  await tidyAfter(dir);
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

/** `vm kill` of VM `name` whose QEMU `pid` runs without runsv: SIGKILL, then as stopOrphan. */
export async function killOrphan(name: string, dir: string, pid: number): Promise<StopResult> {
  const wait = readWait(dir);
  const t0 = performance.now();
  signal(pid, "SIGKILL");
  if (!await pollUntil(() => !isAlive(pid), STEP_MS)) {
    throw new SystemError(`QEMU of "${name}" (PID ${pid}) survived SIGKILL; check the process`);
  }
  try {
    await tidyAfter(dir);
  } catch (e) {
    throw new SystemError(`QEMU of "${name}" was killed, but: ${describe(e)}`);
  }
  const seconds = (performance.now() - t0) / 1000;
  return { name, already: false, seconds, how: "kill", wait, orphan: pid };
}

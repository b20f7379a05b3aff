/**
 * Starting, stopping, restarting and killing supervised VMs (`vm start`,
 * `vm stop`, `vm restart`, `vm kill`), through runsv's control FIFO and
 * status file as runit's `sv` does. A graceful stop is runsv's own: `d`
 * makes runsv run `control/t` (`vm __stop`: ACPI power button through QMP,
 * QMP `quit` after the VM's `wait`). When that takes too long (`--timeout`)
 * or is not wanted (`--force`), QEMU is made to go (lib/actions/force_stop.ts).
 * Reads `<vm>/supervise/status`, `<vm>/wait`, `<vm>/log/main/current`,
 * `/proc/<pid>/{stat,cmdline}`; writes `<vm>/supervise/control`; connects to
 * `<vm>/supervise/monitor`; signals QEMU, `finish` and `control/t` processes.
 * @module
 */

import { join } from "../os/path.ts";
import { NotSupervisedError, StartFailedError } from "../errors.ts";
import { isSupervised, readStatus, type Status } from "../runit/status.ts";
import { vmState } from "../vm/state.ts";
import { inspectDir } from "../vm/inspect.ts";
import { readWait } from "../vm/dir.ts";
import { isAlive, procStat, signal } from "../os/proc.ts";
import { pollUntil } from "../os/poll.ts";
import { logHint, waitUp } from "./start_wait.ts";
import { forceQemu, settleDown } from "./force_stop.ts";
import { control } from "../runit/control.ts";
import { findRunsvdir, isQemuPid, strayQemu } from "../qemu/processes.ts";
import { killOrphan, stopOrphan } from "./orphan.ts";
import { readStopRecord, type StopRecord } from "../vm/stop_record.ts";
import type { StopHow, StopOptions, StopResult } from "./stop_result.ts";

/** How long a just-made VM may take to get its runsv (runsvdir scans every 5 s). */
const PICKUP_MS = 6000;
/** A stop without --timeout waits the VM's wait plus this (control/t's own bound) before forcing. */
const DEFAULT_EXTRA_S = 10;
/** Default bound of `vm start` (seconds). */
export const START_TIMEOUT_S = 30;

/** What a start did. */
export interface StartResult {
  name: string;
  /** It was running already. */
  already: boolean;
  /** QEMU's PID. */
  pid: number;
  /** Seconds until QEMU was up. */
  seconds: number;
  /** QEMU's run state then (QMP): `running`, or `prelaunch`/`paused` when its arguments ask. */
  status: string;
}

/** The exit code of an action on several VMs: the number of failures, at most 99 (like sv). Pure. */
export function failureExit(failures: number): number {
  return Math.min(99, Math.max(0, failures));
}

/**
 * Returns once a runsv supervises `dir`, waiting a little for a just-made VM
 * when a runsvdir supervises `vmdir`; throws NotSupervisedError otherwise.
 * Opens `<dir>/supervise/ok`; may read /proc (findRunsvdir).
 */
export async function requireSupervised(vmdir: string, name: string): Promise<string> {
  const dir = join(vmdir, name);
  if (isSupervised(dir)) return dir;
  if (findRunsvdir(vmdir).length > 0 && await pollUntil(() => isSupervised(dir), PICKUP_MS)) {
    return dir;
  }
  throw new NotSupervisedError(name, vmdir);
}

/**
 * `vm start` (`letter` "u"), or the one start `vm make` does with an ISO
 * ("o"): tells runsv `letter` and waits until QEMU is up (lib/actions/
 * start_wait.ts: QMP answers `running`). Throws StartFailedError when QEMU
 * exits (a `u` start is then left down), the VM is in crash-loop backoff,
 * or it is not up within `timeoutS`.
 */
export async function startVm(
  name: string,
  dir: string,
  timeoutS = START_TIMEOUT_S,
  letter: "u" | "o" = "u",
): Promise<StartResult> {
  const since = { t0: performance.now(), unix: Date.now() / 1000, leaveDown: letter === "u" };
  const first = readStatus(dir);
  if (first !== undefined && first.want === "up" && first.state === "run" && isAlive(first.pid)) {
    return { name, already: true, pid: first.pid, seconds: 0, status: "running" };
  }
  const before = vmState(inspectDir(dir));
  if (before.state === "backoff") {
    throw new StartFailedError(
      `VM "${name}" keeps exiting at once and waits ${before.backoff_s} s in crash-loop backoff ` +
        `before its next start; ${logHint(dir).hint}`,
    );
  }
  control(dir, letter);
  const up = await waitUp(name, dir, since, timeoutS);
  return { name, already: false, ...up };
}

/** Where a stop or kill begins: the VM's wait, runsv's record, QEMU (0 when not up) and its runsv. */
interface Begun {
  wait: number;
  t0: number;
  st: Status;
  qemuPid: number;
  runsv: number | undefined;
}

/**
 * Reads what a stop or kill of the VM in `dir` starts from; or the PID of a
 * QEMU running there without runsv (`orphan`); or, when it is down and
 * wanted down, the result `already` (runsv told `d` again, if any).
 */
function begin(
  name: string,
  dir: string,
  how: StopHow,
): Begun | { orphan: number } | { done: StopResult } {
  const wait = readWait(dir);
  const t0 = performance.now();
  const st = readStatus(dir);
  const orphan = strayQemu(dir, st);
  if (orphan !== undefined) return { orphan };
  if (st === undefined || (st.state === "down" && st.want === "down")) {
    if (isSupervised(dir)) control(dir, "d");
    return { done: { name, already: true, seconds: 0, how, wait } };
  }
  const qemuPid = st.state === "run" && isQemuPid(st.pid) ? st.pid : 0;
  return { wait, t0, st, qemuPid, runsv: qemuPid !== 0 ? procStat(qemuPid)?.ppid : undefined };
}

/**
 * `vm stop`: tells runsv `d` (runsv runs control/t, the graceful stop) and
 * waits until the VM is down. After `timeoutS` (default: the VM's wait plus
 * 10 s), or at once with `force`, QEMU is made to go (HMP quit, TERM, KILL)
 * and a hanging finish is ended. A QEMU that runs without runsv is stopped
 * through its sockets (lib/actions/orphan.ts); when QEMU is not up (backoff,
 * a hanging pre_qemu) only its restart is stopped (`how` "restart"). Throws
 * SystemError when the VM does not go down even then.
 */
export async function shutdownVm(
  name: string,
  dir: string,
  opts: StopOptions = {},
): Promise<StopResult> {
  const b = begin(name, dir, "poweroff");
  if ("orphan" in b) return await stopOrphan(name, dir, b.orphan, opts);
  if ("done" in b) return b.done;
  const { wait, t0, st, qemuPid, runsv } = b;
  // Without QEMU, what runsv wanted tells a restart (backoff, pre_qemu) from a stop under way.
  const notUp: StopHow = st.want === "up" ? "restart" : "gone";
  const sinceMs = Date.now();
  control(dir, "d");
  const capS = opts.force ? 0 : opts.timeoutS ?? wait + DEFAULT_EXTRA_S;
  // What the countdown shows: the guest's real wait (a shorter --timeout cuts it).
  const shownS = Math.min(wait, capS);
  const isDown = () => {
    opts.onWait?.((performance.now() - t0) / 1000, shownS, qemuPid !== 0 && !isAlive(qemuPid));
    return readStatus(dir)?.state === "down";
  };
  if (await pollUntil(isDown, capS * 1000)) {
    const seconds = (performance.now() - t0) / 1000;
    if (qemuPid === 0) return { name, already: false, seconds, how: notUp, wait };
    return recorded(name, seconds, wait, readStopRecord(dir, qemuPid, sinceMs));
  }
  const forced = opts.force ? { by: "force" as const } : { by: "timeout" as const, seconds: capS };
  const now = readStatus(dir);
  let how: StopHow = qemuPid === 0 ? notUp : "gone";
  if (now?.state === "run" && isQemuPid(now.pid)) how = await forceQemu(dir, now.pid);
  const hung = await settleDown(name, dir, now?.state === "run" ? now.pid : qemuPid, runsv);
  const result: StopResult = {
    name,
    already: false,
    seconds: (performance.now() - t0) / 1000,
    how,
    forced,
    wait,
  };
  if (hung !== undefined) result.hungKilled = hung;
  return result;
}

/**
 * The result of a graceful stop that ended in `seconds`, from what control/t
 * recorded (`rec`; undefined: nothing recorded). Pure.
 */
export function recorded(
  name: string,
  seconds: number,
  wait: number,
  rec: StopRecord | undefined,
): StopResult {
  if (rec === undefined) return { name, already: false, seconds, how: "unrecorded", wait };
  const how: StopHow = rec.how === "quit" ? "wait" : rec.how;
  const r: StopResult = { name, already: false, seconds, how, wait: rec.wait };
  if (how === "poweroff") r.guestSeconds = rec.ms / 1000;
  if (rec.agent) r.agent = true;
  return r;
}

/** `vm restart`: `vm stop` (with `opts`), then `vm start`. */
export async function restartVm(
  name: string,
  dir: string,
  opts: StopOptions = {},
  startTimeoutS = START_TIMEOUT_S,
): Promise<{ stop: StopResult; start: StartResult }> {
  const stop = await shutdownVm(name, dir, opts);
  const start = await startVm(name, dir, startTimeoutS);
  return { stop, start };
}

/**
 * `vm kill`: tells runsv `d`, then SIGKILLs QEMU at once (not graceful), and
 * waits until the VM is down, ending a hanging finish; a QEMU without runsv
 * is killed by its PID (lib/actions/orphan.ts).
 */
export async function killVm(name: string, dir: string): Promise<StopResult> {
  const b = begin(name, dir, "kill");
  if ("orphan" in b) return await killOrphan(name, dir, b.orphan);
  if ("done" in b) return b.done;
  const { wait, t0, qemuPid, runsv } = b;
  control(dir, "d");
  if (qemuPid !== 0) signal(qemuPid, "SIGKILL");
  const hung = await settleDown(name, dir, qemuPid, runsv);
  const result: StopResult = {
    name,
    already: false,
    seconds: (performance.now() - t0) / 1000,
    how: qemuPid === 0 ? "restart" : "kill",
    wait,
  };
  if (hung !== undefined) result.hungKilled = hung;
  return result;
}

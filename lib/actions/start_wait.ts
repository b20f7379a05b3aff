/**
 * Waiting for a start to be real: after runsv was told to run a VM (`u` for
 * `vm start`, `o` for `vm make` with an ISO), a start counts only once
 * QEMU's QMP socket answers `query-status` with `running` (or, when the
 * command line asks QEMU to wait, `prelaunch`/`inmigrate`/`paused`). QEMU
 * that exits first (a display or audio it cannot open, a locked disk) fails
 * the start with the last lines of the VM's log. Reads
 * `<vm>/supervise/status`, `<vm>/log/main/current`, `/proc/<pid>/cmdline`;
 * connects to `<vm>/supervise/qmp`.
 * @module
 */

import { join } from "../os/path.ts";
import { exists, lstatIfExists, readTextIfExists } from "../os/fs.ts";
import { StartFailedError } from "../errors.ts";
import { F } from "../layout.ts";
import { readStatus, type Status } from "../runit/status.ts";
import { cmdlineOf, isAlive } from "../os/proc.ts";
import { pollUntil, sleep } from "../os/poll.ts";
import { logLinesSince } from "../vm/log.ts";
import { control } from "../runit/control.ts";
import { BROKEN_STATES, isStarted, qmpStatus } from "../qemu/qmp_status.ts";

/** How often the status file is read while waiting (ms). */
const POLL_MS = 50;
/** How long one QMP question may take (ms). */
const QMP_MS = 2000;
/** Log lines shown when a start fails. */
const LOG_LINES = 5;

/** A start that came up. */
export interface UpResult {
  /** QEMU's PID. */
  pid: number;
  /** QEMU's run state (QMP `query-status`): `running`, or `prelaunch`/`paused` when asked. */
  status: string;
  /** Seconds from the start until QEMU answered. */
  seconds: number;
}

/**
 * Whether the run `st` has QEMU listening on QMP: alive, and its socket
 * made after runsv started the run (`vm __run` removes stale sockets first).
 */
function qmpListening(dir: string, st: Status): boolean {
  if (st.state !== "run" || st.pid === 0 || !isAlive(st.pid)) return false;
  const s = lstatIfExists(join(dir, F.qmp));
  return s?.isSocket === true && (s.mtime?.getTime() ?? 0) / 1000 >= st.since - 0.05;
}

/** Why a start failed, as the end of the message, and the log's last lines since `since`. */
export function logHint(dir: string, since = -Infinity): { hint: string; lines: string[] } {
  if (!exists(join(dir, F.log))) {
    return {
      hint: "the VM has no log: QEMU's messages went to vmd's output (make VMs with --log to " +
        "keep them)",
      lines: [],
    };
  }
  const lines = logLinesSince(readTextIfExists(join(dir, F.logCurrent)) ?? "", since, LOG_LINES);
  const last = lines.at(-1);
  return last === undefined
    ? { hint: "its log has nothing since the start", lines }
    : { hint: `its log ends: ${last}`, lines };
}

/** The StartFailedError of VM `name`: `why`, then the log's hint and lines. */
function failed(name: string, dir: string, since: number, why: string): StartFailedError {
  const { hint, lines } = logHint(dir, since);
  return new StartFailedError(`VM "${name}" did not start: ${why}; ${hint}`, lines);
}

/** How long runsv gets to take a `d` (it reads its control FIFO at once, unless loaded). */
const TAKE_MS = 5000;

/** Tells runsv of `dir` `d`; whether its status then wants down (within TAKE_MS). */
function leaveDown(dir: string): Promise<boolean> {
  control(dir, "d");
  return pollUntil(() => readStatus(dir)?.want === "down", TAKE_MS);
}

/**
 * Waits until the VM `name` in `dir`, told to run at Unix time `since.unix`
 * (`since.t0` its performance.now()), is up: QMP answers with a started
 * state. Throws StartFailedError when QEMU exits first (with `leaveDown`,
 * runsv is told `d` first, ending its restarts: the VM is left down),
 * reaches a broken state, or is not up within `timeoutS`. Writes
 * `<vm>/supervise/control` only then.
 */
export async function waitUp(
  name: string,
  dir: string,
  since: { unix: number; t0: number; leaveDown?: boolean },
  timeoutS: number,
): Promise<UpResult> {
  let seenRun: number | undefined;
  let lastState: string | undefined;
  const end = since.t0 + timeoutS * 1000;
  while (performance.now() < end) {
    const st = readStatus(dir);
    if (st !== undefined) {
      // Gone after this start: another state (or PID) than the run seen, or a
      // finish or down that began after it.
      const died = (seenRun !== undefined && (st.state !== "run" || st.pid !== seenRun)) ||
        (st.state !== "run" && st.since >= since.unix);
      if (died) {
        // "left down" is said once runsv has taken the `d` (its status wants down).
        const leftDown = since.leaveDown === true && await leaveDown(dir);
        const left = leftDown ? " (it is left down)" : "";
        throw failed(name, dir, since.unix, `QEMU exited at once${left}`);
      }
      if (st.state === "run") seenRun = st.pid;
      if (qmpListening(dir, st)) {
        const left = Math.max(100, Math.min(QMP_MS, end - performance.now()));
        const status = await qmpStatus(join(dir, F.qmp), left);
        if (status !== undefined && isStarted(status, cmdlineOf(st.pid) ?? [])) {
          return { pid: st.pid, status, seconds: (performance.now() - since.t0) / 1000 };
        }
        if (status !== undefined && BROKEN_STATES.includes(status)) {
          throw failed(
            name,
            dir,
            since.unix,
            `QEMU runs (pid ${st.pid}) but its state is ${status}`,
          );
        }
        lastState = status ?? lastState;
      }
    }
    await sleep(POLL_MS);
  }
  const state = lastState === undefined ? "QEMU did not answer on QMP" : `QEMU is ${lastState}`;
  throw failed(name, dir, since.unix, `not up within ${timeoutS} s (${state})`);
}

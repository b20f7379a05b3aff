/**
 * Starting, stopping, restarting and killing supervised VMs (`vm start`,
 * `vm stop`, `vm restart`, `vm kill`), through runsv's control FIFO and
 * status file as runit's `sv` does. A graceful stop is runsv's own: `d`
 * makes runsv run `control/t` (`vm __stop`: ACPI power button through QMP,
 * QMP `quit` after the VM's `wait`). When that takes too long (`--timeout`)
 * or is not wanted (`--force`), QEMU is made to go: `quit` on the HMP
 * monitor (QMP serves one client, and `vm __stop` holds it), then SIGTERM,
 * then SIGKILL; a `finish` (cleanup hook) that hangs is ended the same way,
 * so runsv never stays in `finish`.
 * Reads `<vm>/supervise/status`, `<vm>/wait`, `<vm>/log/main/current`,
 * `/proc/<pid>/{stat,cmdline}`; writes `<vm>/supervise/control`; connects to
 * `<vm>/supervise/monitor`; signals QEMU, `finish` and `control/t` processes.
 * @module
 */

import { join } from "../os/path.ts";
import { exists, readTextIfExists } from "../os/fs.ts";
import { isBackoffLine } from "../service/backoff.ts";
import { NotSupervisedError, SystemError } from "../errors.ts";
import { F } from "../vm/files.ts";
import { control, findRunsvdir, isSupervised, readStatus, type Status } from "../runit/status.ts";
import { vmState } from "../vm/state.ts";
import { readWait } from "../vm/dir.ts";
import { descendants, isAlive, procStat } from "../os/proc.ts";
import { pollUntil, sleep } from "../os/poll.ts";

/** How often the status file is read while waiting (ms). */
const POLL_MS = 50;
/** How long a just-made VM may take to get its runsv (runsvdir scans every 5 s). */
const PICKUP_MS = 6000;
/** How long QEMU gets after each step of a forced stop (HMP quit, TERM, KILL). */
const STEP_MS = 1000;
/**
 * How long runsv may sit in `finish` (a Deno start plus the cleanup hook), or
 * blocked in `control/t` (a Deno start that finds QEMU gone), once QEMU is gone.
 */
const FINISH_GRACE_MS = 3000;
const CONTROL_GRACE_MS = 5000;
/** How long a forced stop may take in all before it counts as failed. */
const FORCE_BOUND_MS = 15_000;
/** A stop without --timeout waits the VM's wait plus this (control/t's own bound) before forcing. */
const DEFAULT_EXTRA_S = 10;
/** Default bound of `vm start` (seconds). */
export const START_TIMEOUT_S = 30;

// ---------------------------------------------------------------- pure parts

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
  | "gone";

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
}

/** What a start did. */
export interface StartResult {
  name: string;
  /** It was running already. */
  already: boolean;
  /** QEMU's PID. */
  pid: number;
  /** Seconds until QEMU was up. */
  seconds: number;
}

/** Seconds with one decimal, as stop and start report them. Pure. */
export function secondsText(s: number): string {
  return `${s.toFixed(1)} s`;
}

/** Why the stop took what it took, in words (the part in parentheses). Pure. */
export function stopReason(r: StopResult): string {
  let why: string;
  switch (r.how) {
    case "poweroff":
      why = "guest powered off";
      break;
    case "wait":
      why = `the guest did not power off within its wait of ${r.wait} s; QEMU was told to quit`;
      break;
    case "monitor":
      why = "QEMU quit through its monitor";
      break;
    case "term":
      why = "QEMU was terminated (SIGTERM)";
      break;
    case "kill":
      why = "QEMU was killed (SIGKILL)";
      break;
    case "gone":
      why = "QEMU was gone";
      break;
  }
  if (r.forced !== undefined) {
    const cause = r.forced.by === "force"
      ? "--force"
      : `not down within --timeout ${r.forced.seconds} s`;
    // QEMU gone before forcing: the guest's stop was graceful, runsv was slow to follow.
    why = r.how === "gone" ? `${cause}; QEMU had exited` : `not graceful, ${cause}: ${why}`;
  }
  if (r.hungKilled !== undefined) why += `; its hanging ${r.hungKilled} was ended`;
  return why;
}

/** The line `vm stop` prints for one VM. Pure. */
export function stopMessage(r: StopResult): string {
  if (r.already) return `"${r.name}" is already down`;
  return `Stopped "${r.name}" in ${secondsText(r.seconds)} (${stopReason(r)})`;
}

/** The line `vm start` prints for one VM. Pure. */
export function startMessage(r: StartResult): string {
  if (r.already) return `"${r.name}" is already running (pid ${r.pid})`;
  return `Started "${r.name}" in ${secondsText(r.seconds)} (pid ${r.pid})`;
}

/** The line `vm restart` prints for one VM. Pure. */
export function restartMessage(stop: StopResult, start: StartResult): string {
  const stopped = stop.already
    ? "it was down"
    : `stopped in ${secondsText(stop.seconds)}, ${stopReason(stop)}`;
  return `Restarted "${start.name}" (${stopped}; started in ${
    secondsText(start.seconds)
  }, pid ${start.pid})`;
}

/** The line `vm kill` prints for one VM. Pure. */
export function killMessage(r: StopResult): string {
  if (r.already) return `"${r.name}" is already down`;
  const extra = r.hungKilled !== undefined ? `; its hanging ${r.hungKilled} was ended` : "";
  return `Killed "${r.name}" in ${secondsText(r.seconds)} ` +
    `(not graceful: QEMU got SIGKILL, the guest did not shut down${extra})`;
}

/** The exit code of an action on several VMs: the number of failures, at most 99 (like sv). Pure. */
export function failureExit(failures: number): number {
  return Math.min(99, Math.max(0, failures));
}

/**
 * The last line of a svlogd log without its timestamp, backoff lines skipped
 * (they say when, not why: the line before one does). Pure.
 */
export function lastLogLine(text: string): string | undefined {
  return text.split("\n")
    .map((l) => l.trim().replace(/^(@[0-9a-f]{24}|\d{4}-\d\d-\d\d_\d\d:\d\d:\d\d\.\d+)\s+/, ""))
    .filter((l) => l !== "" && !isBackoffLine(l))
    .at(-1);
}

/** A stop's options: `--timeout S` caps the graceful wait; `--force` skips it. */
export interface StopOptions {
  timeoutS?: number;
  force?: boolean;
}

// ---------------------------------------------------------------- processes

function signal(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch { /* gone already */ }
}

/**
 * Sends `quit` to QEMU's HMP monitor (`<vm>/supervise/monitor`); through
 * `/proc/<pid>/cwd` when the path is too long for a socket address. Never
 * throws: an unreachable monitor just means the next step (SIGTERM) follows.
 */
async function hmpQuit(dir: string, qemuPid: number): Promise<void> {
  const direct = join(dir, F.monitor);
  const path = direct.length < 108 ? direct : `/proc/${qemuPid}/cwd/${F.monitor}`;
  let conn: Deno.UnixConn | undefined;
  const timer = setTimeout(() => conn?.close(), STEP_MS);
  try {
    conn = await Deno.connect({ transport: "unix", path });
    const buf = new Uint8Array(4096);
    let text = "";
    // QEMU greets with a banner and a "(qemu)" prompt, then reads commands.
    while (!text.includes("(qemu)")) {
      const n = await conn.read(buf);
      if (n === null) return;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    await conn.write(new TextEncoder().encode("quit\n"));
    while (await conn.read(buf) !== null) { /* until QEMU closes it */ }
  } catch {
    // Unreachable or closed: SIGTERM follows.
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch { /* closed */ }
  }
}

/** Makes QEMU (`pid`) go: HMP quit, then SIGTERM, then SIGKILL, each given STEP_MS. */
async function forceQemu(dir: string, pid: number): Promise<StopHow> {
  if (!isAlive(pid)) return "gone";
  await hmpQuit(dir, pid);
  if (await pollUntil(() => !isAlive(pid), STEP_MS)) return "monitor";
  signal(pid, "SIGTERM");
  signal(pid, "SIGCONT"); // a paused (SIGSTOPped) QEMU must run to handle TERM
  if (await pollUntil(() => !isAlive(pid), STEP_MS)) return "term";
  signal(pid, "SIGKILL");
  if (await pollUntil(() => !isAlive(pid), STEP_MS)) return "kill";
  throw new SystemError(`QEMU (pid ${pid}) survived SIGKILL; check the process`);
}

/** Ends `pid` and its descendants: SIGTERM, then after STEP_MS SIGKILL. */
async function endTree(pid: number): Promise<void> {
  const tree = [pid, ...descendants(pid)];
  for (const p of tree) signal(p, "SIGTERM");
  if (await pollUntil(() => tree.every((p) => !isAlive(p)), STEP_MS)) return;
  for (const p of [pid, ...descendants(pid), ...tree]) signal(p, "SIGKILL");
}

/** The `control/t` processes (`vm __stop`) runsv `runsv` is blocked in. Reads /proc. */
function controlProcesses(runsv: number): number[] {
  return descendants(runsv).filter((p) => {
    try {
      return Deno.readTextFileSync(`/proc/${p}/cmdline`).split("\0").includes("__stop");
    } catch {
      return false;
    }
  });
}

/**
 * After QEMU is gone: waits until runsv reports the VM down, ending a
 * `finish` or `control/t` that hangs longer than FINISH_GRACE_MS. Returns
 * which one was ended, if any; throws SystemError when the VM is not down
 * within FORCE_BOUND_MS.
 */
async function settleDown(
  name: string,
  dir: string,
  qemuPid: number,
  runsv: number | undefined,
): Promise<"finish" | "control/t" | undefined> {
  const end = performance.now() + FORCE_BOUND_MS;
  let since = performance.now();
  let last = "";
  let ended: "finish" | "control/t" | undefined;
  while (performance.now() < end) {
    const st = readStatus(dir);
    if (st === undefined || st.state === "down") return ended;
    const key = `${st.state} ${st.pid}`;
    if (key !== last) {
      last = key;
      since = performance.now();
    }
    const grace = st.state === "finish" ? FINISH_GRACE_MS : CONTROL_GRACE_MS;
    if (performance.now() - since >= grace) {
      if (st.state === "finish") {
        await endTree(st.pid);
        ended = "finish";
      } else if (st.pid === qemuPid && runsv !== undefined && !isAlive(qemuPid)) {
        // QEMU is gone, but runsv still waits for control/t (vm __stop).
        for (const p of controlProcesses(runsv)) await endTree(p);
        ended = "control/t";
      } else if (isAlive(st.pid)) {
        await forceQemu(dir, st.pid);
      }
      since = performance.now();
    }
    await sleep(POLL_MS);
  }
  throw new SystemError(
    `VM "${name}" did not go down within ${FORCE_BOUND_MS / 1000} s after QEMU was ended; ` +
      `see "vm sv status ${name}"`,
  );
}

// ---------------------------------------------------------------- actions

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
 * Whether QEMU is up for the run `st`: its monitor socket exists and was
 * made after runsv started the run (`vm __run` removes stale sockets first).
 */
function qemuUp(dir: string, st: Status): boolean {
  if (st.state !== "run" || st.pid === 0 || !isAlive(st.pid)) return false;
  try {
    const s = Deno.lstatSync(join(dir, F.monitor));
    return s.isSocket === true && (s.mtime?.getTime() ?? 0) / 1000 >= st.since - 0.05;
  } catch {
    return false;
  }
}

/** Why a start failed, with the last line of the VM's log when it has one. */
function logHint(dir: string): string {
  if (!exists(join(dir, F.log))) {
    return "the VM has no log (make it with --log to keep QEMU's output)";
  }
  const line = lastLogLine(readTextIfExists(join(dir, F.logCurrent)) ?? "");
  return line === undefined ? "its log is empty" : `its log ends: ${line}`;
}

/**
 * `vm start`: tells runsv `u` and waits until QEMU is up (pid and monitor
 * socket there). Throws SystemError when QEMU exits, the VM is in crash-loop
 * backoff, or it is not up within `timeoutS`.
 */
export async function startVm(
  name: string,
  dir: string,
  timeoutS = START_TIMEOUT_S,
): Promise<StartResult> {
  const t0 = performance.now();
  const tUnix = Date.now() / 1000;
  const first = readStatus(dir);
  if (first !== undefined && first.want === "up" && qemuUp(dir, first)) {
    return { name, already: true, pid: first.pid, seconds: 0 };
  }
  const before = vmState(name, dir);
  if (before.state === "backoff") {
    throw new SystemError(
      `VM "${name}" keeps exiting at once and waits ${before.backoff_s} s in crash-loop backoff ` +
        `before its next start; ${logHint(dir)}`,
    );
  }
  control(dir, "u");
  let seenRun: number | undefined;
  const end = t0 + timeoutS * 1000;
  while (performance.now() < end) {
    const st = readStatus(dir);
    if (st !== undefined) {
      if (qemuUp(dir, st)) {
        return { name, already: false, pid: st.pid, seconds: (performance.now() - t0) / 1000 };
      }
      const died = (seenRun !== undefined && (st.state !== "run" || st.pid !== seenRun)) ||
        (st.state === "finish" && st.since >= tUnix);
      if (died) {
        throw new SystemError(`VM "${name}" did not start: QEMU exited at once; ${logHint(dir)}`);
      }
      if (st.state === "run") seenRun = st.pid;
    }
    await sleep(POLL_MS);
  }
  throw new SystemError(
    `VM "${name}" did not start within ${timeoutS} s (QEMU not up); ${logHint(dir)}`,
  );
}

/**
 * `vm stop`: tells runsv `d` (runsv runs control/t, the graceful stop) and
 * waits until the VM is down. After `timeoutS` (default: the VM's wait plus
 * 10 s), or at once with `force`, QEMU is made to go (HMP quit, TERM, KILL)
 * and a hanging finish is ended. Throws SystemError when the VM does not go
 * down even then.
 */
export async function shutdownVm(
  name: string,
  dir: string,
  opts: StopOptions = {},
): Promise<StopResult> {
  const wait = readWait(dir);
  const t0 = performance.now();
  const st = readStatus(dir);
  if (st === undefined || st.state === "down") {
    control(dir, "d"); // between restarts runsv may want it up: keep it down
    return { name, already: true, seconds: 0, how: "poweroff", wait };
  }
  const qemuPid = st.state === "run" ? st.pid : 0;
  const runsv = qemuPid !== 0 ? procStat(qemuPid)?.ppid : undefined;
  control(dir, "d");
  const capS = opts.force ? 0 : opts.timeoutS ?? wait + DEFAULT_EXTRA_S;
  const isDown = () => readStatus(dir)?.state === "down";
  if (await pollUntil(isDown, capS * 1000)) {
    const seconds = (performance.now() - t0) / 1000;
    return { name, already: false, seconds, how: seconds < wait ? "poweroff" : "wait", wait };
  }
  const forced = opts.force ? { by: "force" as const } : { by: "timeout" as const, seconds: capS };
  const now = readStatus(dir);
  let how: StopHow = "gone";
  if (now?.state === "run" && isAlive(now.pid)) how = await forceQemu(dir, now.pid);
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
 * waits until the VM is down, ending a hanging finish.
 */
export async function killVm(name: string, dir: string): Promise<StopResult> {
  const wait = readWait(dir);
  const t0 = performance.now();
  const st = readStatus(dir);
  if (st === undefined || st.state === "down") {
    control(dir, "d");
    return { name, already: true, seconds: 0, how: "kill", wait };
  }
  const qemuPid = st.state === "run" ? st.pid : 0;
  const runsv = qemuPid !== 0 ? procStat(qemuPid)?.ppid : undefined;
  control(dir, "d");
  if (qemuPid !== 0) signal(qemuPid, "SIGKILL");
  const hung = await settleDown(name, dir, qemuPid, runsv);
  const result: StopResult = {
    name,
    already: false,
    seconds: (performance.now() - t0) / 1000,
    how: "kill",
    wait,
  };
  if (hung !== undefined) result.hungKilled = hung;
  return result;
}

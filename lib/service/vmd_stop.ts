/**
 * vmd's own graceful stop of a VM when the host shuts down. runit's way, a
 * `vm __stop` (control/t) and then a `vm __finish` (finish) per VM, starts
 * two Deno processes per VM, which 20 VMs share 2 cores for; vmd runs
 * already, so it asks every QEMU over QMP itself, in parallel, and runit's
 * scripts defer to it through `supervise/vmd-stop`:
 *
 * 1. vmd claims the VM ({@link claimStop}): `supervise/vmd-stop` holds QEMU's
 *    PID and stays locked (flock, exclusive) while vmd stops it; then vmd
 *    tells runsv `x`: down, so nothing restarts, and exit once down, as
 *    runsvdir's TERM (vmd's HUP to it follows) asks too. runsv runs
 *    `control/t`, whose sh sees the claim and waits for the lock (`flock
 *    -s`) instead of starting `vm __stop`.
 * 2. vmd does what `vm __stop` does ({@link stopAndRecord}: the power button,
 *    the guest agent, `quit` past the wait, the stop record) and, once QEMU
 *    is gone, what `vm __finish` does for a VM wanted down: the sockets and
 *    the crash-loop backoff removed ({@link vmdStop}).
 * 3. It writes `<PID> <exit code>` and the lines for the VM's log into the
 *    file and unlocks it: control/t logs the lines (prefixed with the VM's
 *    name, as `vm __stop` would), keeps only the first line (runsv runs
 *    control/t once more when runsvdir's TERM comes before QEMU is reaped)
 *    and exits with the code (0: runsv sends no TERM). `finish` reads the
 *    code: 0 leaves nothing to do but the cleanup hook, so it starts
 *    `vm __finish` only for a VM with `hooks`; it empties the file, and vmd
 *    removes it once every runsv is gone ({@link settleStops}).
 *
 * The outcome is written into the locked file in place, not renamed over
 * it: the lock belongs to that file, and readers take it before they read.
 * When vmd dies mid-stop, its lock goes with it: control/t finds no exit
 * code and runs `vm __stop`, which takes over; an outcome for another QEMU
 * (control/t compares runsv's `supervise/pid`) is never taken. A VM whose
 * QEMU is not up, or whose `control/t` does not name the file (scripts
 * older than this vmd, or the user's own), is not claimed: runsvdir's TERM
 * makes its runsv run its control/t.
 * Reads `<vm>/{control/t,wait,supervise/{status,pid}}`; writes
 * `<vm>/supervise/{vmd-stop,control,stop}`; removes `<vm>/backoff` and the sockets.
 * @module
 */

import { join } from "../os/path.ts";
import { describe, EXIT_CHECK, SystemError } from "../errors.ts";
import {
  openPlainFile,
  readTextCapped,
  readTextIfExists,
  removeIfExists,
  unlessMissing,
} from "../os/fs.ts";
import { findExecutable } from "../os/exec.ts";
import { pollUntil } from "../os/poll.ts";
import { isAlive } from "../os/proc.ts";
import { isQemuPid } from "../qemu/processes.ts";
import { control } from "../runit/control.ts";
import { readStatus } from "../runit/status.ts";
import { writeBackoff } from "../vm/backoff.ts";
import { removeSockets, waitOf } from "../vm/dir.ts";
import { F } from "../layout.ts";
import { stopAndRecord } from "./control_t.ts";

/** A VM vmd stops itself: its QEMU, and `supervise/vmd-stop`, open and locked. */
interface VmdClaim {
  readonly dir: string;
  /** QEMU's PID. */
  readonly pid: number;
  readonly file: Deno.FsFile;
}

/** How long QEMU gets to be gone once its QMP socket closed. */
const EXIT_GRACE_MS = 3000;
/** The most of a `control/t` read to look for the hand-off (ours is a few hundred bytes). */
const SCRIPT_MAX = 64 * 1024;

/** Whether the `control/t` of `dir` defers to vmd: it names `supervise/vmd-stop`. Reads it. */
function defersToVmd(dir: string): boolean {
  const text = unlessMissing(() => readTextCapped(join(dir, F.controlT), SCRIPT_MAX));
  return text?.includes(F.vmdStop) === true;
}

/**
 * What vmd leaves in `supervise/vmd-stop` for control/t and finish: a line
 * `<PID> <exit code>`, then the lines for the VM's log (each kept on one
 * line). Pure.
 */
export function outcomeText(pid: number, code: number, lines: readonly string[]): string {
  return `${pid} ${code}\n` + lines.map((l) => l.replaceAll("\n", " ") + "\n").join("");
}

/** Replaces the whole content of `file` with `text`. */
function rewrite(file: Deno.FsFile, text: string): void {
  const bytes = new TextEncoder().encode(text);
  file.truncateSync(0);
  file.seekSync(0, Deno.SeekMode.Start);
  for (let off = 0; off < bytes.length;) off += file.writeSync(bytes.subarray(off));
}

/**
 * Claims the VM in `dir` for vmd's own stop (step 1 of the module doc): when
 * runsv runs QEMU, wanted up, and its control/t defers to vmd, locks
 * `supervise/vmd-stop` with QEMU's PID in it and tells runsv `x`. Returns
 * undefined, doing nothing, otherwise (the caller stops it runit's way).
 * Throws when its files cannot be read or `supervise/vmd-stop` made.
 */
function claimStop(dir: string): VmdClaim | undefined {
  const st = readStatus(dir);
  if (st?.state !== "run" || st.want !== "up" || !isQemuPid(st.pid) || !defersToVmd(dir)) {
    return undefined;
  }
  // control/t knows QEMU by runsv's text file (a runit built without it: not claimed).
  if (readTextIfExists(join(dir, F.pid))?.trim() !== String(st.pid)) return undefined;
  const file = openPlainFile(join(dir, F.vmdStop));
  try {
    if (!file.tryLockSync(true)) {
      file.close(); // another vmd stops it (never seen: one vmd per VMDIR)
      return undefined;
    }
    rewrite(file, `${st.pid}\n`);
    control(dir, "x");
  } catch (e) {
    file.close();
    throw e;
  }
  return { dir, pid: st.pid, file };
}

/**
 * Stops a claimed VM and hands the outcome to its control/t and finish
 * (steps 2 and 3 of the module doc). Exit code 1 (runsv then sends QEMU
 * TERM, and finish runs `vm __finish`) when the stop failed or QEMU stayed.
 * Closes the claim's file, which unlocks it.
 */
async function vmdStop(claim: VmdClaim): Promise<void> {
  const { dir, pid, file } = claim;
  const { wait, problem } = waitOf(dir);
  const lines = problem === undefined ? [] : [problem];
  let code = 0;
  try {
    lines.push(...await stopAndRecord(dir, pid, wait));
    if (!await pollUntil(() => !isAlive(pid), EXIT_GRACE_MS, 5)) {
      throw new SystemError(`QEMU (PID ${pid}) did not exit after its QMP socket closed`);
    }
    removeSockets(dir);
    writeBackoff(dir, undefined); // wanted down (runsv was told "x"): no backoff, as vm __finish
  } catch (e) {
    code = EXIT_CHECK;
    lines.push(`fatal: ${describe(e)}`);
  } finally {
    try {
      rewrite(file, outcomeText(pid, code, lines));
    } finally {
      file.close();
    }
  }
}

/** What {@link startStops} needs. */
export interface StartOptions {
  /** runsvdir's PATH: vmd stops VMs itself only when it has `flock`, which control/t waits with. */
  path: string;
  log: (line: string) => void;
}

/**
 * Starts vmd's own stop of each VM of `vms` (names in `vmdir`) it can claim
 * (QEMU up, the shipped control/t, `flock` on runsvdir's PATH); returns
 * them by VM. The others are left to runit's way: their runsv, told TERM,
 * runs their control/t.
 */
export function startStops(
  vmdir: string,
  vms: readonly string[],
  opts: StartOptions,
): Map<string, Promise<void>> {
  const stops = new Map<string, Promise<void>>();
  if (findExecutable("flock", opts.path, "/") === undefined) {
    if (vms.length > 0) opts.log(`no "flock" on runsvdir's PATH: each VM stops through control/t`);
    return stops;
  }
  for (const vm of vms) {
    let claim: VmdClaim | undefined;
    try {
      claim = claimStop(join(vmdir, vm));
    } catch (e) {
      // Its files could not be read or written (a full disk…): runit's way, then.
      if (!(e instanceof Error)) throw e;
      opts.log(`VM "${vm}": stops through its control/t: ${describe(e)}`);
    }
    if (claim !== undefined) stops.set(vm, vmdStop(claim));
  }
  return stops;
}

/**
 * Once every runsv is gone: waits for vmd's stops to settle (each is
 * bounded: its wait and a few seconds) and removes their
 * `supervise/vmd-stop`, which nothing reads any more.
 */
export async function settleStops(
  vmdir: string,
  stops: ReadonlyMap<string, Promise<void>>,
  log: (line: string) => void,
): Promise<void> {
  for (const [vm, stop] of stops) {
    await stop.catch((e) => log(`VM "${vm}": its stop was not handed on: ${describe(e)}`));
    removeIfExists(join(vmdir, vm, F.vmdStop));
  }
}

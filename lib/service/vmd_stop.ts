/**
 * vmd's own graceful stop of a VM when the host shuts down. runit's way, a
 * `vm __stop` (control/t) and then a `vm __finish` (finish) per VM, starts
 * two Deno processes per VM, which 20 VMs share 2 cores for; vmd runs
 * already, so it asks every QEMU over QMP itself, in parallel, and runit's
 * scripts defer to it through `supervise/vmd-stop`:
 *
 * 1. vmd claims the VM ({@link claimStop}): `supervise/vmd-stop` holds QEMU's
 *    PID and stays locked (flock, exclusive) while vmd stops it; then vmd
 *    tells runsv `d`, so nothing restarts. runsv runs `control/t`, whose sh
 *    sees the claim and waits for the lock (`flock -s`) instead of starting
 *    `vm __stop`.
 * 2. vmd does what `vm __stop` does ({@link stopAndRecord}: the power button,
 *    the guest agent, `quit` past the wait, the stop record) and, once QEMU
 *    is gone, what `vm __finish` does for a VM wanted down: the sockets and
 *    the crash-loop backoff removed ({@link vmdStop}).
 * 3. It writes `<PID> <exit code>` and the lines for the VM's log into the
 *    file and unlocks it: control/t logs the lines (prefixed with the VM's
 *    name, as `vm __stop` would) and exits with the code (0: runsv sends no
 *    TERM). `finish` reads the code: 0 leaves nothing to do but the cleanup
 *    hook, so it starts `vm __finish` only for a VM with `hooks`; it empties
 *    the file, and vmd removes it once the VM is down.
 *
 * The outcome is written into the locked file in place, not renamed over
 * it: the lock belongs to that file, and readers take it before they read.
 * When vmd dies mid-stop, its lock goes with it: control/t finds no exit
 * code and runs `vm __stop`, which takes over; an outcome for another QEMU
 * (control/t compares runsv's `supervise/pid`) is never taken. A VM whose
 * QEMU is not up, or whose `control/t` does not name the file (scripts
 * older than this vmd, or the user's own), is not claimed: runsv told `d`
 * stops it through its control/t.
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
import { pollUntil, sleep } from "../os/poll.ts";
import { isAlive } from "../os/proc.ts";
import { isQemuPid } from "../qemu/processes.ts";
import { control } from "../runit/control.ts";
import { isSupervised, readStatus } from "../runit/status.ts";
import { writeBackoff } from "../vm/backoff.ts";
import { removeSockets, waitOf } from "../vm/dir.ts";
import { F } from "../vm/files.ts";
import { stopAndRecord } from "./control_t.ts";

/** A VM vmd stops itself: its QEMU, and `supervise/vmd-stop`, open and locked. */
interface VmdClaim {
  readonly dir: string;
  /** QEMU's PID. */
  readonly pid: number;
  readonly file: Deno.FsFile;
}

/** How often vmd looks whether the VMs it stops are down. */
const DOWN_POLL_MS = 25;
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
 * `supervise/vmd-stop` with QEMU's PID in it and tells runsv `d`. Returns
 * undefined, doing nothing, otherwise (the caller stops it runit's way).
 * Throws SystemError when the file cannot be made.
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
    control(dir, "d");
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
    writeBackoff(dir, undefined); // wanted down (runsv was told "d"): no backoff, as vm __finish
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

/** Removes the VM's `supervise/vmd-stop` once the VM is down: nothing reads it any more. */
function releaseStop(dir: string): void {
  removeIfExists(join(dir, F.vmdStop));
}

/** How {@link stopVms} goes about it. */
export interface StopVmsOptions {
  /** runsvdir's PATH: vmd stops VMs itself only when it has `flock`, which control/t waits with. */
  path: string;
  /** performance.now() when the stop began, and past which it gives up waiting. */
  t0: number;
  deadline: number;
  log: (line: string) => void;
}

/**
 * Stops the VMs `vms` of `vmdir`, all at once, each within its wait: those it
 * can claim by vmd itself, every other runit's way (runsv told `d` runs its
 * control/t); waits until each is down (or its runsv gone), saying so, or
 * until the deadline. Returns the VMs still up then.
 */
export async function stopVms(
  vmdir: string,
  vms: readonly string[],
  opts: StopVmsOptions,
): Promise<string[]> {
  const handOff = findExecutable("flock", opts.path, "/") !== undefined;
  if (!handOff && vms.length > 0) {
    opts.log(`no "flock" on runsvdir's PATH: each VM stops through its control/t (vm __stop)`);
  }
  const stops = new Map<string, Promise<void>>();
  for (const vm of vms) {
    const dir = join(vmdir, vm);
    let claim: VmdClaim | undefined;
    try {
      claim = handOff ? claimStop(dir) : undefined;
    } catch (e) {
      // Its files could not be read or written (a full disk…): runit's way, then.
      if (!(e instanceof Error)) throw e;
      opts.log(`VM "${vm}": stops through its control/t: ${describe(e)}`);
    }
    if (claim !== undefined) {
      stops.set(vm, vmdStop(claim));
      continue;
    }
    try {
      control(dir, "d");
    } catch (e) {
      // Its runsv went meanwhile: nothing to stop.
      if (!(e instanceof SystemError)) throw e;
    }
  }
  let left = [...vms];
  while (left.length > 0 && performance.now() < opts.deadline) {
    await sleep(DOWN_POLL_MS);
    left = left.filter((vm) => {
      const dir = join(vmdir, vm);
      if (isSupervised(dir) && readStatus(dir)?.state !== "down") return true;
      opts.log(`VM "${vm}" is down (${((performance.now() - opts.t0) / 1000).toFixed(1)} s)`);
      return false;
    });
  }
  for (const [vm, stop] of stops) {
    if (left.includes(vm)) continue; // past the deadline: not waited for
    // Down: its control/t has read the outcome, so the stop has settled (or settles now).
    await stop.catch((e) => opts.log(`VM "${vm}": its stop was not handed on: ${describe(e)}`));
    releaseStop(join(vmdir, vm));
  }
  return left;
}

/**
 * Making a VM go down when the graceful stop is not enough or not wanted
 * (`vm stop --timeout/--force`, `vm kill`): QEMU quits through its HMP
 * monitor (QMP serves one client, and `vm __stop` may hold it), then gets
 * SIGTERM, then SIGKILL; a `finish` (cleanup hook) or `control/t` that hangs
 * once QEMU is gone is ended the same way, so runsv never stays in them.
 * Reads `<vm>/supervise/status`, `/proc`; connects to `<vm>/supervise/monitor`;
 * signals QEMU, `finish` and `control/t` processes.
 * @module
 */

import { SystemError } from "../errors.ts";
import { readStatus } from "../runit/status.ts";
import { descendants, isAlive, signal } from "../os/proc.ts";
import { pollUntil, sleep } from "../os/poll.ts";
import { hmpQuit } from "../qemu/hmp.ts";
import { controlProcesses } from "../qemu/processes.ts";
import type { StopHow } from "./stop_result.ts";

/** How often the status file is read while waiting (ms). */
const POLL_MS = 50;
/** How long QEMU gets after each step of a forced stop (HMP quit, TERM, KILL). */
export const STEP_MS = 1000;
/**
 * How long runsv may sit in `finish` (a Deno start plus the cleanup hook), or
 * blocked in `control/t` (a Deno start that finds QEMU gone), once QEMU is gone.
 */
const FINISH_GRACE_MS = 3000;
const CONTROL_GRACE_MS = 5000;
/** How long a forced stop may take in all before it counts as failed. */
const FORCE_BOUND_MS = 15_000;

/** Makes QEMU (`pid`) go: HMP quit, then SIGTERM, then SIGKILL, each given STEP_MS. */
export async function forceQemu(dir: string, pid: number): Promise<StopHow> {
  if (!isAlive(pid)) return "gone";
  await hmpQuit(dir, STEP_MS);
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

/**
 * After QEMU is gone: waits until runsv reports the VM down, ending a
 * `finish` or `control/t` that hangs longer than FINISH_GRACE_MS. Returns
 * which one was ended, if any; throws SystemError when the VM is not down
 * within FORCE_BOUND_MS.
 */
export async function settleDown(
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

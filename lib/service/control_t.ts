/**
 * Graceful stop of a running VM (`vm __stop`, runit's `control/t`): press the
 * ACPI power button through QMP, repeatedly, and return as soon as QEMU has
 * exited; after min(wait/2, 10 s) also ask the guest agent (when one answers
 * on `supervise/agent`) to shut down; after `wait` seconds quit QEMU. runsv
 * blocks while this runs, so every step is bounded: the whole takes at most
 * `wait` + a few seconds. When QEMU never came up (a pre_qemu hook hangs),
 * the hook's process group is ended instead. vmd stops its VMs at host
 * shutdown with the same {@link stopAndRecord}, and control/t then waits for
 * it instead (lib/service/vmd_stop.ts). Connects to
 * `<vm>/supervise/qmp` and `<vm>/supervise/agent`; reads
 * `<vm>/supervise/status` and /proc; signals hook process groups.
 * @module
 */

import { describe, SystemError } from "../errors.ts";
import { isAlive } from "../os/proc.ts";
import { readStatus } from "../runit/status.ts";
import { endGroup } from "../os/process_group.ts";
import { hookGroups, isQemuPid } from "../qemu/processes.ts";
import { HOOK_ARGV0, HOOK_GRACE_MS } from "../vm/hooks.ts";
import { basename, join } from "../os/path.ts";
import { F } from "../layout.ts";
import { QmpClient } from "../qemu/qmp.ts";
import { secondsText } from "../text/units.ts";
import type { QmpEvent } from "../qemu/qmp_message.ts";
import { agentDelayMs, agentPowerdown, type GuestAgent } from "../qemu/guest_agent.ts";
import { type StopOutcome, writeStopRecord } from "../vm/stop_record.ts";
import type { Vm } from "../vm/inspect.ts";

/** How a stop ended. */
export interface StopResult {
  /**
   * "poweroff": the guest powered off; "quit": it did not within `wait`, QEMU
   * was told to quit; "ended": QEMU exited before that, but not because the
   * guest powered off (someone else quit or killed it, e.g. `vm stop --timeout`).
   */
  how: StopOutcome;
  /** Milliseconds from the first power-button press to QEMU's exit. */
  ms: number;
  /** Whether the guest agent was asked to shut down (the guest ignored ACPI for a while). */
  agent?: boolean;
}

/** Whether the events hold a SHUTDOWN the guest caused (its power-off). Pure. */
export function guestShutdown(events: readonly QmpEvent[]): boolean {
  return events.some((e) =>
    e.event === "SHUTDOWN" && (e.data as { guest?: unknown } | undefined)?.guest === true
  );
}

/** The line `vm __stop` logs for a stop that ended as `r` (wait `wait` seconds). Pure. */
export function stopLine(r: StopResult, wait: number): string {
  const s = secondsText(r.ms / 1000);
  switch (r.how) {
    case "poweroff":
      return `stop: the guest powered off in ${s}` +
        (r.agent ? "; it was also asked through the guest agent (ACPI went unanswered)" : "");
    case "quit":
      return `stop: the guest did not power off within ${wait} s (wait); QEMU was told to quit`;
    case "ended":
      return `stop: QEMU quit after ${s}; the guest had not powered off`;
  }
}

/** Seconds between power-button presses (for guests that missed one while booting). */
const PRESS_INTERVAL_MS = 1000;
/** How long QEMU gets to exit after `quit`, and to connect. */
const QUIT_GRACE_MS = 3000;
const CONNECT_MS = 2000;
/** How long one attempt to reach the guest agent may take (a loaded guest answers slowly). */
const AGENT_TRY_MS = 3000;

/**
 * Stops the VM in `dir` (QEMU's socket `supervise/qmp` there): `cont` if
 * paused, `system_powerdown` every second until QEMU exits or `waitSeconds`
 * pass — and after min(wait/2, 10 s) `guest-shutdown` through the guest
 * agent, when one answers — then `quit`. Throws SystemError when QMP is
 * unreachable or QEMU does not exit even after `quit` (runsv then sends TERM).
 */
export async function stopVm(dir: string, waitSeconds: number): Promise<StopResult> {
  const qmp = await QmpClient.connect(join(dir, F.qmp), { timeoutMs: CONNECT_MS });
  let agent: GuestAgent | undefined;
  try {
    const t0 = performance.now();
    const deadline = t0 + waitSeconds * 1000;
    const status = await qmp.execute("query-status", undefined, { timeoutMs: CONNECT_MS }) as {
      running?: boolean;
    };
    if (status.running === false) await qmp.send("cont");
    let shutdownSeenAt: number | undefined;
    while (performance.now() < deadline) {
      if (agent === undefined && performance.now() - t0 >= agentDelayMs(waitSeconds)) {
        // Still up: a second way down through the guest agent, tried until one answers.
        const left = Math.min(AGENT_TRY_MS, deadline - performance.now());
        agent = await agentPowerdown(dir, basename(dir), left);
      }
      await qmp.send("system_powerdown").catch(() => {}); // closed: seen just below
      const slice = Math.min(PRESS_INTERVAL_MS, deadline - performance.now());
      if (await qmp.waitClosed(Math.max(0, slice))) {
        const how = guestShutdown(qmp.events) ? "poweroff" : "ended";
        return { how, ms: Math.round(performance.now() - t0), agent: agent !== undefined };
      }
      const shutdown = qmp.events.find((e) => e.event === "SHUTDOWN");
      if (shutdown !== undefined) {
        // The guest is off but QEMU stays (e.g. -no-shutdown): let it go.
        shutdownSeenAt ??= performance.now();
        if (performance.now() - shutdownSeenAt >= 500) break;
      }
    }
    if (!qmp.closed) await qmp.send("quit").catch(() => {});
    if (await qmp.waitClosed(QUIT_GRACE_MS)) {
      const how = shutdownSeenAt !== undefined && guestShutdown(qmp.events) ? "poweroff" : "quit";
      return { how, ms: Math.round(performance.now() - t0), agent: agent !== undefined };
    }
    throw new SystemError(`QEMU did not exit after "quit"; runsv will send TERM`);
  } finally {
    qmp.close();
    agent?.close();
  }
}

/**
 * QEMU's PID when runsv runs QEMU for `vm` (not `vm __run` still before
 * it), else undefined. Reads its status, /proc.
 */
export function qemuRuns(vm: Vm): number | undefined {
  const st = vm.status;
  return st?.state === "run" && isQemuPid(st.pid) ? st.pid : undefined;
}

/**
 * Whether the QEMU runsv runs for `dir` is gone already (dead, or a zombie
 * runsv has not reaped while it waits for control/t): then there is nothing
 * to stop, as after `vm kill`, and a QMP socket that refuses is no news.
 * Reads status, /proc.
 */
function qemuGone(dir: string): boolean {
  const st = readStatus(dir);
  return st === undefined || st.state !== "run" || st.pid === 0 || !isAlive(st.pid);
}

/**
 * Records how the stop of QEMU `pid` ended (lib/vm/stop_record.ts), for
 * `vm stop` to report. Writes `<dir>/supervise/stop`.
 */
function recordStop(dir: string, pid: number, r: StopResult, wait: number): void {
  writeStopRecord(dir, {
    pid,
    at: Date.now(),
    how: r.how,
    ms: r.ms,
    agent: r.agent === true,
    wait,
  });
}

/**
 * The graceful stop of QEMU `pid`, runsv's in `dir` (`vm __stop`'s, and vmd's
 * own at host shutdown): {@link stopVm} within `wait` seconds, then the stop
 * recorded. Returns the lines to log: how it ended (none when QEMU was gone
 * already), and a record that could not be written. Throws as stopVm does
 * while QEMU is still there. Writes `<dir>/supervise/stop`.
 */
export async function stopAndRecord(dir: string, pid: number, wait: number): Promise<string[]> {
  let r;
  try {
    r = await stopVm(dir, wait);
  } catch (e) {
    if (e instanceof SystemError && qemuGone(dir)) return [];
    throw e;
  }
  const lines = [stopLine(r, wait)];
  try {
    recordStop(dir, pid, r, wait);
  } catch (e) {
    // A file that cannot be written (a full disk, …): the stop itself is done.
    if (!(e instanceof Error)) throw e;
    lines.push(`stop: not recorded for "vm stop": ${describe(e)}`);
  }
  return lines;
}

/**
 * The stop of a VM whose QEMU never came up (`vm __run` hangs in pre_qemu):
 * ends every pre_qemu hook's process group working in `dir` (TERM, then
 * KILL after the grace). Returns how many groups there were. Reads /proc.
 */
export async function endPreQemu(dir: string): Promise<number> {
  const groups = hookGroups(dir, HOOK_ARGV0 + "pre_qemu");
  await Promise.all(groups.map((g) => endGroup(g, HOOK_GRACE_MS)));
  return groups.length;
}

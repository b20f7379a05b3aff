/**
 * Graceful stop of a running VM (`vm __stop`, runit's `control/t`): press the
 * ACPI power button through QMP, repeatedly, and return as soon as QEMU has
 * exited; after min(wait/2, 10 s) also ask the guest agent (when one answers
 * on `supervise/agent`) to shut down; after `wait` seconds quit QEMU. runsv
 * blocks while this runs, so every step is bounded: the whole takes at most
 * `wait` + a few seconds.
 * Connects to `<vm>/supervise/qmp` and `<vm>/supervise/agent`.
 * @module
 */

import { SystemError } from "../errors.ts";
import { basename, join } from "../os/path.ts";
import { F } from "../vm/files.ts";
import { QmpClient } from "../qemu/qmp.ts";
import { agentDelayMs, agentPowerdown, type GuestAgent } from "../qemu/guest_agent.ts";

/** How a stop ended. */
export interface StopResult {
  /** "poweroff": the guest powered off; "quit": it did not within `wait`, QEMU was told to quit. */
  how: "poweroff" | "quit";
  /** Milliseconds from the first power-button press to QEMU's exit. */
  ms: number;
  /** Whether the guest agent was asked to shut down (the guest ignored ACPI for a while). */
  agent?: boolean;
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
        return {
          how: "poweroff",
          ms: Math.round(performance.now() - t0),
          agent: agent !== undefined,
        };
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
      const how = shutdownSeenAt !== undefined ? "poweroff" : "quit";
      return { how, ms: Math.round(performance.now() - t0), agent: agent !== undefined };
    }
    throw new SystemError(`QEMU did not exit after "quit"; runsv will send TERM`);
  } finally {
    qmp.close();
    agent?.close();
  }
}

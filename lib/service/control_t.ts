/**
 * Graceful stop of a running VM (`vm __stop`, runit's `control/t`): press the
 * ACPI power button through QMP, repeatedly, and return as soon as QEMU has
 * exited; after `wait` seconds quit QEMU. runsv blocks while this runs, so
 * every step is bounded: the whole takes at most `wait` + a few seconds.
 * Connects to `<vm>/supervise/qmp`.
 * @module
 */

import { SystemError } from "../errors.ts";
import { join } from "../os/path.ts";
import { F } from "../vm/files.ts";
import { QmpClient } from "../qemu/qmp.ts";

/** How a stop ended. */
export interface StopResult {
  /** "poweroff": the guest powered off; "quit": it did not within `wait`, QEMU was told to quit. */
  how: "poweroff" | "quit";
  /** Milliseconds from the first power-button press to QEMU's exit. */
  ms: number;
}

/** Seconds between power-button presses (for guests that missed one while booting). */
const PRESS_INTERVAL_MS = 1000;
/** How long QEMU gets to exit after `quit`, and to connect. */
const QUIT_GRACE_MS = 3000;
const CONNECT_MS = 2000;

/**
 * Stops the VM in `dir` (QEMU's socket `supervise/qmp` there): `cont` if
 * paused, `system_powerdown` every second until QEMU exits or `waitSeconds`
 * pass, then `quit`. Throws SystemError when QMP is unreachable or QEMU does
 * not exit even after `quit` (runsv then sends TERM).
 */
export async function stopVm(dir: string, waitSeconds: number): Promise<StopResult> {
  const qmp = await QmpClient.connect(join(dir, F.qmp), { timeoutMs: CONNECT_MS });
  try {
    const t0 = performance.now();
    const deadline = t0 + waitSeconds * 1000;
    const status = await qmp.execute("query-status", undefined, { timeoutMs: CONNECT_MS }) as {
      running?: boolean;
    };
    if (status.running === false) await qmp.send("cont");
    let shutdownSeenAt: number | undefined;
    while (performance.now() < deadline) {
      await qmp.send("system_powerdown").catch(() => {}); // closed: seen just below
      const slice = Math.min(PRESS_INTERVAL_MS, deadline - performance.now());
      if (await qmp.waitClosed(Math.max(0, slice))) {
        return { how: "poweroff", ms: Math.round(performance.now() - t0) };
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
      return { how, ms: Math.round(performance.now() - t0) };
    }
    throw new SystemError(`QEMU did not exit after "quit"; runsv will send TERM`);
  } finally {
    qmp.close();
  }
}

/**
 * `vm start`, `vm stop`, `vm restart`, `vm kill`: several VMs in parallel,
 * each line printed as it ends; the exit code is the number that failed (max
 * 99), like sv. Also the lines they print (pure). The work is
 * lib/actions/start_stop.ts.
 * @module
 */

import { describe } from "../lib/errors.ts";
import {
  failureExit,
  killVm,
  requireSupervised,
  restartVm,
  shutdownVm,
  type StartResult,
  startVm,
  type StopOptions,
  type StopResult,
} from "../lib/actions/start_stop.ts";
import { loadConfig } from "../lib/vm/config.ts";
import { requireVm } from "../lib/vm/dir.ts";
import { parseSeconds } from "../lib/text/units.ts";
import { join } from "../lib/os/path.ts";
import { isSupervised } from "../lib/runit/status.ts";
import { orphanQemu } from "../lib/qemu/processes.ts";
import type { CommandModule, Invocation } from "./command.ts";
import { print, printErr } from "./output.ts";
import { exclusive, optFlag, optString } from "./parse.ts";

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
    case "restart":
      why = "QEMU was not running";
      break;
  }
  if (r.orphan !== undefined) why += `; QEMU (PID ${r.orphan}) ran without its runsv`;
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
  if (r.how === "restart" && r.forced === undefined) {
    return `"${r.name}" was not running; stopped its restart`;
  }
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
  if (r.how === "restart") return `"${r.name}" was not running; stopped its restart`;
  let extra = r.hungKilled !== undefined ? `; its hanging ${r.hungKilled} was ended` : "";
  if (r.orphan !== undefined) extra += `; it ran without its runsv`;
  return `Killed "${r.name}" in ${secondsText(r.seconds)} ` +
    `(not graceful: QEMU got SIGKILL, the guest did not shut down${extra})`;
}

/** The exit code of an action on several VMs: the number of failures, at most 99 (like sv). Pure. */
/**
 * Runs `act` on each named VM in parallel, printing its line or its error as
 * each ends. Unknown VMs (100) and unsupervised ones (111) fail before any is
 * touched; otherwise the exit code is the number of VMs that failed (max 99).
 */
async function eachVm(
  names: readonly string[],
  act: (name: string, dir: string) => Promise<string>,
  orphans = false,
): Promise<number> {
  const cfg = loadConfig();
  const unique = [...new Set(names)];
  for (const n of unique) requireVm(cfg.vmdir, n);
  const dirs = await Promise.all(unique.map((n) => supervisedOrOrphan(cfg.vmdir, n, orphans)));
  let failures = 0;
  await Promise.all(unique.map(async (n, i) => {
    try {
      print(await act(n, dirs[i] ?? ""));
    } catch (e) {
      failures++;
      printErr(`vm: fatal: ${describe(e)}`);
    }
  }));
  return failureExit(failures);
}

/**
 * The directory of VM `name` when a runsv supervises it, or, with `orphans`,
 * when a QEMU of it runs without one (stop and kill reach that one too).
 */
async function supervisedOrOrphan(vmdir: string, name: string, orphans: boolean): Promise<string> {
  const dir = join(vmdir, name);
  if (orphans && !isSupervised(dir) && orphanQemu(dir) !== undefined) return dir;
  return await requireSupervised(vmdir, name);
}

/** `--timeout S` in seconds, or undefined. */
function timeoutOf(inv: Invocation): number | undefined {
  const t = optString(inv, "timeout");
  return t === undefined ? undefined : parseSeconds(t, "--timeout");
}

/** The stop options of `vm stop`/`vm restart`. */
function stopOptions(inv: Invocation): StopOptions {
  exclusive(inv, "timeout", "force");
  const timeoutS = timeoutOf(inv);
  return { force: optFlag(inv, "force"), ...(timeoutS === undefined ? {} : { timeoutS }) };
}

/** `vm start <vm>... [--timeout S]`. */
export const start: CommandModule = {
  run(inv) {
    const timeout = timeoutOf(inv);
    return eachVm(inv.args, async (n, dir) => startMessage(await startVm(n, dir, timeout)));
  },
};

/** `vm stop <vm>... [--timeout S] [--force]`. */
export const stop: CommandModule = {
  run(inv) {
    const opts = stopOptions(inv);
    return eachVm(inv.args, async (n, dir) => stopMessage(await shutdownVm(n, dir, opts)), true);
  },
};

/** `vm restart <vm>... [--timeout S] [--force]`. */
export const restart: CommandModule = {
  run(inv) {
    const opts = stopOptions(inv);
    return eachVm(inv.args, async (n, dir) => {
      const r = await restartVm(n, dir, opts);
      return restartMessage(r.stop, r.start);
    });
  },
};

/** `vm kill <vm>...`. */
export const kill: CommandModule = {
  run(inv) {
    return eachVm(inv.args, async (n, dir) => killMessage(await killVm(n, dir)), true);
  },
};

/**
 * `vm start`, `vm stop`, `vm restart`, `vm kill`: several VMs in parallel,
 * each line printed as it ends; the exit code is the number that failed (max
 * 99), like sv. Also the lines they print (pure). The work is
 * lib/actions/start_stop.ts.
 * @module
 */

import { CheckFailedError } from "../../lib/errors.ts";
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
} from "../../lib/actions/start_stop.ts";
import { type Config, loadConfig } from "../../lib/vm/config.ts";
import { linkedClones } from "../../lib/vm/linked.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import { parseSeconds, secondsText } from "../../lib/text/units.ts";
import { join } from "../../lib/os/path.ts";
import { isSupervised } from "../../lib/runit/status.ts";
import { orphanQemu } from "../../lib/qemu/processes.ts";
import type { CommandModule, Invocation } from "../core/command.ts";
import { run as startSshCommand } from "./start_ssh.ts";
import { fatalText, print, printErr } from "../core/output.ts";
import { WaitLine } from "../core/wait_line.ts";
import { exclusive, optFlag, optString } from "../core/parse.ts";

/** Why the stop took what it took, in words (the part in parentheses). Pure. */
export function stopReason(r: StopResult): string {
  let why: string;
  switch (r.how) {
    case "poweroff":
      why = r.guestSeconds === undefined
        ? "guest powered off"
        : `the guest powered off in ${secondsText(r.guestSeconds)}`;
      if (r.agent) why += "; it was also asked through the guest agent";
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
    case "ended":
      why = "QEMU exited before the guest powered off";
      break;
    case "unrecorded":
      why = `QEMU exited; its stop recorded no outcome: see "vm log ${r.name}"`;
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

/** The line `vm start` prints for one VM: its state too, when QEMU waits (`-S`). Pure. */
export function startMessage(r: StartResult): string {
  if (r.already) return `"${r.name}" is already running (pid ${r.pid})`;
  const state = r.status === "running" ? "" : `, ${r.status} as its arguments ask`;
  return `Started "${r.name}" in ${secondsText(r.seconds)} (pid ${r.pid}${state})`;
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

/**
 * Runs `act` on each named VM in parallel, printing its line or its error as
 * each ends (above the wait line, when there is one). Unknown VMs (100),
 * unsupervised ones (111) and, unless `check` allows them, refused ones fail
 * before any is touched; otherwise the exit code is the number of VMs that
 * failed (max 99).
 */
async function eachVm(
  names: readonly string[],
  act: (name: string, dir: string) => Promise<string>,
  opts: {
    line?: WaitLine;
    check?: (cfg: Config, names: readonly string[]) => void;
    /** Reach a QEMU that runs without its runsv too (stop, kill). */
    orphans?: boolean;
  } = {},
): Promise<number> {
  const cfg = loadConfig();
  const unique = [...new Set(names)];
  for (const n of unique) requireVm(cfg.vmdir, n);
  opts.check?.(cfg, unique);
  const dirs = await Promise.all(
    unique.map((n) => supervisedOrOrphan(cfg.vmdir, n, opts.orphans === true)),
  );
  const line = opts.line ?? new WaitLine(false);
  let failures = 0;
  await Promise.all(unique.map(async (n, i) => {
    try {
      const text = await act(n, dirs[i] ?? "");
      line.done(n, () => print(text));
    } catch (e) {
      failures++;
      line.done(n, () => printErr(fatalText(e)));
    }
  }));
  return failureExit(failures);
}

/**
 * Throws CheckFailedError when one of `names` is the base of linked clones
 * (lib/vm/linked.ts): running it would corrupt them.
 */
function refuseBases(cfg: Config, names: readonly string[]): void {
  const clones = linkedClones(cfg.vmdir);
  for (const n of names) {
    const of = clones.get(n);
    if (of === undefined) continue;
    throw new CheckFailedError(
      `VM "${n}" is the base of linked clones (${of.map((c) => `"${c}"`).join(", ")}): ` +
        `running it changes the disks they are built on and corrupts them; start a clone, ` +
        `or make the clones full copies first ("vm clone ${of[0]} <new>"); ` +
        `"vm start --force ${n}" starts it anyway`,
    );
  }
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

/** The stop options of `vm stop`/`vm restart`, the wait shown on `line`. */
function stopOptions(inv: Invocation, line: WaitLine): (name: string) => StopOptions {
  exclusive(inv, "timeout", "force");
  const timeoutS = timeoutOf(inv);
  const force = optFlag(inv, "force");
  return (name) => ({
    force,
    ...(timeoutS === undefined ? {} : { timeoutS }),
    onWait: (waitedS, capS, exited) => line.update(name, { waitedS, capS, exited }),
  });
}

/** `vm start <vm>... [--timeout S] [--force]`. */
export const start: CommandModule = {
  run(inv) {
    const check = optFlag(inv, "force") ? undefined : refuseBases;
    if (optFlag(inv, "ssh")) {
      check?.(loadConfig(), inv.args);
      return startSshCommand(inv);
    }
    const timeout = timeoutOf(inv);
    return eachVm(
      inv.args,
      async (n, dir) => startMessage(await startVm(n, dir, timeout)),
      check === undefined ? {} : { check },
    );
  },
};

/** `vm stop <vm>... [--timeout S] [--force]`. */
export const stop: CommandModule = {
  run(inv) {
    const line = new WaitLine();
    const opts = stopOptions(inv, line);
    return eachVm(inv.args, async (n, dir) => stopMessage(await shutdownVm(n, dir, opts(n))), {
      line,
      orphans: true,
    });
  },
};

/** `vm restart <vm>... [--timeout S] [--force]`. */
export const restart: CommandModule = {
  run(inv) {
    const line = new WaitLine();
    const opts = stopOptions(inv, line);
    return eachVm(inv.args, async (n, dir) => {
      const r = await restartVm(n, dir, opts(n));
      return restartMessage(r.stop, r.start);
    }, { line });
  },
};

/** `vm kill <vm>...`. */
export const kill: CommandModule = {
  run(inv) {
    return eachVm(inv.args, async (n, dir) => killMessage(await killVm(n, dir)), {
      orphans: true,
    });
  },
};

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
} from "../../lib/actions/start_stop.ts";
import type { StopOptions, StopResult } from "../../lib/actions/stop_result.ts";
import { type Config, loadConfig } from "../../lib/vm/config.ts";
import { linkedClones } from "../../lib/vm/linked.ts";
import { requireVm } from "../../lib/vm/dir.ts";
import { parseSeconds, secondsText } from "../../lib/text/units.ts";
import { join } from "../../lib/os/path.ts";
import { isSupervised } from "../../lib/runit/status.ts";
import { orphanQemu } from "../../lib/qemu/processes.ts";
import {
  type CommandSpec,
  defineCommand,
  type Invocation,
  type OptionSpec,
  type RowOptions,
  VMS,
} from "../core/command.ts";
import { run as startSshCommand, START_SSH_OPTIONS } from "./start_ssh.ts";
import { fatalText, print, printErr } from "../core/output.ts";
import { WaitLine } from "../core/wait_line.ts";
import { exclusive, optFlag, optString } from "../core/parse.ts";

/** `--timeout` of `vm stop` and `vm restart`. */
const TIMEOUT = {
  name: "timeout",
  value: "S",
  help: "when not down after S seconds (default: the VM's wait + 10), end QEMU:\n" +
    "quit through its monitor, then SIGTERM, then SIGKILL; a hanging\n" +
    "finish (cleanup hook) is ended too, so the VM is left down",
} as const satisfies OptionSpec;
const FORCE = {
  name: "force",
  help: "end QEMU at once that way (not graceful)",
} as const satisfies OptionSpec;
const PARALLEL = [
  "several VMs are handled in parallel; exit code: the number that failed (max 99), 100 for",
  "an unknown VM, 111 when vmd does not supervise a VM (nothing is done then)",
];

/** The row of `vm start`. */
const START_ROW = {
  name: "start",
  summary: "start VMs and wait until QEMU is up",
  args: [VMS],
  options: [
    {
      name: "timeout",
      value: "S",
      help: "fail when QEMU is not up within S seconds (default 30); with --ssh, when\n" +
        "SSH does not answer within S seconds of the start (default 300)",
    },
    {
      name: "force",
      help: "start a VM even when it is the base of linked clones (vm clone --linked):\n" +
        "writing its disks corrupts what the clones see",
    },
    ...START_SSH_OPTIONS,
  ],
  help: [
    'up means QEMU answers on QMP with the state "running" (or "prelaunch"/"paused" when',
    "its arguments ask for it: -S, -incoming); when QEMU exits first, the last lines of the",
    "VM's log are shown and the VM is left down (exit 1)",
    "--ssh that fails says what it saw last (the serial console's last line, the screen's",
    'text, e.g. "No bootable device.", which ends the wait at once) and the next step',
    ...PARALLEL,
  ],
} as const satisfies CommandSpec;

/** The row of a command that stops VMs: `vm stop` and `vm restart` take the same arguments. */
function stopRow<N extends string>(name: N, summary: string, help: readonly string[]) {
  return { name, summary, args: [VMS], options: [TIMEOUT, FORCE], help } as const;
}

/** The row of `vm stop`. */
const STOP_ROW = stopRow(
  "stop",
  "stop VMs gracefully (ACPI power-off) and say how long it took",
  [
    "runsv runs control/t: the guest gets its wait seconds to power off, then QEMU quits",
    ...PARALLEL,
  ],
);

/** The row of `vm restart`. */
const RESTART_ROW = stopRow("restart", "stop VMs (as vm stop), then start them", PARALLEL);

/** The row of `vm kill`. */
const KILL_ROW = {
  name: "kill",
  summary: "kill QEMU at once (not graceful) and leave the VM down",
  args: [VMS],
  help: ["the guest is not shut down: its disks may need a check at the next boot"],
} as const satisfies CommandSpec;

/** Why the stop took what it took, in words (the part in parentheses). Pure. */
function stopReason(r: StopResult): string {
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
function timeoutOf(inv: Invocation<{ readonly timeout: string | undefined }>): number | undefined {
  const t = optString(inv, "timeout");
  return t === undefined ? undefined : parseSeconds(t, "--timeout");
}

/** The stop options of `vm stop`/`vm restart`, the wait shown on `line`. */
function stopOptions(
  inv: Invocation<RowOptions<typeof STOP_ROW>>,
  line: WaitLine,
): (name: string) => StopOptions {
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
export const start = defineCommand(START_ROW, {
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
});

/** `vm stop <vm>... [--timeout S] [--force]`. */
export const stop = defineCommand(STOP_ROW, {
  run(inv) {
    const line = new WaitLine();
    const opts = stopOptions(inv, line);
    return eachVm(inv.args, async (n, dir) => stopMessage(await shutdownVm(n, dir, opts(n))), {
      line,
      orphans: true,
    });
  },
});

/** `vm restart <vm>... [--timeout S] [--force]`. */
export const restart = defineCommand(RESTART_ROW, {
  run(inv) {
    const line = new WaitLine();
    const opts = stopOptions(inv, line);
    return eachVm(inv.args, async (n, dir) => {
      const r = await restartVm(n, dir, opts(n));
      return restartMessage(r.stop, r.start);
    }, { line });
  },
});

/** `vm kill <vm>...`. */
export const kill = defineCommand(KILL_ROW, {
  run(inv) {
    return eachVm(inv.args, async (n, dir) => killMessage(await killVm(n, dir)), {
      orphans: true,
    });
  },
});

/**
 * `vm doctor`: every problem of the kind vm refuses or hides, found in
 * `$VMDIR` at once: `$VMDIR` or `.default` missing, no vmd (runsvdir)
 * supervising `$VMDIR`; `$VMDIR` and `.default` writable by others; each VM's
 * files others may write or that are owned by another user, symlinks out of
 * the VM directory (lib/vm/safety.ts), an unusable `wait`, a host port two
 * VMs forward; networks whose switch is not running, attachments to missing
 * networks or to bridges QEMU's bridge helper may not use (./doctor_net.ts);
 * a QEMU running without its runsv and an svlogd left by a killed runsv; a
 * companion (swtpm, virtiofsd) left without its QEMU; leftovers of
 * interrupted operations (lib/images/leftovers.ts),
 * which `--fix` removes when their owner is gone. Each problem is one line
 * naming the file and the fix.
 * Reads `$VMDIR/**`, `/proc`; removes leftovers with `fix`.
 * @module
 */

import { join } from "../os/path.ts";
import { fileMode } from "../os/lookup.ts";
import { formatBytes } from "../text/units.ts";
import { findRunsvdir, strayLoggers, strayQemu } from "../qemu/processes.ts";
import { listVms, setupHint } from "../vm/dir.ts";
import { inspectVm } from "../vm/inspect.ts";
import { statIfExists } from "../os/fs.ts";
import { DEFAULT_VM, F } from "../layout.ts";
import {
  findLeftovers,
  type Leftover,
  leftoverCommand,
  removeLeftover,
} from "../images/leftovers.ts";
import { modeProblem, problemLine, vmProblems } from "../vm/safety.ts";
import { companionVm, strayCompanions } from "../service/companions.ts";
import type { CompanionProc } from "../qemu/processes.ts";
import { formatRule, type PortClash, portClashes } from "../vm/ports.ts";
import { networkProblems } from "./doctor_net.ts";

/** What `vm doctor` found (and, with fix, did). */
export interface DoctorReport {
  /** One line per problem left; empty: all is well. */
  problems: string[];
  /** Leftovers removed (with fix). */
  removed: Leftover[];
  /** Leftovers of operations still running (not problems). */
  inProgress: Leftover[];
}

/**
 * The problem lines of the set-up: `$VMDIR` or its `.default` missing (as
 * install.sh makes them), and no runsvdir (vmd) supervising `$VMDIR`.
 */
function setupProblems(vmdir: string): string[] {
  if (statIfExists(vmdir) === undefined) {
    return [`VMDIR "${vmdir}" does not exist; fix: ${setupHint(vmdir)}`];
  }
  const out: string[] = [];
  const dflt = join(vmdir, DEFAULT_VM);
  if (statIfExists(join(dflt, F.templates)) === undefined) {
    out.push(
      `"${dflt}" is missing (the templates and scripts every VM uses); fix: ${setupHint(vmdir)}`,
    );
  }
  if (findRunsvdir(vmdir).length === 0) out.push(noVmdProblem(vmdir));
  return out;
}

/** The line of a VMDIR no vmd (runsvdir) supervises. Pure. */
export function noVmdProblem(vmdir: string): string {
  return `No vmd supervises "${vmdir}": its VMs cannot be started or stopped; fix: vm daemon ` +
    `(or as a service: vm service install runit|systemd)`;
}

/** The problem lines of VMDIR itself and of `.default`, which every VM's scripts come from. */
function dirProblems(vmdir: string, uid: number): string[] {
  const out: string[] = [];
  for (const dir of [vmdir, join(vmdir, DEFAULT_VM), join(vmdir, DEFAULT_VM, F.templates)]) {
    const st = fileMode(dir);
    const p = st === undefined ? undefined : modeProblem(dir, st, uid);
    if (p !== undefined) out.push(problemLine(p));
  }
  return out;
}

/** The problem lines of VM `name` (see the module). */
function vmLines(vmdir: string, name: string, uid: number, seen: Set<string>): string[] {
  const vm = inspectVm(vmdir, name);
  const dir = vm.dir;
  const out = vmProblems(vm, uid, seen).map((p) => `VM "${name}": ${problemLine(p)}`);
  if (vm.waitProblem !== undefined) out.push(`VM "${name}": ${vm.waitProblem}`);
  const orphan = strayQemu(dir, vm.status);
  if (orphan !== undefined) {
    out.push(
      `VM "${name}": QEMU (PID ${orphan}) runs without its runsv (was it killed?); ` +
        `fix: vm stop ${name}`,
    );
  } else {
    for (const pid of strayLoggers(dir)) {
      out.push(
        `VM "${name}": svlogd (PID ${pid}) outlived its runsv and holds the log; fix: kill ${pid}`,
      );
    }
  }
  return out;
}

/** The line of a host port two VMs forward. Pure. */
export function clashLine(c: PortClash): string {
  const proto = c.rule.proto === "udp" ? "udp " : "";
  return `VM "${c.vm}": host port ${c.rule.hostPort} (${formatRule(c.rule)}) is also forwarded ` +
    `by VM "${c.other}", so only one of them can run; fix: vm port ${c.vm} rm ${proto}` +
    `${c.rule.hostPort}`;
}

/** The line of a companion process left without its VM's QEMU. Pure. */
export function strayCompanionLine(p: CompanionProc): string {
  return `VM "${companionVm(p)}": ${p.name} (PID ${p.pid}) runs without the VM's QEMU ` +
    `(a companion left behind); fix: kill ${p.pid}`;
}

/** The line of a leftover whose owner is gone. Pure. */
export function leftoverProblem(l: Leftover): string {
  const what = l.outside === undefined ? `"${l.path}"` : `"${l.path}" and "${l.outside}"`;
  return `${what} (${formatBytes(l.bytes)}) ${l.outside === undefined ? "is" : "are"} left by ` +
    `an interrupted "${leftoverCommand(l)}" (PID ${l.pid}, gone); fix: vm doctor --fix`;
}

/**
 * Checks everything in `vmdir` as user `uid` (see the module); with `fix`,
 * removes the leftovers whose owner is gone.
 */
export function doctor(vmdir: string, fix: boolean, uid: number = Deno.uid() ?? 0): DoctorReport {
  const problems = setupProblems(vmdir);
  if (statIfExists(vmdir) === undefined) return { problems, removed: [], inProgress: [] };
  problems.push(...dirProblems(vmdir, uid));
  const seen = new Set<string>();
  for (const name of listVms(vmdir)) problems.push(...vmLines(vmdir, name, uid, seen));
  problems.push(...portClashes(vmdir).map(clashLine));
  problems.push(...strayCompanions(vmdir).map(strayCompanionLine));
  problems.push(...networkProblems(vmdir, uid));
  const report: DoctorReport = { problems, removed: [], inProgress: [] };
  for (const l of findLeftovers(vmdir)) {
    if (l.running) report.inProgress.push(l);
    else if (fix && removeLeftover(l)) report.removed.push(l);
    else problems.push(leftoverProblem(l));
  }
  return report;
}

/**
 * A VM's state as a user sees it, read from its service directory without
 * running anything: runsv's `supervise/status` and `supervise/ok`, `down`,
 * `wait`, and the crash-loop `backoff` file; a QEMU left running in the
 * directory without its runsv (`orphan`); a VM `__run` refuses to start
 * because its files are not private (`unsafe`, lib/vm/safety.ts). How
 * `vm list` and `vm status` show it is cli/core/state_table.ts. Reads
 * `<vm>/supervise/{status,ok}`, `<vm>/down`, `<vm>/wait`, `<vm>/backoff`,
 * `/proc` (only while a socket of QEMU is left in `supervise/`).
 * @module
 */

import type { Status } from "../runit/status.ts";
import type { VmEntries } from "./dir.ts";
import type { Vm } from "./inspect.ts";
import { F } from "../layout.ts";
import { readBackoff } from "./backoff.ts";
import { linkedClones } from "./linked.ts";
import { problemLine, vmProblems } from "./safety.ts";
import { strayQemu } from "../qemu/processes.ts";

/** What `vm list` and `vm status` show of one VM (the `--json` object, fields in this order). */
export interface VmState {
  name: string;
  /**
   * run, down, finish (runit's), unsupervised (no runsv), backoff (waiting to
   * restart after crashes), orphan (a QEMU runs in the directory without its
   * runsv), unsafe (not running; `__run` refuses it: see `problem`).
   */
  state: "run" | "down" | "finish" | "unsupervised" | "backoff" | "orphan" | "unsafe";
  /** QEMU's PID while running (also an orphan's). */
  pid: number | null;
  /** Seconds since QEMU started, while running. */
  uptime_s: number | null;
  /** Starts with vmd (no `down` file). */
  autostart: boolean;
  /** Seconds the guest gets to power off. */
  wait_s: number;
  /** What runsv wants, when a runsv supervises the VM. */
  want: "up" | "down" | null;
  /** Paused with `sv pause`, when supervised. */
  paused: boolean | null;
  /** Seconds until the next restart attempt, in backoff. */
  backoff_s: number | null;
  /** VMs whose disks are overlays on this VM's disks (its linked clones): see {@link markBases}. */
  linked_clones: string[];
  /** Why the VM is orphan or unsafe (the first problem), else null. */
  problem: string | null;
}

/** What a VM's state is derived from (see deriveState): read by {@link vmState}, or given by a test. */
export interface StateInput {
  name: string;
  /** runsv's `supervise/status`, decoded; undefined when missing. */
  status?: Status;
  /** Whether a runsv lives (a status file without one is stale). */
  supervised: boolean;
  /** Starts with vmd (no `down` file). */
  autostart: boolean;
  /** Seconds the guest gets to power off. */
  wait: number;
  /** Unix time the crash-loop backoff ends, if any. */
  backoffUntil?: number;
  /** PID of a QEMU working in the directory that runsv does not run. */
  orphan?: number;
  /** The first problem that makes the VM unsafe to start. */
  unsafe?: string;
}

/** The state an orphan or unsafe finding overrides `s` with. Pure. */
function applyFindings(s: VmState, v: StateInput): VmState {
  if (v.orphan !== undefined) {
    return {
      ...s,
      state: "orphan",
      pid: v.orphan,
      uptime_s: null,
      backoff_s: null,
      problem: `QEMU (PID ${v.orphan}) runs without its runsv; "vm stop ${s.name}" ` +
        `powers it off`,
    };
  }
  if (v.unsafe !== undefined && s.state !== "run") {
    return { ...s, state: "unsafe", backoff_s: null, problem: v.unsafe };
  }
  return s;
}

/**
 * The VmState of what was read (`v`) at Unix time `now`. Pure. A status
 * file without a live runsv is stale: the VM is `unsupervised`.
 */
export function deriveState(v: StateInput, now: number): VmState {
  const s: VmState = {
    name: v.name,
    state: "unsupervised",
    pid: null,
    uptime_s: null,
    autostart: v.autostart,
    wait_s: v.wait,
    want: null,
    paused: null,
    backoff_s: null,
    linked_clones: [],
    problem: null,
  };
  const status = v.status;
  if (!v.supervised || status === undefined) return applyFindings(s, v);
  const running = status.state === "run";
  s.state = status.state;
  if (
    v.backoffUntil !== undefined && v.backoffUntil > now && status.state !== "run" &&
    status.want === "up"
  ) {
    s.state = "backoff";
    s.backoff_s = Math.ceil(v.backoffUntil - now);
  }
  s.pid = running ? status.pid : null;
  s.uptime_s = running ? Math.max(0, Math.floor(now - status.since)) : null;
  s.want = status.want;
  s.paused = status.paused;
  return applyFindings(s, v);
}

/**
 * The state of `vm` (see the module for what is read) at Unix time `now`.
 * `seen` is passed on to vmProblems (many VMs, one `.default`).
 */
export function vmState(vm: Vm, now = Date.now() / 1000, seen?: Set<string>): VmState {
  const status = vm.supervised ? vm.status : undefined;
  const v: StateInput = {
    name: vm.name,
    status,
    supervised: vm.supervised,
    autostart: vm.autostart,
    wait: vm.wait,
  };
  // The backoff file matters only while runsv waits to restart the VM.
  if (status !== undefined && status.state !== "run" && status.want === "up") {
    v.backoffUntil = readBackoff(vm.dir)?.until;
  }
  // Running under runsv (just checked), it is no orphan; else QEMU's sockets are in supervise/.
  if (vm.entries.has(F.supervise) && status?.state !== "run") v.orphan = strayQemu(vm.dir, status);
  if (v.orphan === undefined && status?.state !== "run") {
    const first = vmProblems(vm, undefined, seen)[0];
    if (first !== undefined) v.unsafe = problemLine(first);
  }
  return deriveState(v, now);
}

/** The states of `vms` (VMs of `vmdir`, as inspectVms gives them: sorted by name), with their linked clones (see markBases). */
export function statesOf(vms: readonly Vm[], vmdir: string, now = Date.now() / 1000): VmState[] {
  const seen = new Set<string>();
  const states = vms.map((vm) => vmState(vm, now, seen));
  return markBases(states, vmdir, new Map(vms.map((vm) => [vm.name, vm.entries])));
}

/**
 * Fills `linked_clones` of each state: the VMs of `vmdir` whose disks are
 * overlays on its disks (lib/vm/linked.ts). Returns `states`. Reads every
 * VM directory's top-level files (`dirs`: their entries, when read already).
 */
export function markBases(
  states: VmState[],
  vmdir: string,
  dirs?: Map<string, VmEntries>,
): VmState[] {
  const clones = linkedClones(vmdir, dirs);
  for (const s of states) s.linked_clones = clones.get(s.name) ?? [];
  return states;
}

/** Whether the VM is running under runsv (what `vm status` checks, like `sv check`). Pure. */
export function isRunning(s: VmState): boolean {
  return s.state === "run";
}

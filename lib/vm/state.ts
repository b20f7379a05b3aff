/**
 * A VM's state as a user sees it, read from its service directory without
 * running anything: runsv's `supervise/status` and `supervise/ok`, `down`,
 * `wait`, and the crash-loop `backoff` file; a QEMU left running in the
 * directory without its runsv (`orphan`); a VM `__run` refuses to start
 * because its files are not private (`unsafe`, lib/vm/safety.ts); and how
 * `vm list` and `vm status` show it (pure formatting). Reads
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

/** What the STATE column adds for the base of linked clones: `, base`. Pure. */
export function baseLabel(s: VmState): string {
  return s.linked_clones.length > 0 ? ", base" : "";
}

/** Whether the VM is running under runsv (what `vm status` checks, like `sv check`). Pure. */
export function isRunning(s: VmState): boolean {
  return s.state === "run";
}

/** The STATE column: the state, plus what runsv wants when that differs. Pure. */
export function stateLabel(s: VmState): string {
  if (s.state === "backoff") return `backoff ${s.backoff_s}s`;
  let label: string = s.state;
  if (s.paused) label += ", paused";
  if (s.want === "up" && s.state !== "run") label += ", want up";
  if (s.want === "down" && s.state === "run") label += ", want down";
  return label;
}

/** A duration as people write it: 45s, 12m, 3h5m, 3d4h. Pure. */
export function humanDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return h > 0 ? `${d}d${h}h` : `${d}d`;
  if (h > 0) return m > 0 ? `${h}h${m}m` : `${h}h`;
  if (m > 0) return `${m}m`;
  return `${s}s`;
}

const ANSI = { green: "\x1b[32m", yellow: "\x1b[33m", red: "\x1b[31m", reset: "\x1b[0m" };

/** The colour of a state: run green, finish/backoff yellow, unsupervised/orphan/unsafe red, down none. Pure. */
function stateColor(s: VmState): string {
  switch (s.state) {
    case "run":
      return s.paused || s.want === "down" ? ANSI.yellow : ANSI.green;
    case "finish":
    case "backoff":
      return ANSI.yellow;
    case "unsupervised":
    case "orphan":
    case "unsafe":
      return ANSI.red;
    case "down":
      return s.want === "up" ? ANSI.yellow : "";
  }
}

function paint(text: string, color: string, on: boolean): string {
  return on && color !== "" ? color + text + ANSI.reset : text;
}

/** The columns of `vm list`, as text, for one VM. Pure. */
export function tableRow(s: VmState): string[] {
  return [
    s.name,
    stateLabel(s) + baseLabel(s),
    s.pid === null ? "-" : String(s.pid),
    s.uptime_s === null ? "-" : humanDuration(s.uptime_s),
    s.autostart ? "on" : "off",
    `${s.wait_s}s`,
  ];
}

/** The header of `vm list`. */
export const TABLE_HEADER = ["NAME", "STATE", "PID", "UPTIME", "AUTOSTART", "WAIT"] as const;

/**
 * The `vm list` table: a header and one line per VM, columns separated by
 * two spaces, the STATE coloured when `color` is true. Pure.
 */
export function formatTable(states: readonly VmState[], color = false): string {
  const rows = [[...TABLE_HEADER], ...states.map(tableRow)];
  const widths = TABLE_HEADER.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  const last = TABLE_HEADER.length - 1;
  return rows.map((r, n) =>
    r.map((cell, i) => {
      const padded = i === last ? cell : cell.padEnd(widths[i] ?? 0);
      const s = states[n - 1];
      return i === 1 && s !== undefined ? paint(padded, stateColor(s), color) : padded;
    }).join("  ")
  ).join("\n");
}

/** Uptime for `vm status`: human, with the exact seconds from a minute on. Pure. */
function uptimeText(seconds: number): string {
  return seconds < 60 ? humanDuration(seconds) : `${humanDuration(seconds)} (${seconds} s)`;
}

/**
 * The `vm status` block of one VM: its name, then one indented `field: value`
 * line per field (the same fields as `vm list`). Pure.
 */
export function formatStatus(s: VmState, color = false): string {
  const lines: [string, string][] = [
    ["state", paint(stateLabel(s), stateColor(s), color)],
    ["pid", s.pid === null ? "-" : String(s.pid)],
    ["uptime", s.uptime_s === null ? "-" : uptimeText(s.uptime_s)],
    ["autostart", s.autostart ? "on (starts with vmd)" : "off"],
    ["wait", `${s.wait_s} s`],
  ];
  if (s.want !== null) lines.push(["want", s.want]);
  if (s.linked_clones.length > 0) {
    lines.push([
      "base of",
      `${s.linked_clones.join(", ")} (linked clones: start it with --force only)`,
    ]);
  }
  if (s.problem !== null) lines.push(["problem", s.problem]);
  return [s.name, ...lines.map(([k, v]) => `  ${(k + ":").padEnd(11)}${v}`)].join("\n");
}

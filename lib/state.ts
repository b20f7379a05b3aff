/**
 * A VM's state as a user sees it, read from its service directory without
 * running anything: runsv's `supervise/status` and `supervise/ok`, `down`,
 * `wait`, and the crash-loop `backoff` file. Reads `<vm>/supervise/{status,ok}`,
 * `<vm>/down`, `<vm>/wait`, `<vm>/backoff`.
 * @module
 */

import { join } from "node:path";
import { isSupervised, readStatus, type Status } from "./runit.ts";
import { hasAutostart, readWait } from "./vm_dir.ts";
import { readBackoff } from "./backoff.ts";

/** What `vm list` and `vm status` show of one VM (the `--json` object). */
export interface VmState {
  name: string;
  /** run, down, finish (runit's), unsupervised (no runsv), backoff (waiting to restart after crashes). */
  state: "run" | "down" | "finish" | "unsupervised" | "backoff";
  /** QEMU's PID while running. */
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
}

/**
 * Combines what was read into a VmState. Pure: `status` is the decoded
 * `supervise/status` (undefined when missing), `supervised` whether runsv
 * lives, `backoffUntil` the Unix time the backoff ends (if any).
 */
export function deriveState(
  name: string,
  status: Status | undefined,
  supervised: boolean,
  autostart: boolean,
  wait: number,
  now: number,
  backoffUntil?: number,
): VmState {
  const base = { name, autostart, wait_s: wait };
  if (!supervised || status === undefined) {
    return {
      ...base,
      state: "unsupervised",
      pid: null,
      uptime_s: null,
      want: null,
      paused: null,
      backoff_s: null,
    };
  }
  const running = status.state === "run";
  let state: VmState["state"] = status.state;
  let backoff: number | null = null;
  if (
    backoffUntil !== undefined && backoffUntil > now && status.state !== "run" &&
    status.want === "up"
  ) {
    state = "backoff";
    backoff = Math.ceil(backoffUntil - now);
  }
  return {
    ...base,
    state,
    pid: running ? status.pid : null,
    uptime_s: running ? Math.max(0, Math.floor(now - status.since)) : null,
    want: status.want,
    paused: status.paused,
    backoff_s: backoff,
  };
}

/** Reads the state of the VM `name` in directory `dir`. */
export function vmState(name: string, dir: string, now = Date.now() / 1000): VmState {
  const supervised = isSupervised(dir);
  return deriveState(
    name,
    supervised ? readStatus(dir) : undefined,
    supervised,
    hasAutostart(dir),
    readWait(dir),
    now,
    readBackoff(join(dir))?.until,
  );
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

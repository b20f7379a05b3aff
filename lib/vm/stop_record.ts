/**
 * What `vm __stop` (runit's `control/t`) recorded of the graceful stop it
 * did: `supervise/stop`, one JSON object written atomically as the stop
 * ends, so that `vm stop` says how its VM went down from what happened, not
 * from how long it took. The record names QEMU's PID and when it was
 * written: one left by an earlier stop is never taken for a later one.
 * Writes and reads `<vm>/supervise/stop`.
 * @module
 */

import { join } from "../os/path.ts";
import { MODE, readTextIfExists, writeFileAtomic } from "../os/fs.ts";
import { F } from "../layout.ts";

/** How `vm __stop` ended a VM. */
export type StopOutcome =
  /** The guest powered off. */
  | "poweroff"
  /** It did not within its wait: QEMU was told to quit. */
  | "quit"
  /** QEMU exited before that, but not because the guest powered off (someone quit or killed it). */
  | "ended";

/** One stop as `vm __stop` recorded it. */
export interface StopRecord {
  /** PID of the QEMU that was stopped. */
  pid: number;
  /** When the stop ended (ms since the epoch). */
  at: number;
  how: StopOutcome;
  /** Milliseconds from the first press of the power button until QEMU exited. */
  ms: number;
  /** Whether the guest agent was asked to shut down too. */
  agent: boolean;
  /** The VM's wait (seconds) the stop used. */
  wait: number;
}

const OUTCOMES: readonly string[] = ["poweroff", "quit", "ended"];

/** Writes `rec` as the VM's stop record (atomically, 0600). Writes `<dir>/supervise/stop`. */
export function writeStopRecord(dir: string, rec: StopRecord): void {
  writeFileAtomic(join(dir, F.stopRecord), JSON.stringify(rec) + "\n", MODE.file);
}

/** The record `text` holds, or undefined when it is not one (any other text). Pure. */
export function parseStopRecord(text: string): StopRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    if (e instanceof SyntaxError) return undefined; // not JSON: no record
    throw e;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const r = v as Record<string, unknown>;
  const num = (x: unknown) => typeof x === "number" && Number.isFinite(x) && x >= 0;
  if (!num(r.pid) || !num(r.at) || !num(r.ms) || !num(r.wait)) return undefined;
  if (typeof r.how !== "string" || !OUTCOMES.includes(r.how)) return undefined;
  return {
    pid: r.pid as number,
    at: r.at as number,
    how: r.how as StopOutcome,
    ms: r.ms as number,
    agent: r.agent === true,
    wait: r.wait as number,
  };
}

/**
 * The record of the stop of QEMU `pid` that ended at or after `sinceMs` (ms
 * since the epoch), or undefined when `vm __stop` recorded none (it did not
 * run, failed, or found QEMU gone). Reads `<dir>/supervise/stop`.
 */
export function readStopRecord(dir: string, pid: number, sinceMs: number): StopRecord | undefined {
  const text = readTextIfExists(join(dir, F.stopRecord));
  const rec = text === undefined ? undefined : parseStopRecord(text);
  return rec !== undefined && rec.pid === pid && rec.at >= sinceMs ? rec : undefined;
}

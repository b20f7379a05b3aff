/**
 * runit's state of a service, read as runit's own `sv` reads it: the 20-byte
 * `supervise/status` record (TAI64N time of the last change, PID, paused,
 * want up/down, got TERM, state), and whether a runsv lives (`supervise/ok`
 * opens for writing only while runsv holds it for reading).
 * Reads `<dir>/supervise/status`, opens `<dir>/supervise/ok`.
 * @module
 */

import { F } from "../layout.ts";
import { closeFd, openWriteNonblock } from "../os/libc.ts";
import { readSmallFile } from "../os/lookup.ts";

/** runsv's state of the service's process. */
export type RunState = "down" | "run" | "finish";

/** The 20-byte `supervise/status` record, decoded. */
export interface Status {
  /** Unix time (seconds, fractional) of the last start or stop. */
  since: number;
  /** PID of `run` (QEMU), 0 when down. */
  pid: number;
  /** Stopped with `sv pause`. */
  paused: boolean;
  /** What runsv wants: up or down. */
  want: "up" | "down";
  /** runsv sent TERM and it has not exited yet. */
  gotTerm: boolean;
  /** State of the process. */
  state: RunState;
}

/** Seconds between the TAI64 epoch label and the Unix epoch, as runit writes it. */
const TAI64_UNIX = 2n ** 62n + 10n;
const STATES: readonly RunState[] = ["down", "run", "finish"];

/** Decodes a `supervise/status` record (20 bytes). Pure; undefined when it is not one. */
export function parseStatus(b: Uint8Array): Status | undefined {
  if (b.length < 20) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const sec = Number(v.getBigUint64(0, false) - TAI64_UNIX);
  const nano = v.getUint32(8, false);
  const state = STATES[b[19] ?? 0];
  if (state === undefined) return undefined;
  return {
    since: sec + nano / 1e9,
    pid: v.getUint32(12, true),
    paused: b[16] !== 0,
    want: b[17] === 0x75 ? "up" : "down",
    gotTerm: b[18] !== 0,
    state,
  };
}

/** Reads `<dir>/supervise/status`; undefined when runsv never ran there. */
export function readStatus(dir: string): Status | undefined {
  const bytes = readSmallFile(`${dir}/${F.status}`);
  return bytes === undefined ? undefined : parseStatus(bytes);
}

/**
 * Whether a runsv supervises `dir` now: `supervise/ok` is a FIFO runsv holds
 * open for reading, so opening it for writing without blocking succeeds only
 * while runsv lives (ENXIO otherwise). Opens `<dir>/supervise/ok`.
 */
export function isSupervised(dir: string): boolean {
  const fd = openWriteNonblock(`${dir}/${F.ok}`);
  if (fd === undefined) return false;
  closeFd(fd);
  return true;
}

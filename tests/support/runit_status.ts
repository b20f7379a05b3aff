/**
 * Test support: runit's `supervise/status` record written as runsv writes it
 * (the inverse of lib/runit/status.ts parseStatus), for fake service
 * directories in tests and benchmarks. Not a test file.
 * @module
 */

import type { RunState, Status } from "../../lib/runit/status.ts";

/** Seconds between the TAI64 epoch label and the Unix epoch, as runit writes it. */
const TAI64_UNIX = 2n ** 62n + 10n;
const STATES: readonly RunState[] = ["down", "run", "finish"];

/** Encodes a status record (the inverse of parseStatus). Pure. */
export function encodeStatus(s: Status): Uint8Array {
  const b = new Uint8Array(20);
  const v = new DataView(b.buffer);
  let sec = Math.floor(s.since);
  let nano = Math.round((s.since - sec) * 1e9);
  if (nano >= 1e9) {
    // The fraction rounded up to a whole second (nanoseconds must stay below 1e9).
    sec += 1;
    nano -= 1e9;
  }
  v.setBigUint64(0, BigInt(sec) + TAI64_UNIX, false);
  v.setUint32(8, nano, false);
  v.setUint32(12, s.pid, true);
  b[16] = s.paused ? 1 : 0;
  b[17] = s.want === "up" ? 0x75 : 0x64;
  b[18] = s.gotTerm ? 1 : 0;
  b[19] = STATES.indexOf(s.state);
  return b;
}

/**
 * runit, read and driven through the service directory as runit's own `sv`
 * does: state from `supervise/status`, liveness of runsv from
 * `supervise/ok`, commands written to `supervise/control`. Also finds the
 * `runsvdir` that supervises a VMDIR, and runs `sv` itself for `vm sv`.
 * @module
 */

import { basename, join, resolve } from "../os/path.ts";
import { SystemError } from "../errors.ts";
import { F } from "../vm/files.ts";
import { allPids } from "../os/proc.ts";
import { realPathOrUndefined } from "../os/fs.ts";
import { pollUntil } from "../os/poll.ts";
import { closeFd, openWriteNonblock, writeFd } from "../os/libc.ts";

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

/** Encodes a status record (the inverse of parseStatus; for tests and tools). Pure. */
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

/** Reads `<dir>/supervise/status`; undefined when runsv never ran there. */
export function readStatus(dir: string): Status | undefined {
  try {
    return parseStatus(Deno.readFileSync(join(dir, F.status)));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw e;
  }
}

/**
 * Whether a runsv supervises `dir` now: `supervise/ok` is a FIFO runsv holds
 * open for reading, so opening it for writing without blocking succeeds only
 * while runsv lives (ENXIO otherwise). Opens `<dir>/supervise/ok`.
 */
export function isSupervised(dir: string): boolean {
  const fd = openWriteNonblock(join(dir, F.ok));
  if (fd === undefined) return false;
  closeFd(fd);
  return true;
}

/** runsv commands (see runsv(8)): up, down, once, pause, cont, hup, alarm, interrupt, quit, term, kill, exit. */
export type SvCommand =
  | "u"
  | "d"
  | "o"
  | "p"
  | "c"
  | "h"
  | "a"
  | "i"
  | "q"
  | "1"
  | "2"
  | "t"
  | "k"
  | "x";

/**
 * Sends a command to the runsv of `dir` by writing it to `supervise/control`.
 * Throws SystemError when no runsv supervises `dir`.
 */
export function control(dir: string, cmd: SvCommand): void {
  const fd = openWriteNonblock(join(dir, F.controlFifo));
  if (fd === undefined) {
    throw new SystemError(
      `No runsv supervises "${dir}"; start vmd ("vm daemon" or "runsvdir $VMDIR")`,
    );
  }
  try {
    if (!writeFd(fd, cmd)) throw new SystemError(`Cannot send "${cmd}" to the runsv of "${dir}"`);
  } finally {
    closeFd(fd);
  }
}

/** Polls until a runsv supervises `dir`; returns whether it did within `timeoutMs`. */
export function waitSupervised(dir: string, timeoutMs: number): Promise<boolean> {
  return pollUntil(() => isSupervised(dir), timeoutMs, 100);
}

/** Splits a /proc cmdline into its arguments. Pure. */
export function splitCmdline(raw: string): string[] {
  const parts = raw.split("\0");
  if (parts.at(-1) === "") parts.pop();
  return parts;
}

/** The directory a runsvdir command line supervises (`runsvdir [-P] dir [log]`). Pure. */
export function runsvdirTarget(argv: readonly string[]): string | undefined {
  if (basename(argv[0] ?? "") !== "runsvdir") return undefined;
  return argv.slice(1).find((a) => a !== "-P");
}

/**
 * PIDs of the `runsvdir` processes that supervise `vmdir` (normally 0 or 1).
 * Reads `/proc/<pid>/cmdline` and `/proc/<pid>/cwd` of every process.
 */
export function findRunsvdir(vmdir: string): number[] {
  const want = realPathOrUndefined(vmdir);
  if (want === undefined) return [];
  const pids: number[] = [];
  for (const pid of allPids()) {
    try {
      const argv = splitCmdline(Deno.readTextFileSync(`/proc/${pid}/cmdline`));
      const target = runsvdirTarget(argv);
      if (target === undefined) continue;
      const cwd = Deno.readLinkSync(`/proc/${pid}/cwd`);
      if (realPathOrUndefined(resolve(cwd, target)) === want) pids.push(pid);
    } catch {
      // The process went away or is not ours to read.
    }
  }
  return pids;
}

/** The SVWAIT for `vm sv`: the largest wait of the VMs plus 5 s (runit's default is 7). Pure. */
export function svWait(waits: readonly number[]): number {
  return Math.max(0, ...waits) + 5;
}

/**
 * Runs runit's `sv <args>` with `SVDIR=vmdir` and `SVWAIT=svwait`, its output
 * passing through to ours; returns sv's exit code.
 */
export async function runSv(
  vmdir: string,
  args: readonly string[],
  svwait: number,
): Promise<number> {
  try {
    const st = await new Deno.Command("sv", {
      args: [...args],
      env: { SVDIR: vmdir, SVWAIT: String(svwait) },
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    return st.code;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new SystemError('runit\'s "sv" is not installed; install the "runit" package');
    }
    throw e;
  }
}

/**
 * A VM's log, as svlogd writes it: `log/main/current`, rotated by svlogd
 * (renamed to `@<timestamp>.s`, a new `current` created). `vm log` prints its
 * last lines ({@link readTail}) and follows it ({@link followLog}) across
 * rotations and truncation. The line logic is pure ({@link tailStart},
 * {@link followAction}). Reads `<vm>/log/main/current`; writes nothing.
 * @module
 */

import { join } from "../os/path.ts";
import { CheckFailedError } from "../errors.ts";
import { F } from "../layout.ts";
import { isBackoffLine } from "./backoff.ts";
import { hasLog } from "./dir.ts";
import { writeAll, type Writer } from "../os/io.ts";

/** Lines `vm log` prints when `-n` is not given (as tail). */
export const DEFAULT_LINES = 10;

/** How often a followed log is checked for new data, in milliseconds. */
export const FOLLOW_POLL_MS = 200;

/** Block size of reading a log backwards. */
const BLOCK = 64 * 1024;

const NL = 0x0a;

/**
 * Where the last `n` lines of `buf` begin. `buf` is the end of a file;
 * `atFileStart` says it is the whole file. A final line without a newline
 * counts as a line. Returns undefined when `buf` holds fewer than `n` line
 * starts and more of the file comes before it. Pure.
 */
export function tailStart(buf: Uint8Array, n: number, atFileStart: boolean): number | undefined {
  if (n <= 0) return buf.length;
  // The newline ending the last line does not start a line.
  let i = buf.length - 1;
  if (i >= 0 && buf[i] === NL) i--;
  let found = 0;
  for (; i >= 0; i--) {
    if (buf[i] === NL && ++found === n) return i + 1;
  }
  return atFileStart ? 0 : undefined;
}

/** The log file of the VM in `dir`, after checking that the VM logs. */
export function logFile(name: string, dir: string): string {
  if (!hasLog(dir)) {
    throw new CheckFailedError(
      `VM "${name}" does not log; enable it with: mkdir "${dir}/${F.log}" && ` +
        `ln -s ../../.default/log/run "${dir}/${F.log}/run" (or make VMs with "vm make --log")`,
    );
  }
  return join(dir, F.logCurrent);
}

/**
 * Reads the last `n` lines of the file at `path`, reading it backwards in
 * blocks (a log may be large). Returns them and the file's size at the time
 * (where following continues), plus its inode. Throws Deno.errors.NotFound.
 */
export function readTail(
  path: string,
  n: number,
): { data: Uint8Array; size: number; ino: number } {
  const f = Deno.openSync(path);
  try {
    const st = f.statSync();
    const size = st.size;
    let from = size;
    let buf = new Uint8Array(0);
    for (;;) {
      const len = Math.min(BLOCK, from);
      from -= len;
      const chunk = new Uint8Array(len + buf.length);
      f.seekSync(from, Deno.SeekMode.Start);
      let got = 0;
      while (got < len) {
        const r = f.readSync(chunk.subarray(got, len));
        if (r === null) break;
        got += r;
      }
      chunk.set(buf, len);
      buf = chunk;
      const start = tailStart(buf, n, from === 0);
      if (start !== undefined) return { data: buf.subarray(start), size, ino: st.ino ?? 0 };
    }
  } finally {
    f.close();
  }
}

/** What a follower does next; see {@link followAction}. */
export type FollowAction = "read" | "idle" | "truncated" | "rotated" | "missing";

/**
 * Decides the next step of following a log: `open` is the file being read
 * (its inode and read offset), `now` what the log's path shows now (undefined
 * when it does not exist). Pure.
 * - "missing": no file at the path (svlogd is between renaming and creating);
 * - "rotated": the path is another file: finish the old one, open the new;
 * - "truncated": the same file got shorter: read again from its start;
 * - "read": it grew; "idle": nothing new.
 */
export function followAction(
  open: { ino: number; offset: number },
  now: { ino: number; size: number } | undefined,
): FollowAction {
  if (now === undefined) return "missing";
  if (now.ino !== open.ino) return "rotated";
  if (now.size < open.offset) return "truncated";
  return now.size > open.offset ? "read" : "idle";
}

function statOrUndefined(path: string): { ino: number; size: number } | undefined {
  try {
    const st = Deno.statSync(path);
    return { ino: st.ino ?? 0, size: st.size };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** Options of {@link followLog}. */
export interface FollowOptions {
  /** Stops following. */
  signal?: AbortSignal;
  /** Poll interval, milliseconds (default {@link FOLLOW_POLL_MS}). */
  pollMs?: number;
}

/**
 * Writes the last `n` lines of the log at `path`, then, when `follow`, every
 * byte appended to it to `output`, until `opts.signal` aborts or writing
 * fails (e.g. the reader of a pipe left). Follows svlogd's rotation (drains
 * the renamed file, then reads the new `current` from its start) and
 * truncation. A missing file is waited for when following; otherwise throws
 * CheckFailedError naming `name`.
 */
export async function followLog(
  name: string,
  path: string,
  n: number,
  follow: boolean,
  output: Writer,
  opts: FollowOptions = {},
): Promise<void> {
  const f = new Follower(path, output);
  try {
    try {
      const tail = readTail(path, n);
      await writeAll(output, tail.data);
      if (!follow) return;
      // The file read may have been rotated away already: then start the new one at 0.
      if (await f.open()) f.offset = f.ino === tail.ino ? tail.size : 0;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      if (!follow) {
        throw new CheckFailedError(
          `VM "${name}" has no log yet ("${path}" is missing); it appears once its log ` +
            `service runs (is runsvdir running?)`,
        );
      }
    }
    while (opts.signal?.aborted !== true) {
      if (!await f.step()) await abortableSleep(opts.pollMs ?? FOLLOW_POLL_MS, opts.signal);
    }
  } catch (e) {
    // The reader went away (a closed pipe): following is over.
    if (e instanceof Deno.errors.BrokenPipe) return;
    throw e;
  } finally {
    f.close();
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done);
  });
}

/** The file being followed: which one (inode), how far it was copied, and the next step. */
class Follower {
  file: Deno.FsFile | undefined;
  ino = 0;
  offset = 0;
  readonly #buf = new Uint8Array(BLOCK);

  constructor(readonly path: string, readonly output: Writer) {}

  /** Opens the log's current file from its start; false when it is missing. */
  async open(): Promise<boolean> {
    try {
      this.file = await Deno.open(this.path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return false;
      throw e;
    }
    this.ino = this.file.statSync().ino ?? 0;
    this.offset = 0;
    return true;
  }

  /** Copies the open file from `offset` to its end. */
  async drain(): Promise<void> {
    if (this.file === undefined) return;
    await this.file.seek(this.offset, Deno.SeekMode.Start);
    for (;;) {
      const r = await this.file.read(this.#buf);
      if (r === null || r === 0) return;
      this.offset += r;
      await writeAll(this.output, this.#buf.subarray(0, r));
    }
  }

  /** Does what {@link followAction} says; false when there was nothing to do (idle, missing). */
  async step(): Promise<boolean> {
    const now = statOrUndefined(this.path);
    const action = this.file === undefined
      ? (now === undefined ? "missing" : "rotated")
      : followAction({ ino: this.ino, offset: this.offset }, now);
    if (action === "truncated") this.offset = 0;
    if (action === "read" || action === "truncated") {
      await this.drain();
      return true;
    }
    if (action !== "rotated") return false;
    // svlogd renamed the old file before creating the new one: finish it first.
    await this.drain();
    this.close();
    if (await this.open()) await this.drain();
    return true;
  }

  close(): void {
    this.file?.close();
    this.file = undefined;
  }
}

/** svlogd's timestamps: `-t` (TAI64N, `@4000…`) or `-tt` (UTC, `2024-05-01_10:00:00.12345`). */
const STAMP = /^(@[0-9a-f]{24}|\d{4}-\d\d-\d\d_\d\d:\d\d:\d\d\.\d+)\s+/;

/** Unix seconds of a svlogd timestamp (TAI64N label minus 2^62 + 10, or UTC). Pure. */
function stampSeconds(stamp: string): number {
  if (stamp.startsWith("@")) {
    return Number(BigInt(`0x${stamp.slice(1, 17)}`) - (1n << 62n) - 10n);
  }
  const [date = "", time = ""] = stamp.split("_");
  return Date.parse(`${date}T${time.slice(0, 12)}Z`) / 1000;
}

/**
 * The last `n` lines of a svlogd log written at Unix time `since` or later
 * (0.2 s of slack; lines without a timestamp count), timestamps removed,
 * empty and backoff lines skipped: why a start just failed. Pure.
 */
export function logLinesSince(text: string, since: number, n: number): string[] {
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const l = raw.trim();
    const stamp = STAMP.exec(l);
    if (stamp !== null && stampSeconds(stamp[1] ?? "") < since - 0.2) continue;
    const line = stamp === null ? l : l.slice(stamp[0].length);
    if (line !== "" && !isBackoffLine(line)) out.push(line);
  }
  return out.slice(-n);
}

/**
 * Running a command in the guest through its agent, with its output as it
 * comes (`vm exec`). qemu-ga's `guest-exec` hands captured output over only
 * once the command has ended, so instead the command runs under `/bin/sh`
 * with stdout and stderr going to two files in the guest's `/tmp` (mode
 * 0600), which are read with `guest-file-read` every poll while
 * `guest-exec-status` says it runs, and removed at the end. No network is
 * needed. Every agent call is bounded; the command itself may run as long
 * as it likes (or `timeoutMs`).
 * Level: qemu.
 * @module
 */

import { CheckFailedError, SystemError } from "../errors.ts";
import type { GuestAgent } from "./guest_agent.ts";
import { asObject } from "./qmp_message.ts";
import { sleep } from "../os/poll.ts";
import { toHex } from "../text/bytes.ts";

/** How `vm exec` runs a command. */
export interface ExecOptions {
  /** Receive the command's output bytes as they arrive. */
  onStdout: (bytes: Uint8Array) => Promise<void> | void;
  onStderr: (bytes: Uint8Array) => Promise<void> | void;
  /** Milliseconds between polls (default 200). */
  pollMs?: number;
  /** Give up after this long (default: never); the command is left running. */
  timeoutMs?: number;
}

/** How the command ended: its exit code, or the signal that ended it. */
export interface ExecResult {
  exitCode?: number;
  signal?: number;
}

const READ_CHUNK = 64 * 1024;

/** The integer member `key` of an agent's reply to `command`; SystemError when it has none. */
function intOf(agent: GuestAgent, command: string, reply: unknown, key?: string): number {
  const v = key === undefined ? reply : asObject(reply)?.[key];
  if (typeof v === "number" && Number.isInteger(v)) return v;
  throw agent.malformed(command, `no integer${key === undefined ? "" : ` "${key}"`}`);
}

/** The bytes of a `guest-file-read` reply; SystemError when it is not one. */
function readBytes(agent: GuestAgent, reply: unknown): Uint8Array {
  const count = intOf(agent, "guest-file-read", reply, "count");
  const b64 = asObject(reply)?.["buf-b64"];
  let bytes: Uint8Array | undefined;
  try {
    if (typeof b64 === "string") bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  } catch (e) {
    if (!(e instanceof DOMException)) throw e; // atob: not base64
  }
  if (bytes === undefined || bytes.length !== count) {
    throw agent.malformed("guest-file-read", `"buf-b64" does not hold "count" bytes`);
  }
  return bytes;
}

/** The `/bin/sh -c` script that runs "$@" with its output in `out` and `err`. Pure. */
export function wrapperScript(out: string, err: string): string {
  return `umask 077; exec "$@" >${out} 2>${err}`;
}

/** A file in the guest being followed from an offset. */
class Follower {
  #handle: number | undefined;
  #pos = 0;
  constructor(
    readonly agent: GuestAgent,
    readonly path: string,
    readonly sink: (b: Uint8Array) => Promise<void> | void,
  ) {}

  /** Copies what is new in the file to the sink; returns how many bytes. */
  async pump(): Promise<number> {
    if (this.#handle === undefined) {
      try {
        const open = { path: this.path, mode: "r" };
        this.#handle = intOf(
          this.agent,
          "guest-file-open",
          await this.agent.execute("guest-file-open", open),
        );
      } catch (e) {
        if (!(e instanceof CheckFailedError)) throw e;
        return 0; // the agent could not open it: not created yet (the shell does right after the start)
      }
    }
    let total = 0;
    for (;;) {
      // A seek clears the stream's end-of-file mark, so bytes written since are read.
      await this.agent.execute("guest-file-seek", {
        handle: this.#handle,
        offset: this.#pos,
        whence: "set",
      });
      const bytes = readBytes(
        this.agent,
        await this.agent.execute("guest-file-read", { handle: this.#handle, count: READ_CHUNK }),
      );
      if (bytes.length === 0) return total;
      this.#pos += bytes.length;
      total += bytes.length;
      await this.sink(bytes);
    }
  }

  async close(): Promise<void> {
    if (this.#handle !== undefined) {
      await this.agent.execute("guest-file-close", { handle: this.#handle });
    }
  }
}

/** Runs `argv` in the guest and waits (bounded) for it; the agent's status. */
async function startAndWait(
  agent: GuestAgent,
  argv: readonly string[],
  files: { out: string; err: string },
  opts: ExecOptions,
  followers: Follower[],
): Promise<ExecResult> {
  const started = await agent.execute("guest-exec", {
    path: "/bin/sh",
    arg: ["-c", wrapperScript(files.out, files.err), "sh", ...argv],
  });
  const pid = intOf(agent, "guest-exec", started, "pid");
  const end = opts.timeoutMs === undefined ? Infinity : performance.now() + opts.timeoutMs;
  for (;;) {
    const st = asObject(await agent.execute("guest-exec-status", { pid }));
    if (st === undefined) throw agent.malformed("guest-exec-status", "not an object");
    // Read after the status: once it says "exited", the files are complete.
    for (const f of followers) await f.pump();
    if (st.exited === true) {
      return typeof st.signal === "number"
        ? { signal: st.signal }
        : { exitCode: Number(st.exitcode ?? 0) };
    }
    if (performance.now() >= end) {
      throw new SystemError(
        `The command still runs in the guest after ${opts.timeoutMs} ms (PID ${pid})`,
      );
    }
    await sleep(opts.pollMs ?? 200);
  }
}

/**
 * Runs `argv` (argv[0] looked up in the guest's PATH by `/bin/sh`) in the
 * guest as the agent's user (root), passing its output to the callbacks
 * as it comes; returns its exit code or signal. Removes its output files
 * in the guest afterwards. Throws CheckFailedError when the agent refuses
 * (e.g. guest-exec disabled), SystemError when it stops answering.
 */
export async function guestExec(
  agent: GuestAgent,
  argv: readonly string[],
  opts: ExecOptions,
): Promise<ExecResult> {
  const tag = toHex(crypto.getRandomValues(new Uint8Array(8)));
  const files = { out: `/tmp/vm-exec-${tag}.out`, err: `/tmp/vm-exec-${tag}.err` };
  const followers = [
    new Follower(agent, files.out, opts.onStdout),
    new Follower(agent, files.err, opts.onStderr),
  ];
  try {
    return await startAndWait(agent, argv, files, opts, followers);
  } finally {
    // Cleanup is best effort: when the agent is gone, so is the guest's /tmp use of it.
    const ignore = () => {};
    for (const f of followers) await f.close().catch(ignore);
    const rm = { path: "/bin/rm", arg: ["-f", files.out, files.err] };
    await agent.execute("guest-exec", rm).catch(ignore);
  }
}

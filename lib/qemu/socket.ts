/**
 * Connecting to QEMU's unix sockets in a VM directory (`supervise/qmp`,
 * `supervise/monitor`, `supervise/console`, …) by absolute path, whatever its
 * length. A socket address holds at most 107 bytes of path (sun_path), and a
 * deep VMDIR exceeds that; then the connection goes through a symlink to the
 * socket's directory in a fresh private temporary directory, which is
 * removed at once. The one strategy for long paths: nothing changes the
 * working directory (which would race with other connections in the same
 * process). Creates and removes `$TMPDIR/vm-sock-*` for long paths only.
 * @module
 */

import { basename, dirname, join, resolve } from "../os/path.ts";
import { describe, SystemError } from "../errors.ts";
import { sleep, withTimeout } from "../os/poll.ts";

/** The longest path a unix socket address holds (sun_path is 108 bytes with its NUL). */
export const SUN_PATH_MAX = 107;

const encoder = new TextEncoder();

/** Whether `path` fits a socket address as it is. Pure. */
export function fitsSunPath(path: string): boolean {
  return encoder.encode(path).length <= SUN_PATH_MAX;
}

/**
 * Connects to the unix socket at `path` (absolute or relative to the
 * working directory). Throws Deno's errors unchanged (NotFound,
 * ConnectionRefused, WouldBlock when the listen queue is full…).
 */
export async function connectUnix(path: string): Promise<Deno.UnixConn> {
  if (fitsSunPath(path)) return await Deno.connect({ transport: "unix", path });
  const tmp = Deno.makeTempDirSync({ prefix: "vm-sock-" });
  try {
    const link = join(tmp, "d");
    Deno.symlinkSync(dirname(resolve(path)), link);
    return await Deno.connect({ transport: "unix", path: join(link, basename(path)) });
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
}

/** How long to wait before connecting again to a socket whose backlog is full. */
const BUSY_RETRY_MS = 20;

/**
 * Connects to the unix socket at `path` by `deadline` (a `performance.now()`
 * time; `timeoutMs` and `what`, e.g. "QMP socket", are for messages). A full
 * listen backlog (EAGAIN: QEMU is busy with another client, whose queue is
 * tiny) is retried until the deadline. Throws SystemError.
 */
export async function connectRetrying(
  path: string,
  deadline: number,
  timeoutMs: number,
  what: string,
): Promise<Deno.UnixConn> {
  for (;;) {
    const connecting = connectUnix(path);
    try {
      return await withTimeout(
        connecting,
        deadline - performance.now(),
        () =>
          new SystemError(
            `Cannot connect to ${what} "${path}" within ${timeoutMs} ms; is QEMU hung?`,
          ),
      );
    } catch (e) {
      // A connect that completes after the timeout must not leak its socket.
      connecting.then((late) => late.close(), () => {});
      if (e instanceof SystemError) throw e;
      const left = deadline - performance.now();
      if (e instanceof Deno.errors.WouldBlock) {
        if (left > 0) {
          await sleep(Math.min(BUSY_RETRY_MS, left));
          continue;
        }
        throw new SystemError(
          `Cannot connect to ${what} "${path}" within ${timeoutMs} ms: its queue is full; ` +
            `check that no other QMP client is connected`,
        );
      }
      throw new SystemError(
        `Cannot connect to ${what} "${path}": ${describe(e)}; is the VM running?`,
      );
    }
  }
}

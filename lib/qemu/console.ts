/**
 * Attaching to a VM's character sockets: the serial console
 * (`supervise/console`, from the `serial-console` template) and the HMP
 * monitor (`supervise/monitor`). Bytes are copied both ways between the socket
 * and the caller's streams; nothing here prints on its own.
 *
 * - Interactive (a terminal): {@link attachInteractive} until the detach byte
 *   Ctrl-] ({@link DETACH_BYTE}), the end of input or the socket closing
 *   (lib/os/terminal.ts puts the terminal in raw mode and restores it).
 * - Piped: {@link attachPiped} sends all input, then keeps copying the socket's
 *   output until it has been quiet for a while.
 * - HMP line mode is lib/qemu/hmp.ts.
 *
 * Reads `<vm>/supervise/{console,monitor,status}`.
 * @module
 */

import { join } from "../os/path.ts";
import { CheckFailedError, describe, SystemError } from "../errors.ts";
import { closeQuietly, isStreamEnd, type Reader, writeAll, type Writer } from "../os/io.ts";
import { F } from "../layout.ts";
import { readStatus } from "../runit/status.ts";
import { connectUnix } from "./socket.ts";

/** The byte that detaches an interactive session: Ctrl-] (0x1d), as telnet's escape. */
export const DETACH_BYTE = 0x1d;

/** How long a piped console waits, by default, for the socket to be quiet after the input ends. */
export const DEFAULT_IDLE_MS = 1000;

/**
 * Splits a chunk of terminal input at the first detach byte: `data` is what
 * goes to the socket, `detach` whether the byte was there (what follows it is
 * dropped). Pure.
 */
export function splitAtDetach(chunk: Uint8Array): { data: Uint8Array; detach: boolean } {
  const i = chunk.indexOf(DETACH_BYTE);
  return i < 0 ? { data: chunk, detach: false } : { data: chunk.subarray(0, i), detach: true };
}

/** Which socket of a VM to attach to. */
export type VmSocket = "console" | "monitor";

/**
 * Connects to VM `name`'s (in `dir`) serial console or HMP monitor socket.
 * Throws CheckFailedError (exit 1) when the VM is not running or, for the
 * console, has no console socket (no `serial-console` template), and
 * SystemError for any other failure. Reads `<dir>/supervise/status`.
 */
export async function connectVmSocket(
  name: string,
  dir: string,
  which: VmSocket,
): Promise<Deno.UnixConn> {
  const socket = which === "console" ? F.console : F.monitor;
  const notRunning = () =>
    new CheckFailedError(`VM "${name}" is not running; start it with "vm start ${name}"`);
  try {
    return await connectUnix(join(dir, socket));
  } catch (e) {
    const running = readStatus(dir)?.state === "run";
    if (e instanceof Deno.errors.NotFound) {
      if (!running) throw notRunning();
      if (which === "console") {
        throw new CheckFailedError(
          `VM "${name}" has no serial console socket ("${socket}"); add the serial-console ` +
            `template (cp "$VMDIR/.default/templates/serial-console" "${dir}/templates/") and ` +
            `restart it with "vm restart ${name}"`,
        );
      }
      throw new CheckFailedError(
        `VM "${name}" has no monitor socket ("${socket}") yet; QEMU is starting or failed, ` +
          `see "vm log ${name}"`,
      );
    }
    if (e instanceof Deno.errors.ConnectionRefused && !running) throw notRunning();
    throw new SystemError(`Cannot connect to "${dir}/${socket}": ${describe(e)}`);
  }
}

/** Why an attached session ended. */
export type AttachEnd = "detached" | "eof" | "closed" | "idle";

/**
 * Copies `from` to `to` until `from` ends ("eof") or a read or write fails
 * ("failed"); `onChunk` is called as each chunk arrives.
 */
async function pump(from: Reader, to: Writer, onChunk?: () => void): Promise<"eof" | "failed"> {
  const buf = new Uint8Array(16 * 1024);
  try {
    for (;;) {
      const n = await from.read(buf);
      if (n === null) return "eof";
      onChunk?.();
      await writeAll(to, buf.subarray(0, n));
    }
  } catch (e) {
    if (!isStreamEnd(e)) throw e;
    return "failed";
  }
}

/**
 * Copies `input` to `conn` and `conn` to `output` until `input` carries the
 * detach byte ("detached"), `input` ends ("eof"), the socket closes or an
 * output fails ("closed"), or `signal` aborts ("detached"). Closes `conn`.
 * A read of `input` still pending at the end is left to the caller (Deno's
 * stdin cannot be cancelled; the process exits).
 */
export async function attachInteractive(
  conn: Deno.Conn,
  input: Reader,
  output: Writer,
  signal?: AbortSignal,
): Promise<AttachEnd> {
  const end = Promise.withResolvers<AttachEnd>();
  const onAbort = () => end.resolve("detached");
  signal?.addEventListener("abort", onAbort);
  if (signal?.aborted) end.resolve("detached");
  // The socket ends, is closed by us or reset by QEMU, or output is gone: the session is over.
  void pump(conn, output).then(() => end.resolve("closed"));
  void (async () => {
    const buf = new Uint8Array(4096);
    try {
      for (;;) {
        const n = await input.read(buf);
        if (n === null) return end.resolve("eof");
        const { data, detach } = splitAtDetach(buf.subarray(0, n));
        if (data.length > 0) await writeAll(conn, data);
        if (detach) return end.resolve("detached");
      }
    } catch (e) {
      if (!isStreamEnd(e)) throw e;
      end.resolve("closed");
    }
  })();
  const how = await end.promise;
  signal?.removeEventListener("abort", onAbort);
  closeQuietly(conn);
  return how;
}

/**
 * Copies `input` to `conn` (every byte, no detach byte) and `conn` to
 * `output`; once `input` ends, keeps copying until the socket has been quiet
 * for `idleMs` ("idle") or closes ("closed"). The socket is never half-closed:
 * QEMU would drop the client and its answer. Closes `conn`.
 */
export async function attachPiped(
  conn: Deno.Conn,
  input: Reader,
  output: Writer,
  idleMs: number = DEFAULT_IDLE_MS,
): Promise<AttachEnd> {
  const end = Promise.withResolvers<AttachEnd>();
  let last = performance.now();
  let inputDone = false;
  void pump(conn, output, () => last = performance.now()).then(() => end.resolve("closed"));
  void pump(input, conn).then((how) => {
    if (how === "failed") return end.resolve("closed");
    last = Math.max(last, performance.now());
    inputDone = true;
  });
  const timer = setInterval(() => {
    if (inputDone && performance.now() - last >= idleMs) end.resolve("idle");
  }, Math.max(10, Math.min(100, idleMs / 4)));
  const how = await end.promise;
  clearInterval(timer);
  closeQuietly(conn);
  return how;
}

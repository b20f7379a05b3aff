/**
 * Attaching to a VM's character sockets: the serial console
 * (`supervise/console`, from the `serial-console` template) and the HMP
 * monitor (`supervise/monitor`). Bytes are copied both ways between the socket
 * and the caller's streams; nothing here prints on its own.
 *
 * - Interactive (a terminal): {@link attachInteractive} until the detach byte
 *   Ctrl-] ({@link DETACH_BYTE}), the end of input or the socket closing;
 *   {@link withRawTerminal} puts the terminal in raw mode and always restores it.
 * - Piped: {@link attachPiped} sends all input, then keeps copying the socket's
 *   output until it has been quiet for a while.
 * - HMP line mode: {@link hmpSession} sends one command per input line and
 *   returns each answer without QEMU's echo and prompt.
 *
 * Sockets are connected by a path relative to the VM directory
 * ({@link connectIn}), so long VM directories stay within the 108-byte
 * `sun_path` limit. Reads `<vm>/supervise/{console,monitor,status}`.
 * @module
 */

import { CheckFailedError, describe, SystemError } from "../errors.ts";
import { F } from "../vm/files.ts";
import { readStatus } from "../runit/status.ts";

/** The byte that detaches an interactive session: Ctrl-] (0x1d), as telnet's escape. */
export const DETACH_BYTE = 0x1d;

/** How long a piped console waits, by default, for the socket to be quiet after the input ends. */
export const DEFAULT_IDLE_MS = 1000;

/** How long the HMP monitor gets to greet a new client. */
export const HMP_GREETING_MS = 5000;

/** How long the HMP monitor gets to answer one command in line mode. */
export const HMP_ANSWER_MS = 60_000;

/** QEMU's HMP prompt. */
export const HMP_PROMPT = "(qemu) ";

/** Something to read bytes from (Deno.stdin, a connection). */
export interface Reader {
  read(p: Uint8Array): Promise<number | null>;
}

/** Something to write bytes to (Deno.stdout, a connection). */
export interface Writer {
  write(p: Uint8Array): Promise<number>;
}

/** Writes all of `data` to `w`. */
export async function writeAll(w: Writer, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await w.write(data.subarray(off));
}

/**
 * Splits a chunk of terminal input at the first detach byte: `data` is what
 * goes to the socket, `detach` whether the byte was there (what follows it is
 * dropped). Pure.
 */
export function splitAtDetach(chunk: Uint8Array): { data: Uint8Array; detach: boolean } {
  const i = chunk.indexOf(DETACH_BYTE);
  return i < 0 ? { data: chunk, detach: false } : { data: chunk.subarray(0, i), detach: true };
}

/**
 * Connects to the unix socket `socket` (a path relative to `dir`, e.g.
 * `supervise/console`) with the current directory set to `dir` for the
 * connect only. Throws Deno's errors (NotFound, ConnectionRefused…) unchanged.
 */
export async function connectIn(dir: string, socket: string): Promise<Deno.UnixConn> {
  let old: string | undefined;
  try {
    old = Deno.cwd();
  } catch {
    // The current directory was removed: nothing to go back to.
  }
  Deno.chdir(dir);
  try {
    return await Deno.connect({ transport: "unix", path: socket });
  } finally {
    if (old !== undefined) Deno.chdir(old);
  }
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
    return await connectIn(dir, socket);
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
  } catch {
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
    } catch {
      end.resolve("closed");
    }
  })();
  const how = await end.promise;
  signal?.removeEventListener("abort", onAbort);
  try {
    conn.close();
  } catch {
    // Already closed.
  }
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
  try {
    conn.close();
  } catch {
    // Already closed.
  }
  return how;
}

/**
 * Runs `work` with the terminal on `stdin` in raw mode (no echo, no line
 * editing, no signals from keys: Ctrl-C goes to the guest). The terminal is
 * restored whatever happens, also on SIGTERM and SIGHUP, which abort the
 * signal given to `work`.
 */
export async function withRawTerminal<T>(
  stdin: { setRaw(mode: boolean): void },
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const abort = new AbortController();
  const signals: Deno.Signal[] = ["SIGTERM", "SIGHUP"];
  const onSignal = () => abort.abort();
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  stdin.setRaw(true);
  try {
    return await work(abort.signal);
  } finally {
    stdin.setRaw(false);
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
  }
}

/**
 * The answer to one HMP command, from the monitor's output `raw` since the
 * command was sent, or undefined while the next prompt has not come. QEMU
 * echoes the command line (with cursor escapes) up to the first CRLF; the
 * answer follows, up to the prompt. Returned with LF line ends, ending in a
 * newline unless empty. Pure.
 */
export function hmpAnswer(raw: string): string | undefined {
  if (!raw.endsWith(HMP_PROMPT)) return undefined;
  const echoEnd = raw.indexOf("\r\n");
  if (echoEnd < 0) return undefined;
  const answer = raw.slice(echoEnd + 2, raw.length - HMP_PROMPT.length).replace(/\r\n/g, "\n");
  return answer === "" || answer.endsWith("\n") ? answer : answer + "\n";
}

/** Reads text from a socket, waiting for a condition with a timeout. */
class TextSocket {
  text = "";
  closed = false;
  readonly #conn: Deno.Conn;
  readonly #dec = new TextDecoder();
  readonly #buf = new Uint8Array(16 * 1024);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Reads until `done(text)` holds or the socket closes; false on timeout. */
  async until(done: (text: string) => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!done(this.text) && !this.closed) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), left));
      let n: number | null | "timeout";
      try {
        n = await Promise.race([this.#conn.read(this.#buf), timeout]);
      } catch {
        n = null;
      } finally {
        clearTimeout(timer);
      }
      if (n === "timeout") return false;
      if (n === null) {
        this.closed = true;
        break;
      }
      this.text += this.#dec.decode(this.#buf.subarray(0, n), { stream: true });
    }
    return true;
  }
}

/**
 * Reads the HMP monitor's greeting (up to its first prompt) from `conn` and
 * returns it. Throws SystemError when it does not come within `timeoutMs`:
 * QEMU serves one monitor client at a time, so another one is attached (or
 * QEMU is hung). `name` is the VM's, for the message.
 */
export async function hmpGreeting(
  conn: Deno.Conn,
  name: string,
  timeoutMs: number = HMP_GREETING_MS,
): Promise<string> {
  const s = new TextSocket(conn);
  const ok = await s.until((t) => t.endsWith(HMP_PROMPT), timeoutMs);
  if (!ok || !s.text.endsWith(HMP_PROMPT)) {
    throw new SystemError(
      s.closed
        ? `The monitor of VM "${name}" closed the connection; is the VM stopping?`
        : `The monitor of VM "${name}" did not greet within ${timeoutMs} ms; QEMU serves one ` +
          `monitor client at a time: is another "vm monitor ${name}" attached?`,
    );
  }
  return s.text;
}

/**
 * HMP in line mode: reads the greeting, then sends each line of `lines`
 * (blank lines skipped) and passes each answer (see {@link hmpAnswer}) to
 * `answer`. Ends at the end of `lines` or when QEMU closes the socket (e.g.
 * after `quit`). Closes `conn`. Throws SystemError when the greeting or an
 * answer (within `answerMs`) does not come.
 */
export async function hmpSession(
  conn: Deno.Conn,
  name: string,
  lines: AsyncIterable<string>,
  answer: (text: string) => Promise<void>,
  answerMs: number = HMP_ANSWER_MS,
): Promise<void> {
  try {
    await hmpGreeting(conn, name);
    const s = new TextSocket(conn);
    const enc = new TextEncoder();
    for await (const raw of lines) {
      const line = raw.replace(/\r$/, "");
      if (line.trim() === "") continue;
      s.text = "";
      try {
        await writeAll(conn, enc.encode(line + "\n"));
      } catch {
        return;
      }
      const ok = await s.until((t) => hmpAnswer(t) !== undefined, answerMs);
      if (!ok) {
        throw new SystemError(
          `The monitor of VM "${name}" did not answer "${line}" within ${answerMs} ms; ` +
            `is QEMU hung?`,
        );
      }
      const text = hmpAnswer(s.text);
      if (text !== undefined) await answer(text);
      if (s.closed) {
        // Whatever came after the echo before QEMU closed the socket.
        const i = s.text.indexOf("\r\n");
        const rest = i < 0 ? "" : s.text.slice(i + 2).replace(/\r\n/g, "\n");
        if (text === undefined && rest !== "") await answer(rest);
        return;
      }
    }
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

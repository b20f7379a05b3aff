/**
 * QEMU's human monitor (HMP) on a VM's `supervise/monitor`: its greeting and
 * prompt, one command's answer without QEMU's echo and prompt (line mode, for
 * piped `vm monitor`), and `quit` for a forced stop (QMP serves one client,
 * which `vm __stop` may hold). Connects to `<vm>/supervise/monitor`.
 * @module
 */

import { join } from "../os/path.ts";
import { SystemError } from "../errors.ts";
import { closeQuietly, isStreamEnd, TextStream, writeAll } from "../os/io.ts";
import { F } from "../layout.ts";
import { connectUnix } from "./socket.ts";

/** How long the HMP monitor gets to greet a new client. */
export const HMP_GREETING_MS = 5000;

/** How long the HMP monitor gets to answer one command in line mode. */
export const HMP_ANSWER_MS = 60_000;

/** QEMU's HMP prompt. */
export const HMP_PROMPT = "(qemu) ";

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
  const s = new TextStream(conn);
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
    const s = new TextStream(conn);
    const enc = new TextEncoder();
    for await (const raw of lines) {
      const line = raw.replace(/\r$/, "");
      if (line.trim() === "") continue;
      s.text = "";
      try {
        await writeAll(conn, enc.encode(line + "\n"));
      } catch (e) {
        if (isStreamEnd(e)) return; // QEMU closed the monitor (e.g. after quit)
        throw e;
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
    closeQuietly(conn);
  }
}

/** The errors of a connection QEMU refused, reset or closed: the monitor is not there. */
function isGone(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound || e instanceof Deno.errors.ConnectionRefused ||
    e instanceof Deno.errors.WouldBlock || isStreamEnd(e);
}

/**
 * Sends `quit` to the HMP monitor of the VM in `dir` and waits, at most
 * `timeoutMs` for each step, for the greeting and then for QEMU to close the
 * connection. Returns whether `quit` was sent; false when the monitor is not
 * there or does not greet (the caller's next step, SIGTERM, follows).
 */
export async function hmpQuit(dir: string, timeoutMs: number): Promise<boolean> {
  let conn: Deno.UnixConn;
  try {
    conn = await connectUnix(join(dir, F.monitor));
  } catch (e) {
    if (isGone(e)) return false;
    throw e;
  }
  const s = new TextStream(conn);
  try {
    if (!await s.until((t) => t.includes(HMP_PROMPT), timeoutMs) || s.closed) return false;
    await writeAll(conn, new TextEncoder().encode("quit\n"));
    await s.until(() => false, timeoutMs);
    return true;
  } catch (e) {
    if (isGone(e)) return true;
    throw e;
  } finally {
    closeQuietly(conn);
  }
}

/**
 * Test support: a hostile guest agent on `<dir>/supervise/agent` (a unix
 * socket, as QEMU serves the guest-agent template's channel). It answers
 * the `guest-sync-delimited` handshake as qemu-ga does, then hands every
 * other request to `answer`, which writes whatever it likes: endless
 * lines, malformed replies, escape sequences. Not a test file.
 * @module
 */

import { AGENT_SOCKET } from "../../lib/qemu/guest_agent.ts";

/** Answers one request (its parsed JSON) on `conn`; the connection stays open. */
export type Answer = (msg: Record<string, unknown>, conn: Deno.Conn) => Promise<void>;

const enc = new TextEncoder();

/** Writes `text` to `conn`. */
export async function send(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = enc.encode(text);
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

/** The agent; `close` ends it and every connection. */
export class HostileAgent {
  readonly #listener: Deno.UnixListener;
  readonly #conns: Deno.Conn[] = [];
  readonly #loop: Promise<void>;

  /** Listens on `<dir>/supervise/agent` (making `supervise/`). */
  constructor(dir: string, answer: Answer) {
    Deno.mkdirSync(`${dir}/supervise`, { recursive: true });
    const listener = Deno.listen({ transport: "unix", path: `${dir}/${AGENT_SOCKET}` });
    this.#listener = listener;
    this.#loop = (async () => {
      for await (const conn of listener) {
        this.#conns.push(conn);
        void this.#serve(conn, answer).catch(() => {}); // the client went away
      }
    })().catch(() => {}); // the listener was closed
  }

  async #serve(conn: Deno.Conn, answer: Answer): Promise<void> {
    const buf = new Uint8Array(4096);
    let text = "";
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) return;
      const bytes = buf.subarray(0, n);
      const ff = bytes.lastIndexOf(0xff); // resets the parser, as qemu-ga's
      text = (ff >= 0 ? "" : text) +
        new TextDecoder().decode(ff >= 0 ? bytes.subarray(ff + 1) : bytes);
      for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n")) {
        const msg = JSON.parse(text.slice(0, nl));
        text = text.slice(nl + 1);
        if (msg.execute === "guest-sync-delimited") {
          await conn.write(
            new Uint8Array([0xff, ...enc.encode(`{"return": ${msg.arguments.id}}\n`)]),
          );
        } else await answer(msg, conn);
      }
    }
  }

  async close(): Promise<void> {
    this.#listener.close();
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* closed by the client */ }
    }
    await this.#loop;
  }
}

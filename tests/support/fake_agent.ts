/**
 * Test support: a fake qemu-ga on the agent socket of a temp VM directory
 * (`dir`): the sync handshake (0xFF, `guest-sync-delimited`), then each JSON
 * line answered through a handler, the request's id echoed; `silent`
 * answers nothing, `stale` is written before anything. Not a test file.
 * @module
 */

import { AGENT_SOCKET } from "../../lib/qemu/guest_agent.ts";

export type AgentHandler = (cmd: string, args: Record<string, unknown>) => unknown;

/** A fake agent: answers each JSON line through `handler` (undefined: no answer). */
export class FakeAgent {
  readonly dir = Deno.makeTempDirSync({ prefix: "agent-test-" });
  readonly seen: { cmd: string; args: Record<string, unknown> }[] = [];
  readonly #listener: Deno.UnixListener;
  readonly #conns: Deno.Conn[] = [];
  readonly #loop: Promise<void>;

  constructor(handler: AgentHandler, opts: { silent?: boolean; stale?: string } = {}) {
    Deno.mkdirSync(`${this.dir}/supervise`);
    this.#listener = Deno.listen({ transport: "unix", path: `${this.dir}/${AGENT_SOCKET}` });
    this.#loop = this.#accept(handler, opts);
  }

  async #accept(handler: AgentHandler, opts: { silent?: boolean; stale?: string }): Promise<void> {
    for await (const conn of this.#listener) {
      this.#conns.push(conn);
      void this.#serve(conn, handler, opts).catch(() => {}); // the client closed: fine
    }
  }

  async #serve(conn: Deno.Conn, handler: AgentHandler, opts: { silent?: boolean; stale?: string }) {
    const enc = new TextEncoder();
    if (opts.stale !== undefined) await conn.write(enc.encode(opts.stale));
    let text = "";
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) return;
      // 0xFF resets the parser, as qemu-ga's does.
      const bytes = buf.subarray(0, n);
      const ff = bytes.lastIndexOf(0xff);
      text = (ff >= 0 ? "" : text) +
        new TextDecoder().decode(ff >= 0 ? bytes.subarray(ff + 1) : bytes);
      let nl;
      while ((nl = text.indexOf("\n")) >= 0) {
        const msg = JSON.parse(text.slice(0, nl));
        text = text.slice(nl + 1);
        this.seen.push({ cmd: msg.execute, args: msg.arguments ?? {} });
        if (opts.silent) continue;
        if (msg.execute === "guest-sync-delimited") {
          await conn.write(
            new Uint8Array([0xff, ...enc.encode(`{"return": ${msg.arguments.id}}\n`)]),
          );
          continue;
        }
        let r = handler(msg.execute, msg.arguments ?? {}) as Record<string, unknown> | undefined;
        if (r !== undefined && typeof r.later === "number") {
          await new Promise((ok) => setTimeout(ok, r!.later as number));
          r = r.reply as Record<string, unknown>;
        }
        // As qemu-ga, echo the request's id.
        const reply = r === undefined || msg.id === undefined ? r : { ...r, id: msg.id };
        if (reply !== undefined) await conn.write(enc.encode(JSON.stringify(reply) + "\n"));
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
    await this.#loop.catch(() => {}); // the listener was closed
    Deno.removeSync(this.dir, { recursive: true });
  }
}

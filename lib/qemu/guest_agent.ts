/**
 * A client of the QEMU guest agent (qemu-ga) over the VM's
 * `supervise/agent` socket (the virtio-serial channel
 * `org.qemu.guest_agent.0` of the `guest-agent` template).
 *
 * The protocol is QMP-like JSON lines without greeting. Whatever an earlier
 * client left in the channel is skipped by the `guest-sync-delimited`
 * handshake: the client sends a 0xFF byte (which resets the agent's parser)
 * and the sync request; the agent answers with 0xFF followed by the sync's
 * id. A guest without a running agent accepts the connection (QEMU holds
 * the socket) but never answers: every wait here is bounded, and that case
 * is {@link NoAgentError}. qemu-ga spins on a reply while no client is
 * connected (seen with qemu-ga of Debian 13: a `guest-info` whose reply was
 * not read left it at full CPU and `systemctl stop qemu-guest-agent` hung
 * until systemd's timeout); the next client's handshake drains it. So a
 * client reads every reply it asked for, and `__stop` keeps its connection
 * open after `guest-shutdown` ({@link agentPowerdown}). The agent runs in the
 * guest, so its replies are untrusted: a deadline covers each whole exchange
 * (even while bytes keep coming), a reply is at most {@link MAX_REPLY}
 * bytes, and one of the wrong shape is one line naming the agent
 * (`malformed`; guest_network.ts, guest_exec.ts), never a TypeError.
 * Connects to `<vm>/supervise/agent` relative to the VM directory (sun_path
 * limit).
 * Level: qemu.
 * @module
 */

import { CheckFailedError, describe, SystemError, VmError } from "../errors.ts";
import { asObject } from "./qmp_message.ts";
import { connectUnix } from "./socket.ts";
import { join } from "../os/path.ts";
import { F } from "../layout.ts";

/** The agent's socket in a VM directory (inside runit's 0700 `supervise/`). */
export const AGENT_SOCKET = F.agent;

/** The virtio-serial port name qemu-ga opens in the guest. */
export const AGENT_PORT = "org.qemu.guest_agent.0";

/** How long an agent gets to answer the handshake, by default. */
export const AGENT_SYNC_MS = 2000;

/** How long one agent command may take, by default. */
export const AGENT_COMMAND_MS = 10_000;

/** The longest reply line read from an agent, in bytes. */
export const MAX_REPLY = 1 << 20;

/**
 * No guest agent answers (none configured, the guest is booting, or it is not installed). Exit 1.
 */
export class NoAgentError extends CheckFailedError {}

const TIMEOUT = Symbol("timeout");

/** `p`'s value, or TIMEOUT after `ms`; the timer is always cleared. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMEOUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<typeof TIMEOUT>((r) =>
    timer = setTimeout(() => r(TIMEOUT), Math.max(0, ms))
  );
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

/** A connection to a guest agent that answered the handshake. */
export class GuestAgent {
  readonly #conn: Deno.UnixConn;
  readonly #name: string;
  readonly #chunk = new Uint8Array(64 * 1024);
  #read: Promise<number | null> | undefined;
  #data = new Uint8Array(0);
  #eof = false;
  #queue: Promise<unknown> = Promise.resolve();
  #nextId = 1;

  private constructor(conn: Deno.UnixConn, name: string) {
    this.#conn = conn;
    this.#name = name;
  }

  /**
   * Connects to VM `name`'s agent socket in `dir` and does the handshake
   * within `timeoutMs` (default 2 s). Throws NoAgentError when nothing
   * answers in time or the socket is missing or refused.
   */
  static async connect(dir: string, name: string, timeoutMs = AGENT_SYNC_MS): Promise<GuestAgent> {
    const none = (why: string) =>
      new NoAgentError(
        `VM "${name}": no agent answers (${why}); it needs the guest-agent template ` +
          `and qemu-guest-agent running in the guest`,
      );
    let conn: Deno.UnixConn;
    try {
      conn = await connectUnix(join(dir, AGENT_SOCKET));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.ConnectionRefused) {
        throw none(`no socket "${AGENT_SOCKET}"; is the VM running?`);
      }
      throw new SystemError(`Cannot connect to "${dir}/${AGENT_SOCKET}": ${describe(e)}`);
    }
    const agent = new GuestAgent(conn, name);
    try {
      if (!await agent.#sync(timeoutMs)) throw none(`no answer within ${timeoutMs} ms`);
    } catch (e) {
      agent.close();
      throw e;
    }
    return agent;
  }

  /**
   * Reads one more chunk by `deadline`; false on timeout (also when the
   * deadline passed while data kept coming). Throws SystemError when more
   * than MAX_REPLY bytes come without a newline.
   */
  async #fill(deadline: number): Promise<boolean> {
    if (this.#eof) return true;
    if (performance.now() >= deadline) return false;
    if (this.#data.length > MAX_REPLY) {
      throw new SystemError(
        `The guest agent of VM "${this.#name}" sent a reply longer than ${MAX_REPLY} bytes; ` +
          `is a genuine qemu-guest-agent running in the guest?`,
      );
    }
    this.#read ??= this.#conn.read(this.#chunk);
    let n: number | null | typeof TIMEOUT;
    try {
      n = await within(this.#read, deadline - performance.now());
    } catch (e) {
      if (!(e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.BadResource)) {
        throw e;
      }
      n = null; // reset or closed: the same as the end
    }
    if (n === TIMEOUT) return false;
    this.#read = undefined;
    if (n === null) this.#eof = true;
    else {
      const next = new Uint8Array(this.#data.length + n);
      next.set(this.#data);
      next.set(this.#chunk.subarray(0, n), this.#data.length);
      this.#data = next;
    }
    return true;
  }

  /** The next JSON object line by `deadline`, or undefined (timeout or end). */
  async #nextObject(deadline: number): Promise<Record<string, unknown> | undefined> {
    for (;;) {
      const nl = this.#data.indexOf(10);
      if (nl >= 0) {
        let start = 0;
        while (this.#data[start] === 0xff) start++; // the delimiter of a sync answer
        const line = new TextDecoder().decode(this.#data.subarray(start, nl));
        this.#data = this.#data.slice(nl + 1);
        try {
          const v = JSON.parse(line);
          if (typeof v === "object" && v !== null && !Array.isArray(v)) return v;
        } catch (e) {
          if (!(e instanceof SyntaxError)) throw e; // stale partial line: skip it
        }
        continue;
      }
      if (this.#eof || !await this.#fill(deadline) || (this.#eof && this.#data.length === 0)) {
        return undefined;
      }
    }
  }

  /**
   * The reply to request `id` by `deadline`, or undefined. qemu-ga echoes
   * the id: a reply with another one is late, to a request that timed out.
   */
  async #reply(id: number, deadline: number): Promise<Record<string, unknown> | undefined> {
    for (;;) {
      const m = await this.#nextObject(deadline);
      if (m === undefined || !("id" in m) || m.id === id) return m;
    }
  }

  /** Writes all of `bytes` by `deadline`; false on timeout. Throws SystemError when the channel closed. */
  async #write(bytes: Uint8Array, deadline: number): Promise<boolean> {
    let off = 0;
    try {
      while (off < bytes.length) {
        const n = await within(this.#conn.write(bytes.subarray(off)), deadline - performance.now());
        if (n === TIMEOUT) return false;
        off += n;
      }
    } catch (e) {
      if (e instanceof Deno.errors.BrokenPipe || e instanceof Deno.errors.ConnectionReset) {
        throw new SystemError(
          `The guest agent channel of VM "${this.#name}" closed; is QEMU stopping?`,
        );
      }
      throw e;
    }
    return true;
  }

  /** The guest-sync-delimited handshake; false when no matching answer comes in time. */
  async #sync(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    const id = crypto.getRandomValues(new Uint32Array(1))[0] ?? 1;
    const req = new TextEncoder().encode(
      JSON.stringify({ execute: "guest-sync-delimited", arguments: { id } }) + "\n",
    );
    if (!await this.#write(new Uint8Array([0xff, ...req]), deadline)) return false;
    for (;;) {
      // Everything before the agent's 0xFF is stale.
      const ff = this.#data.indexOf(0xff);
      if (ff >= 0) {
        this.#data = this.#data.slice(ff + 1);
        break;
      }
      this.#data = new Uint8Array(0);
      if (this.#eof || !await this.#fill(deadline)) return false;
    }
    for (;;) {
      const m = await this.#nextObject(deadline);
      if (m === undefined) return false;
      if (m.return === id) return true;
    }
  }

  /**
   * Runs agent command `command` with `args`; returns its `return` value.
   * Throws CheckFailedError when the agent reports an error, SystemError
   * when no reply comes within `timeoutMs` or the channel closes.
   */
  execute(
    command: string,
    args?: Record<string, unknown>,
    timeoutMs = AGENT_COMMAND_MS,
  ): Promise<unknown> {
    const run = this.#queue.then(async () => {
      const deadline = performance.now() + timeoutMs;
      const id = this.#nextId++;
      const msg = JSON.stringify(
        args === undefined ? { execute: command, id } : { execute: command, arguments: args, id },
      );
      if (!await this.#write(new TextEncoder().encode(msg + "\n"), deadline)) {
        throw new SystemError(
          `Cannot send "${command}" to the guest agent of VM "${this.#name}" in time`,
        );
      }
      const m = await this.#reply(id, deadline);
      if (m === undefined) {
        throw new SystemError(
          `The guest agent of VM "${this.#name}" did not answer "${command}" within ${timeoutMs} ms`,
        );
      }
      if ("error" in m) {
        const desc = asObject(m.error)?.desc;
        throw new CheckFailedError(
          `Guest agent "${command}" failed in VM "${this.#name}": ${
            typeof desc === "string" ? desc : JSON.stringify(m.error)
          }`,
        );
      }
      return m.return;
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Sends `guest-shutdown` (mode `powerdown`). The agent does not answer it
   * (the guest powers off); resolves true once the request was written
   * within `timeoutMs`.
   */
  shutdown(timeoutMs = AGENT_SYNC_MS): Promise<boolean> {
    const run = this.#queue.then(() => {
      const msg = JSON.stringify({ execute: "guest-shutdown", arguments: { mode: "powerdown" } });
      return this.#write(new TextEncoder().encode(msg + "\n"), performance.now() + timeoutMs);
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  /** The error of a reply to `command` that does not have the shape it must: `why`. */
  malformed(command: string, why: string): SystemError {
    return new SystemError(
      `The guest agent of VM "${this.#name}" sent a malformed reply to "${command}" (${why}); ` +
        `is a genuine qemu-guest-agent running in the guest?`,
    );
  }

  /** Closes the connection (pending reads end). Closing twice is harmless. */
  close(): void {
    try {
      this.#conn.close();
    } catch (e) {
      if (!(e instanceof Deno.errors.BadResource)) throw e; // already closed
    }
  }
}

/**
 * The `guest-agent` template: a virtio-serial port `org.qemu.guest_agent.0`
 * on its own controller, backed by the socket `supervise/agent` (QEMU's
 * working directory is the VM directory; `supervise/` is runit's, mode 0700).
 */
export const GUEST_AGENT_TEMPLATE =
  "-chardev socket,id=vmagent,path=./supervise/agent,server=on,wait=off\n" +
  "-device virtio-serial-pci,id=vmagent-serial\n" +
  `-device virtserialport,bus=vmagent-serial.0,chardev=vmagent,name=${AGENT_PORT}\n`;

/** How long after the first ACPI press `__stop` turns to the agent: min(wait/2, 10 s). Pure. */
export function agentDelayMs(waitSeconds: number): number {
  return Math.min((waitSeconds * 1000) / 2, 10_000);
}

/**
 * `__stop`'s second way down: when VM `dir` has an agent socket and an
 * agent answers within `timeoutMs`, sends it `guest-shutdown` and returns
 * the connection, still open: qemu-ga blocks on any write while no client
 * is connected (e.g. the error reply of a shutdown command killed while the
 * guest stops its services), and a blocked qemu-ga holds up the guest's
 * power-off for systemd's 90 s stop timeout. The caller closes it once QEMU
 * has exited (or it gives up). Returns undefined when no agent answered
 * (or its channel closed); never throws those.
 */
export async function agentPowerdown(
  dir: string,
  name: string,
  timeoutMs: number,
): Promise<GuestAgent | undefined> {
  let agent: GuestAgent | undefined;
  try {
    agent = await GuestAgent.connect(dir, name, Math.max(1, timeoutMs));
    if (await agent.shutdown(Math.max(1, timeoutMs))) return agent;
  } catch (e) {
    if (!(e instanceof VmError)) throw e; // else: no agent, or its channel closed: not our way down
  }
  agent?.close();
  return undefined;
}

/**
 * A small client for QEMU's QMP (QEMU Machine Protocol) over a unix socket,
 * usually a VM's `supervise/qmp`.
 *
 * The protocol is newline-delimited JSON: QEMU sends a greeting
 * (`{"QMP": {...}}`), the client sends `qmp_capabilities`, then commands
 * (`{"execute": ..., "arguments": ..., "id": ...}`) get replies carrying the same
 * `id` (`{"return": ...}` or `{"error": {"class", "desc"}}`), interleaved with
 * asynchronous events (`{"event": ..., "data": ..., "timestamp": ...}`).
 *
 * Every wait takes a timeout, and no timer or read outlives {@link QmpClient.close}
 * or the peer closing the socket, so callers (e.g. `vm __stop`) never hang and
 * the Deno event loop can end. Paths longer than a socket address holds are
 * connected through lib/qemu/socket.ts.
 * @module
 */

import { CheckFailedError, describe, SystemError } from "../errors.ts";
import { withTimeout } from "../os/poll.ts";
import { closeQuietly, writeAll } from "../os/io.ts";
import { connectRetrying } from "./socket.ts";
import { encodeCommand, parseQmpLine, type QmpEvent } from "./qmp_message.ts";

/** An asynchronous QMP event (lib/qemu/qmp_message.ts). */
export type { QmpEvent };

/** Default timeout, in milliseconds, of connecting and of each command's reply. */
export const QMP_DEFAULT_TIMEOUT_MS = 10_000;

/** Options of calls that wait for QEMU. */
export interface QmpTimeoutOptions {
  /** How long to wait, in milliseconds; defaults to {@link QMP_DEFAULT_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/** A command waiting for its reply. */
interface Pending {
  command: string;
  /** Undefined for {@link QmpClient.send}: its reply is consumed and ignored. */
  settle?: (error: Error | undefined, value?: unknown) => void;
}

const encoder = new TextEncoder();

/**
 * A connection to a QMP unix socket, ready for commands (the greeting was read
 * and `qmp_capabilities` accepted). Create it with {@link QmpClient.connect}.
 * It reads the socket in the background, matching replies to commands by `id`
 * and recording events in {@link QmpClient.events}. When QEMU exits, the socket
 * reaches EOF (or ECONNRESET); then {@link QmpClient.closed} is true, waiting
 * commands fail with {@link SystemError} and {@link QmpClient.waitClosed} returns
 * true. Call {@link QmpClient.close} when done.
 */
export class QmpClient {
  /** The socket path as given to {@link QmpClient.connect}. */
  readonly path: string;
  /** Every event received so far, oldest first. */
  readonly events: QmpEvent[] = [];
  #conn: Deno.UnixConn;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #closed = false;
  #closeReason = "";
  /** Called on every event and on close; each re-checks its own condition. */
  #waiters = new Set<() => void>();
  #greetingReceived = Promise.withResolvers<void>();
  #writing: Promise<void> = Promise.resolve();
  #greeting: unknown;

  private constructor(path: string, conn: Deno.UnixConn) {
    this.path = path;
    this.#conn = conn;
    // Handled here so a close before anyone awaits it is no unhandled rejection.
    this.#greetingReceived.promise.catch(() => {});
    void this.#readLoop();
  }

  /**
   * Connects to the QMP unix socket at `path` (absolute or relative to the
   * current directory), reads QEMU's greeting and sends `qmp_capabilities`, all
   * within `opts.timeoutMs`. Throws {@link SystemError} when the socket cannot
   * be connected (missing, refused), QEMU does not greet or answer in time, or
   * QEMU refuses the capabilities negotiation.
   */
  static async connect(path: string, opts: QmpTimeoutOptions = {}): Promise<QmpClient> {
    const timeoutMs = opts.timeoutMs ?? QMP_DEFAULT_TIMEOUT_MS;
    const deadline = performance.now() + timeoutMs;
    const conn = await connectRetrying(path, deadline, timeoutMs, "QMP socket");
    const client = new QmpClient(path, conn);
    try {
      await withTimeout(
        client.#greetingReceived.promise,
        deadline - performance.now(),
        () =>
          new SystemError(
            `QMP socket "${path}" sent no greeting within ${timeoutMs} ms; QEMU serves one ` +
              `QMP client at a time: check that no other client is connected and QEMU is not hung`,
          ),
      );
      await client.execute("qmp_capabilities", undefined, {
        timeoutMs: deadline - performance.now(),
      });
    } catch (e) {
      client.close();
      if (e instanceof SystemError) throw e;
      throw new SystemError(
        `QMP socket "${path}" refused the capabilities negotiation: ${describe(e)}; ` +
          `check the QEMU version`,
      );
    }
    return client;
  }

  /** The value of QEMU's greeting `{"QMP": ...}`: `{version, capabilities}`. */
  get greeting(): unknown {
    return this.#greeting;
  }

  /** True once the connection is over: QEMU closed or reset it, or {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Runs the QMP `command` with `args` and returns its `return` value. Throws
   * {@link CheckFailedError} (`QMP "<command>" failed: <desc>`) when QEMU replies
   * with an error, and {@link SystemError} when no reply arrives within
   * `opts.timeoutMs` or the connection closes first.
   */
  execute(
    command: string,
    args?: Record<string, unknown>,
    opts: QmpTimeoutOptions = {},
  ): Promise<unknown> {
    const timeoutMs = opts.timeoutMs ?? QMP_DEFAULT_TIMEOUT_MS;
    if (this.#closed) return Promise.reject(this.#closedError(command));
    const id = this.#nextId++;
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    let written = false;
    const timer = setTimeout(() => {
      this.#pending.delete(id);
      reject(
        new SystemError(
          `QMP "${command}" got no reply within ${timeoutMs} ms on "${this.path}"; ` +
            `is QEMU hung?`,
        ),
      );
      // A write that cannot complete means the socket is wedged: give it up.
      if (!written) this.#finish("a write to it did not complete");
    }, Math.max(0, timeoutMs));
    this.#pending.set(id, {
      command,
      settle: (error, value) => {
        clearTimeout(timer);
        this.#pending.delete(id);
        if (error) reject(error);
        else resolve(value);
      },
    });
    this.#write(command, args, id).then(
      () => written = true,
      (e) => this.#pending.get(id)?.settle?.(e),
    );
    return promise;
  }

  /**
   * Sends the QMP `command` with `args` without waiting for its reply, which is
   * consumed and ignored when it comes. Resolves true once written, false when
   * the connection is closed (e.g. QEMU has exited). Throws {@link SystemError}
   * when the write does not complete within `opts.timeoutMs`.
   */
  async send(
    command: string,
    args?: Record<string, unknown>,
    opts: QmpTimeoutOptions = {},
  ): Promise<boolean> {
    const timeoutMs = opts.timeoutMs ?? QMP_DEFAULT_TIMEOUT_MS;
    if (this.#closed) return false;
    const id = this.#nextId++;
    this.#pending.set(id, { command });
    let timedOut = false;
    try {
      await withTimeout(this.#write(command, args, id), timeoutMs, () => {
        timedOut = true;
        this.#finish("a write to it did not complete");
        return new SystemError(
          `Cannot send QMP "${command}" to "${this.path}" within ${timeoutMs} ms; is QEMU hung?`,
        );
      });
      return true;
    } catch (e) {
      // Other than a timeout, writing fails only because the connection closed.
      this.#pending.delete(id);
      if (timedOut) throw e;
      return false;
    }
  }

  /**
   * Returns the first event named `name` in {@link events} at index `fromIndex`
   * or later (default 0: any received so far), waiting up to `timeoutMs` for it
   * to arrive. Returns undefined when it does not arrive in time or the
   * connection closes first. To wait for an event caused by a command, take
   * `fromIndex = events.length` before sending the command.
   */
  waitForEvent(name: string, timeoutMs: number, fromIndex = 0): Promise<QmpEvent | undefined> {
    const find = () => this.events.slice(fromIndex).find((e) => e.event === name);
    return this.#waitFor(
      () => {
        const found = find();
        if (found) return { value: found };
        return this.#closed ? { value: undefined } : undefined;
      },
      timeoutMs,
      undefined,
    );
  }

  /**
   * Waits up to `timeoutMs` for the connection to close and returns whether it
   * did. QEMU exiting closes it (EOF or ECONNRESET), so this is how to wait for
   * QEMU to exit.
   */
  waitClosed(timeoutMs: number): Promise<boolean> {
    return this.#waitFor(() => this.#closed ? { value: true } : undefined, timeoutMs, false);
  }

  /**
   * Closes the socket. Commands still waiting for a reply fail with
   * {@link SystemError}; waits end. Closing twice is harmless.
   */
  close(): void {
    this.#finish("it was closed by this client");
  }

  /**
   * Resolves with `check()`'s value as soon as it returns one (checked now, on
   * every event and on close), or with `onTimeout` after `timeoutMs`.
   */
  #waitFor<T>(
    check: () => { value: T } | undefined,
    timeoutMs: number,
    onTimeout: T,
  ): Promise<T> {
    const now = check();
    if (now) return Promise.resolve(now.value);
    return new Promise<T>((resolve) => {
      const waiter = () => {
        const result = check();
        if (!result) return;
        done(result.value);
      };
      const done = (value: T) => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        resolve(value);
      };
      const timer = setTimeout(() => done(onTimeout), Math.max(0, timeoutMs));
      this.#waiters.add(waiter);
    });
  }

  /** Writes one command line; writes are serialized so lines never interleave. */
  #write(command: string, args: Record<string, unknown> | undefined, id: number): Promise<void> {
    const bytes = encoder.encode(encodeCommand(command, args, id));
    const run = this.#writing.then(async () => {
      if (this.#closed) throw this.#closedError(command);
      try {
        await writeAll(this.#conn, bytes);
      } catch (e) {
        if (!this.#closed) this.#finish(`writing failed: ${describe(e)}`);
        throw this.#closedError(command);
      }
    });
    this.#writing = run.catch(() => {});
    return run;
  }

  /** Reads the socket until EOF, an error or {@link close}, dispatching each line. */
  async #readLoop(): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    const decoder = new TextDecoder();
    let partial = "";
    try {
      for (;;) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        const lines = (partial + decoder.decode(buffer.subarray(0, n), { stream: true })).split(
          "\n",
        );
        partial = lines.pop() ?? "";
        for (const line of lines) {
          if (this.#closed) return;
          this.#handleLine(line);
        }
      }
      this.#finish("QEMU closed it");
    } catch (e) {
      // Closing the socket locally interrupts the pending read: not an error.
      if (this.#closed) return;
      if (e instanceof Deno.errors.ConnectionReset) this.#finish("QEMU reset it");
      else this.#finish(`reading failed: ${describe(e)}`);
    }
  }

  /** Handles one line from QEMU: greeting, event or reply; anything else is ignored. */
  #handleLine(line: string): void {
    const message = parseQmpLine(line, performance.now());
    if (message?.kind === "greeting") {
      this.#greeting = message.value;
      this.#greetingReceived.resolve();
    } else if (message?.kind === "event") {
      this.events.push(message.event);
      this.#notify();
    } else if (message?.kind === "reply") {
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      this.#pending.delete(message.id);
      if (message.error !== undefined) {
        pending.settle?.(new CheckFailedError(`QMP "${pending.command}" failed: ${message.error}`));
      } else {
        pending.settle?.(undefined, message.value);
      }
    }
  }

  /** Ends the connection for `reason`: closes the socket, fails replies, ends waits. */
  #finish(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    closeQuietly(this.#conn);
    this.#greetingReceived.reject(
      new SystemError(
        `QMP socket "${this.path}" closed before QEMU's greeting (${reason}); is the VM running?`,
      ),
    );
    for (const pending of [...this.#pending.values()]) {
      pending.settle?.(this.#closedError(pending.command));
    }
    this.#pending.clear();
    this.#notify();
  }

  /** Calls every waiter (each removes itself when its condition holds). */
  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  /** The error of a command that cannot get a reply because the connection closed. */
  #closedError(command: string): SystemError {
    return new SystemError(
      `QMP socket "${this.path}" closed before the reply to "${command}" ` +
        `(${this.#closeReason}); is the VM running?`,
    );
  }
}

/**
 * A small HTTP/1.1 client for downloads (GET only), on Deno.connect and
 * Deno.connectTls (the same TLS and root certificates as fetch): the body is
 * read straight into the caller's buffer, with no stream machinery between
 * the socket and the file, which makes it several times faster than fetch
 * for large files. It sends `Connection: close` and `Accept-Encoding:
 * identity`, follows redirects (up to 10), and reads bodies delimited by
 * Content-Length, chunked encoding or the end of the connection. Proxies are
 * not handled here (source.ts uses fetch when one is configured). Every
 * wait is bounded (HttpTimeouts, set in lib/vm/config.ts): the connection,
 * the answer's head after the request, and each read of the body; one that
 * runs out closes the connection and throws {@link HttpTimeoutError}.
 * Errors are plain Errors (the caller words them). Reads the network.
 * Level: vm (lib/images, no qemu).
 * @module
 */

import { withTimeout } from "../os/poll.ts";
import { type HttpTimeouts, httpTimeouts, type HttpWait } from "../vm/config.ts";

/** An answer whose body is read with `read`. */
export interface HttpResponse {
  status: number;
  statusText: string;
  headers: Headers;
  /** The URL answered (after redirects). */
  url: string;
  /** Reads up to `into.length` body bytes into `into`; null at the end of the body. */
  read(into: Uint8Array): Promise<number | null>;
  /** Closes the connection (the rest of the body is not read). */
  close(): void;
}

/** The waits when none are given (lib/vm/config.ts): connect 30 s, head 30 s, idle 60 s. */
export const DEFAULT_TIMEOUTS: HttpTimeouts = httpTimeouts({});

/** What a request may be given: a signal that aborts it (Ctrl-C) and its waits. */
export interface NetOptions {
  signal?: AbortSignal;
  timeouts?: HttpTimeouts;
}

/** A wait of a download ran out; the connection was closed. */
export class HttpTimeoutError extends Error {
  constructor(readonly wait: HttpWait, readonly ms: number) {
    const s = `${ms / 1000} s`;
    super(
      wait === "connect"
        ? `no connection within ${s}`
        : wait === "header"
        ? `no answer within ${s} of the request`
        : `nothing received for ${s}`,
    );
    this.name = "HttpTimeoutError";
  }
}

/** `p`, or HttpTimeoutError after `ms`, once `onTimeout` has closed what `p` waits on. */
function within<T>(p: Promise<T>, wait: HttpWait, ms: number, onTimeout: () => void): Promise<T> {
  return withTimeout(p, ms, () => {
    onTimeout();
    return new HttpTimeoutError(wait, ms);
  });
}

/** Longest response head read, in bytes. */
const MAX_HEAD = 64 << 10;
const MAX_REDIRECTS = 10;
const REDIRECT = new Set([301, 302, 303, 307, 308]);
const enc = new TextEncoder();

/** Bytes from a connection, with what was read ahead served first; each read waits `idleMs` at most. */
class ConnReader {
  #ahead: Uint8Array;
  constructor(
    readonly conn: Deno.Conn,
    ahead: Uint8Array,
    readonly idleMs: number,
    readonly close: () => void,
  ) {
    this.#ahead = ahead;
  }
  async read(into: Uint8Array): Promise<number | null> {
    if (this.#ahead.length > 0) {
      const n = Math.min(into.length, this.#ahead.length);
      into.set(this.#ahead.subarray(0, n));
      this.#ahead = this.#ahead.subarray(n);
      return n;
    }
    return await within(this.conn.read(into), "idle", this.idleMs, this.close);
  }
  /** One CRLF-terminated line (without it), or null at the end; for chunk sizes. */
  async line(): Promise<string | null> {
    let text = "";
    const one = new Uint8Array(1);
    while (text.length < 1024) {
      if ((await this.read(one)) === null) return text === "" ? null : text;
      if (one[0] === 0x0a) return text.replace(/\r$/, "");
      text += String.fromCharCode(one[0] ?? 0);
    }
    throw new Error("Malformed chunked response: a chunk size line is too long");
  }
}

/** The parsed head of a response: status, reason, headers. Pure; undefined when it is not HTTP. */
export function parseHead(
  text: string,
): { status: number; statusText: string; headers: Headers } | undefined {
  const [first = "", ...lines] = text.split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(first);
  if (m === null) return undefined;
  const headers = new Headers();
  for (const l of lines) {
    const colon = l.indexOf(":");
    if (colon > 0) headers.append(l.slice(0, colon).trim(), l.slice(colon + 1).trim());
  }
  return { status: Number(m[1]), statusText: m[2] ?? "", headers };
}

/** The request text for `url` with `extra` headers. Pure. */
export function requestText(url: URL, extra: Record<string, string>): string {
  const lines = [
    `GET ${url.pathname}${url.search} HTTP/1.1`,
    `Host: ${url.host}`,
    "User-Agent: vm-image-pull",
    "Accept: */*",
    "Accept-Encoding: identity",
    "Connection: close",
    ...Object.entries(extra).map(([k, v]) => `${k}: ${v}`),
  ];
  return lines.join("\r\n") + "\r\n\r\n";
}

/** Reads the response head; returns its text and the body bytes read with it. */
async function readHead(conn: Deno.Conn): Promise<{ head: string; rest: Uint8Array }> {
  const buf = new Uint8Array(MAX_HEAD);
  let got = 0;
  for (;;) {
    const n = await conn.read(buf.subarray(got));
    if (n === null) throw new Error("The server closed the connection without an answer");
    got += n;
    const text = new TextDecoder("latin1").decode(buf.subarray(0, got));
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) return { head: text.slice(0, end), rest: buf.slice(end + 4, got) };
    if (got === buf.length) throw new Error("The server's answer has no end of headers");
  }
}

/** A body reader: Content-Length bytes, chunked, or until the connection ends. */
function bodyReader(r: ConnReader, headers: Headers, status: number) {
  if (status === 204 || status === 304) return () => Promise.resolve(null);
  if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) return chunked(r);
  const len = headers.get("content-length");
  let left = len !== null && /^\d+$/.test(len) ? Number(len) : Infinity;
  return async (into: Uint8Array): Promise<number | null> => {
    if (left === 0) return null;
    const n = await r.read(left < into.length ? into.subarray(0, left) : into);
    if (n === null) {
      if (left !== Infinity) throw new Error("connection reset before the end of the body");
      return null;
    }
    left -= n;
    return n;
  };
}

/** A reader of a chunked body. */
function chunked(r: ConnReader) {
  let left = 0;
  let ended = false;
  return async (into: Uint8Array): Promise<number | null> => {
    if (ended) return null;
    if (left === 0) {
      const size = await r.line();
      left = size === null ? NaN : parseInt(size, 16);
      if (!Number.isFinite(left)) throw new Error("Malformed chunked response");
      if (left === 0) {
        for (let l = await r.line(); l !== null && l !== ""; l = await r.line()) {
          // trailer lines: skipped
        }
        ended = true;
        return null;
      }
    }
    const n = await r.read(into.subarray(0, Math.min(into.length, left)));
    if (n === null) throw new Error("connection reset before the end of the body");
    left -= n;
    if (left === 0) await r.line(); // the CRLF after the chunk
    return n;
  };
}

/**
 * Opens a connection to `url`'s host (TLS for https) within `ms`; an abort
 * of `signal` ends the wait at once (with its reason). A connection that
 * comes after either is closed.
 */
async function connect(url: URL, ms: number, signal?: AbortSignal): Promise<Deno.Conn> {
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const https = url.protocol === "https:";
  const port = url.port === "" ? (https ? 443 : 80) : Number(url.port);
  const pending = https ? Deno.connectTls({ hostname, port }) : Deno.connect({ hostname, port });
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => onAbort = () => reject(signal?.reason));
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    return await within(Promise.race([pending, aborted]), "connect", ms, () => {});
  } catch (e) {
    pending.then((c) => c.close(), () => {}); // failed by itself: nothing to close
    throw e;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * GETs `url` with `headers`, following redirects, each wait bounded by
 * `net.timeouts` (default {@link DEFAULT_TIMEOUTS}). Connection and TLS
 * errors are thrown as Deno throws them (source.ts words them), a wait that
 * ran out as HttpTimeoutError; an aborted `net.signal` closes the
 * connection (the pending read then fails).
 */
export async function httpGet(
  url: string,
  headers: Record<string, string>,
  net: NetOptions = {},
): Promise<HttpResponse> {
  const { signal, timeouts = DEFAULT_TIMEOUTS } = net;
  let target = new URL(url);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    signal?.throwIfAborted();
    const conn = await connect(target, timeouts.connectMs, signal);
    const close = () => {
      try {
        conn.close();
      } catch { /* already closed */ }
    };
    signal?.addEventListener("abort", close, { once: true });
    try {
      const ask = async () => {
        await conn.write(enc.encode(requestText(target, headers)));
        return await readHead(conn);
      };
      const { head, rest } = await within(ask(), "header", timeouts.headerMs, close);
      const parsed = parseHead(head);
      if (parsed === undefined) throw new Error(`"${target}" did not answer in HTTP/1.1`);
      const location = parsed.headers.get("location");
      if (REDIRECT.has(parsed.status) && location !== null) {
        close();
        target = new URL(location, target);
        continue;
      }
      const reader = new ConnReader(conn, rest, timeouts.idleMs, close);
      const read = bodyReader(reader, parsed.headers, parsed.status);
      return { ...parsed, url: target.href, read, close };
    } catch (e) {
      close();
      throw e;
    }
  }
  throw new Error(`"${url}" redirects more than ${MAX_REDIRECTS} times`);
}

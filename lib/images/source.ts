/**
 * Reading an image or a SUMS file from a URL: https:// and http:// through
 * the small client of http.ts (or Deno's fetch when a proxy is configured in
 * the environment, which fetch honours), file:// from the file itself. The
 * bytes are read into the caller's buffer. A read can start at an offset:
 * over HTTP with a `Range` request (and `If-Range` with the validator of the
 * first answer, so a file changed upstream is sent whole); a server that
 * ignores Range sends the whole file, which the caller sees as `start` 0.
 * Errors are SystemError with one line from fetch_errors.ts.
 * Reads the network or the named file. Level: vm (lib/images, no qemu).
 * @module
 */

import { SystemError } from "../errors.ts";
import { httpStatusLine, requestFailedLine } from "./fetch_errors.ts";
import { DEFAULT_TIMEOUTS, httpGet, HttpTimeoutError, type NetOptions } from "./http.ts";
import { withTimeout } from "../os/poll.ts";

/** An open byte source of an image. */
export interface Source {
  /** Offset of the first byte read in the file (0: from the start). */
  start: number;
  /** Size of the whole file, when the server tells it. */
  total?: number;
  /** Last-Modified or strong ETag of the answer, for a later If-Range. */
  validator?: string;
  /** Reads up to `into.length` bytes into `into`; null at the end. */
  read(into: Uint8Array): Promise<number | null>;
  /** Stops reading (closes the connection or file). */
  close(): void;
}

/** A response as both clients give it: status, headers, and a reader of its body. */
type Answer = Pick<Source, "read" | "close"> & {
  status: number;
  statusText: string;
  headers: Headers;
};

/** Parses `Content-Range: bytes a-b/total`; undefined when it is not one. Pure. */
export function parseContentRange(
  value: string | null,
): { start: number; total?: number } | undefined {
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/.exec((value ?? "").trim());
  if (m === null) return undefined;
  const total = m[3] === "*" ? undefined : Number(m[3]);
  return total === undefined ? { start: Number(m[1]) } : { start: Number(m[1]), total };
}

/**
 * The validator to send in If-Range: Last-Modified (mirrors copy files with
 * their times, so it holds across a redirector's mirrors, where ETags often
 * differ), else a strong ETag, else undefined. Pure.
 */
export function validatorOf(headers: Headers): string | undefined {
  const modified = headers.get("last-modified");
  if (modified !== null) return modified;
  const etag = headers.get("etag");
  return etag !== null && !etag.startsWith("W/") ? etag : undefined;
}

/** Whether the environment `env` sends requests for `url` through a proxy (as fetch reads it). Pure. */
export function usesProxy(url: URL, env: Record<string, string | undefined>): boolean {
  const get = (k: string) => env[k] || env[k.toUpperCase()] || undefined;
  const proxy = (url.protocol === "https:" ? get("https_proxy") : get("http_proxy")) ??
    get("all_proxy");
  if (proxy === undefined) return false;
  return !(get("no_proxy") ?? "").split(",").map((p) => p.trim().replace(/^\./, "")).some((p) =>
    p === "*" || (p !== "" && (url.hostname === p || url.hostname.endsWith("." + p)))
  );
}

/** Reads a ReadableStream into callers' buffers, each read waiting `idleMs` at most. */
function streamRead(
  body: ReadableStream<Uint8Array>,
  idleMs: number,
): Pick<Source, "read" | "close"> {
  const reader = body.getReader();
  let left: Uint8Array = new Uint8Array(0);
  const cancel = () => void reader.cancel().catch(() => {}); // already ended: nothing to cancel
  return {
    async read(into) {
      while (left.length === 0) {
        const r = await withTimeout(reader.read(), idleMs, () => {
          cancel();
          return new HttpTimeoutError("idle", idleMs);
        });
        if (r.done) return null;
        left = r.value;
      }
      const n = Math.min(into.length, left.length);
      into.set(left.subarray(0, n));
      left = left.subarray(n);
      return n;
    },
    close: cancel,
  };
}

/** fetch's answer to `url`, its head bounded by the connect and header waits together. */
async function fetchBounded(
  url: string,
  headers: Record<string, string>,
  net: NetOptions,
): Promise<Response> {
  const t = net.timeouts ?? DEFAULT_TIMEOUTS;
  const limit = new AbortController();
  const timer = setTimeout(() => limit.abort(), t.connectMs + t.headerMs);
  const signal = net.signal ? AbortSignal.any([net.signal, limit.signal]) : limit.signal;
  try {
    return await fetch(url, { headers, signal });
  } catch (e) {
    if (limit.signal.aborted && !net.signal?.aborted) {
      throw new HttpTimeoutError("header", t.connectMs + t.headerMs);
    }
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * GETs `url` with `headers` (fetch behind a proxy, else http.ts), its waits
 * bounded by `net.timeouts`; a failure before the answer is one line.
 */
async function get(
  url: string,
  headers: Record<string, string>,
  net: NetOptions,
): Promise<Answer> {
  try {
    if (!usesProxy(new URL(url), Deno.env.toObject())) return await httpGet(url, headers, net);
    const res = await fetchBounded(url, headers, net);
    const body = res.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
    return {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
      ...streamRead(body, (net.timeouts ?? DEFAULT_TIMEOUTS).idleMs),
    };
  } catch (e) {
    if (net.signal?.aborted || e instanceof SystemError) throw e;
    throw new SystemError(requestFailedLine(url, e));
  }
}

/** Opens `path` (a file:// URL's file) from `offset` (from 0 when it is past the end). */
async function openFile(url: string, offset: number): Promise<Source> {
  const path = decodeURIComponent(new URL(url).pathname);
  let f: Deno.FsFile;
  try {
    f = await Deno.open(path, { read: true });
  } catch (e) {
    throw new SystemError(`Cannot read "${path}" (${url}): ${(e as Error).message}`);
  }
  const total = (await f.stat()).size;
  const start = offset <= total ? offset : 0;
  await f.seek(start, Deno.SeekMode.Start);
  return { start, total, read: (into) => f.read(into), close: () => f.close() };
}

/**
 * Opens the file at `url` from byte `offset` (a Range request when > 0,
 * conditional on `validator`), with the signal and waits of `net`. `start`
 * of the result says where it really begins: 0 when the server ignored the
 * range or the file changed. Throws SystemError for a network or HTTP
 * error, or a wait that ran out.
 */
export async function openSource(
  url: string,
  offset: number,
  validator: string | undefined,
  net: NetOptions = {},
): Promise<Source> {
  if (new URL(url).protocol === "file:") return await openFile(url, offset);
  const headers: Record<string, string> = {};
  if (offset > 0) {
    headers.range = `bytes=${offset}-`;
    if (validator !== undefined) headers["if-range"] = validator;
  }
  const res = await get(url, headers, net);
  if (res.status === 416 && offset > 0) {
    res.close(); // nothing past `offset`: the part is not a prefix of this file; start over
    return await openSource(url, 0, undefined, net);
  }
  if (res.status < 200 || res.status > 299) {
    res.close();
    throw new SystemError(httpStatusLine(url, res.status, res.statusText));
  }
  const len = res.headers.get("content-length");
  const size = len !== null && /^\d+$/.test(len) ? Number(len) : undefined;
  const v = validatorOf(res.headers);
  const base = { read: res.read, close: res.close, ...(v === undefined ? {} : { validator: v }) };
  if (res.status !== 206) {
    return { ...base, start: 0, ...(size === undefined ? {} : { total: size }) };
  }
  const range = parseContentRange(res.headers.get("content-range"));
  if (range === undefined || range.start !== offset) {
    res.close();
    throw new SystemError(
      `Cannot download "${url}": the server answered a resume at byte ${offset} with ` +
        `"${res.headers.get("content-range")}"; delete the .part file and pull again`,
    );
  }
  const total = range.total ?? (size === undefined ? undefined : offset + size);
  return { ...base, start: offset, ...(total === undefined ? {} : { total }) };
}

/** Largest SUMS file read, in bytes. */
export const MAX_TEXT = 4 << 20;

/** The text at `url` (a SUMS file), at most MAX_TEXT bytes, read with `net`. Throws SystemError. */
export async function fetchText(url: string, net: NetOptions = {}): Promise<string> {
  const src = await openSource(url, 0, undefined, net);
  const buf = new Uint8Array(MAX_TEXT + 1);
  let size = 0;
  try {
    for (
      let n = await src.read(buf.subarray(size));
      n !== null;
      n = await src.read(buf.subarray(size))
    ) {
      size += n;
      if (size > MAX_TEXT) {
        throw new SystemError(`"${url}" is larger than ${MAX_TEXT} bytes; it is not a SUMS file`);
      }
    }
  } catch (e) {
    if (e instanceof SystemError || net.signal?.aborted) throw e;
    throw new SystemError(requestFailedLine(url, e));
  } finally {
    src.close();
  }
  return new TextDecoder().decode(buf.subarray(0, size));
}

/**
 * Reading an image or a SUMS file from a URL: https://, http:// (Deno's
 * fetch, redirects followed) or file:// (the file itself). A byte stream can
 * start at an offset: over HTTP with a `Range` request (and `If-Range` with
 * the validator of the first answer, so a file changed upstream is sent
 * whole); a server that ignores Range sends the whole file, which the caller
 * sees as `start` 0. Errors are SystemError with one line from
 * fetch_errors.ts. Reads the network or the named file.
 * Level: vm (lib/images, no qemu).
 * @module
 */

import { SystemError } from "../errors.ts";
import { httpStatusLine, requestFailedLine } from "./fetch_errors.ts";

/** An open byte stream of an image. */
export interface Source {
  /** Offset of the stream's first byte in the file (0: from the start). */
  start: number;
  /** Size of the whole file, when the server tells it. */
  total?: number;
  /** Last-Modified or strong ETag of the answer, for a later If-Range. */
  validator?: string;
  body: ReadableStream<Uint8Array>;
}

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

/** Runs fetch, turning a failure before the answer into SystemError with one line. */
async function request(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e; // the caller's Ctrl-C
    throw new SystemError(requestFailedLine(url, e));
  }
}

function lengthOf(headers: Headers): number | undefined {
  const v = headers.get("content-length");
  return v !== null && /^\d+$/.test(v) ? Number(v) : undefined;
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
  return { start, total, body: f.readable };
}

/**
 * Opens the file at `url` from byte `offset` (a Range request when > 0,
 * conditional on `validator`). `start` of the result says where the stream
 * really begins: 0 when the server ignored the range or the file changed.
 * Throws SystemError for a network or HTTP error.
 */
export async function openSource(
  url: string,
  offset: number,
  validator: string | undefined,
  signal?: AbortSignal,
): Promise<Source> {
  if (new URL(url).protocol === "file:") return await openFile(url, offset);
  const headers: Record<string, string> = {};
  if (offset > 0) {
    headers.range = `bytes=${offset}-`;
    if (validator !== undefined) headers["if-range"] = validator;
  }
  const res = await request(url, { headers, signal });
  if (res.status === 416 && offset > 0) {
    // Nothing past `offset`: the part is not a prefix of this file; start over.
    await res.body?.cancel();
    return await openSource(url, 0, undefined, signal);
  }
  if (!res.ok || res.body === null) {
    await res.body?.cancel();
    throw new SystemError(httpStatusLine(url, res.status, res.statusText));
  }
  const v = validatorOf(res.headers);
  const len = lengthOf(res.headers);
  const base = v === undefined ? {} : { validator: v };
  if (res.status === 206) {
    const range = parseContentRange(res.headers.get("content-range"));
    if (range === undefined || range.start !== offset) {
      await res.body.cancel();
      throw new SystemError(
        `Cannot download "${url}": the server answered a resume at byte ${offset} with ` +
          `"${res.headers.get("content-range")}"; delete the .part file and pull again`,
      );
    }
    const total = range.total ?? (len === undefined ? undefined : offset + len);
    return { ...base, start: offset, ...(total === undefined ? {} : { total }), body: res.body };
  }
  return { ...base, start: 0, ...(len === undefined ? {} : { total: len }), body: res.body };
}

/** Largest SUMS file read, in bytes. */
export const MAX_TEXT = 4 << 20;

/** The text at `url` (a SUMS file), at most MAX_TEXT bytes. Throws SystemError. */
export async function fetchText(url: string, signal?: AbortSignal): Promise<string> {
  const src = await openSource(url, 0, undefined, signal);
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const c of src.body) {
      size += c.length;
      if (size > MAX_TEXT) {
        throw new SystemError(`"${url}" is larger than ${MAX_TEXT} bytes; it is not a SUMS file`);
      }
      chunks.push(c);
    }
  } catch (e) {
    if (e instanceof SystemError || (e instanceof DOMException && e.name === "AbortError")) throw e;
    throw new SystemError(requestFailedLine(url, e));
  }
  const all = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length;
  }
  return new TextDecoder().decode(all);
}

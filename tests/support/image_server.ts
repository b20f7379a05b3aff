/**
 * Test support: an HTTP server for image downloads (Deno.serve on
 * 127.0.0.1, port 0) serving files from memory. Its behaviour can change
 * between requests: honour or ignore `Range`, drop the connection after a
 * number of bytes, send slowly (a trickle), or answer 404 for every path.
 * Every request is recorded with its Range header and the bytes it was sent.
 * Not a test file.
 * @module
 */

import { createHash } from "node:crypto";

/** What the server does with the next requests. */
export interface ServeMode {
  /** Honour Range requests (default true). */
  range: boolean;
  /** Close the connection (error the body) after sending this many bytes of a response. */
  dropAfter?: number;
  /** Send in chunks of this many bytes, waiting `trickleMs` between them. */
  chunk: number;
  trickleMs: number;
  /** Answer 404 for every path. */
  notFound: boolean;
  /** Send no Content-Length (the body goes chunked). */
  noLength?: boolean;
}

/** One request the server answered. */
export interface Served {
  path: string;
  range?: string;
  status: number;
  /** Body bytes handed to the connection. */
  sent: number;
}

/** The server. */
export class ImageServer {
  readonly files = new Map<string, Uint8Array>();
  readonly requests: Served[] = [];
  /** Paths answered with a 302 to another path. */
  readonly redirects = new Map<string, string>();
  mode: ServeMode = { range: true, chunk: 64 * 1024, trickleMs: 0, notFound: false };
  #server: Deno.HttpServer<Deno.NetAddr>;

  constructor() {
    this.#server = Deno.serve(
      {
        hostname: "127.0.0.1",
        port: 0,
        onListen() {},
        onError: () => new Response(null, { status: 500 }),
      },
      (req) => this.#answer(req),
    );
  }

  /** The base URL, e.g. `http://127.0.0.1:41234`. */
  get base(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }

  /** The URL of `path` (starting with `/`). */
  url(path: string): string {
    return this.base + path;
  }

  /** Requests for `path`. */
  served(path: string): Served[] {
    return this.requests.filter((r) => r.path === path);
  }

  #answer(req: Request): Response {
    const path = new URL(req.url).pathname;
    const to = this.redirects.get(path);
    if (to !== undefined) {
      this.requests.push({ path, status: 302, sent: 0 });
      return new Response(null, { status: 302, headers: { location: to } });
    }
    const data = this.files.get(path);
    const range = req.headers.get("range") ?? undefined;
    const rec: Served = { path, status: 200, sent: 0, ...(range === undefined ? {} : { range }) };
    this.requests.push(rec);
    if (data === undefined || this.mode.notFound) {
      rec.status = 404;
      return new Response("not found\n", { status: 404 });
    }
    const etag = `"${createHash("sha256").update(data).digest("hex").slice(0, 16)}"`;
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(range ?? "");
    const ifRange = req.headers.get("if-range");
    if (this.mode.range && m !== null && (ifRange === null || ifRange === etag)) {
      start = Number(m[1]);
      if (start >= data.length) {
        rec.status = 416;
        return new Response(null, {
          status: 416,
          headers: { "content-range": `bytes */${data.length}` },
        });
      }
      rec.status = 206;
    }
    const headers: Record<string, string> = {
      ...(this.mode.noLength ? {} : { "content-length": String(data.length - start) }),
      etag,
      ...(this.mode.range ? { "accept-ranges": "bytes" } : {}),
      ...(rec.status === 206
        ? { "content-range": `bytes ${start}-${data.length - 1}/${data.length}` }
        : {}),
    };
    return new Response(this.#body(data.subarray(start), rec), { status: rec.status, headers });
  }

  /** The body: chunks, trickled and dropped as the mode says. */
  #body(data: Uint8Array, rec: Served): ReadableStream<Uint8Array> {
    const { chunk, trickleMs, dropAfter } = this.mode;
    let off = 0;
    return new ReadableStream({
      async pull(c) {
        if (off >= data.length) return c.close();
        if (dropAfter !== undefined && off >= dropAfter) {
          return c.error(new Error("dropped by test"));
        }
        if (trickleMs > 0 && off > 0) await new Promise((r) => setTimeout(r, trickleMs));
        const end = Math.min(data.length, off + chunk, dropAfter ?? Infinity);
        c.enqueue(data.slice(off, end));
        rec.sent += end - off;
        off = end;
      },
    }, { highWaterMark: 0 });
  }

  /** Stops the server. */
  async close(): Promise<void> {
    await this.#server.shutdown();
  }
}

/** SHA-256 (hex) of `data`. */
export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A GNU-style SHA256SUMS text for `files` (name → data). */
export function sha256Sums(files: Record<string, Uint8Array>): string {
  return Object.entries(files).map(([n, d]) => `${sha256Hex(d)}  ${n}\n`).join("");
}

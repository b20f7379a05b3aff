/**
 * One clear line for each way a download fails: the network (refused,
 * unreachable, DNS, TLS, timeout), the server's answer (404, 5xx…), a
 * connection that broke off, a full disk. The lines name the URL or file and
 * what to do. Pure: they read error text (Deno's fetch puts the cause's text
 * in `cause`) or the wait that ran out, no I/O. Level: vm (lib/images, pure).
 * @module
 */

import { formatBytes } from "../text/units.ts";
import { HTTP_TIMEOUT_SETTINGS } from "../vm/config.ts";
import { HttpTimeoutError } from "./http.ts";

/** The text of an error and of its causes, joined (for matching). Pure. */
export function errorText(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let i = 0; i < 5 && cur !== undefined && cur !== null; i++) {
    parts.push(cur instanceof Error ? cur.message : String(cur));
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return parts.join(": ");
}

/** What a network failure's text means, in a few words, or undefined when unknown. Pure. */
export function networkReason(text: string): string | undefined {
  const t = text.toLowerCase();
  if (/certificate|tls|ssl|handshake/.test(t)) {
    const detail = /invalid peer certificate: ([^\n]+?)(?:\n|$)/i.exec(text)?.[1];
    return `TLS error${detail ? ` (${detail.trim()})` : ""}: the server's certificate is not ` +
      "trusted or the connection is not TLS";
  }
  if (/connection refused|os error 111/.test(t)) return "connection refused";
  if (/dns error|lookup address|name or service not known|no address associated/.test(t)) {
    return "host not found (DNS)";
  }
  if (/network is unreachable|no route to host|os error 101|os error 113/.test(t)) {
    return "network unreachable";
  }
  if (/timed out|timeout/.test(t)) return "timed out";
  if (/connection reset|broken pipe|os error 104/.test(t)) return "connection reset";
  return undefined;
}

/**
 * Why a download failed, in words: a wait that ran out with the setting
 * that sets it, a network failure's few words, else the error's text. Pure.
 */
export function failureReason(e: unknown): string {
  if (e instanceof HttpTimeoutError) {
    return `${e.message}, the wait ${HTTP_TIMEOUT_SETTINGS[e.wait].key} sets`;
  }
  const text = errorText(e);
  return networkReason(text) ?? text.replace(/^TypeError: /, "");
}

/** The line for a request that failed before an answer: network, TLS, a wait that ran out. Pure. */
export function requestFailedLine(url: string, e: unknown): string {
  const reason = failureReason(e);
  return `Cannot download "${url}": ${reason}; check the URL and the network, then pull again`;
}

/** The line for an HTTP answer that is not a success. Pure. */
export function httpStatusLine(url: string, status: number, statusText: string): string {
  const what = `HTTP ${status}${statusText ? ` ${statusText}` : ""}`;
  const hint = status === 404 || status === 410
    ? "the file is not there (moved or removed upstream): check the URL or the catalog entry"
    : status >= 500
    ? "the server failed: try again later"
    : status === 401 || status === 403
    ? "the server refuses access"
    : "the server would not send it";
  return `Cannot download "${url}": ${what}; ${hint}`;
}

/** The line for a download that broke off part-way; the `.part` is kept for a resume. Pure. */
export function brokeOffLine(
  url: string,
  done: number,
  total: number | undefined,
  e: unknown,
  part: string,
): string {
  const reason = failureReason(e);
  const at = total === undefined
    ? formatBytes(done, true)
    : `${formatBytes(done, true)} of ${formatBytes(total, true)}`;
  return `Download of "${url}" broke off after ${at} (${reason}); "${part}" is kept: ` +
    "pull again to resume";
}

/** Whether a write error is a full disk (ENOSPC) or quota (EDQUOT). Pure. */
export function isDiskFull(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === "ENOSPC" || code === "EDQUOT" ||
    /no space left|os error 28\b|quota exceeded|os error 122\b/i.test(errorText(e));
}

/** The line for a write into `part` that failed. Pure. */
export function writeFailedLine(part: string, e: unknown): string {
  if (isDiskFull(e)) {
    return `Disk full while writing "${part}"; free some space there, then pull again to resume`;
  }
  return `Cannot write "${part}": ${errorText(e)}`;
}

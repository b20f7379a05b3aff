/**
 * Test support: the last lines of a text and of a svlogd log, over
 * lib/vm/log.ts tailStart and logLinesSince. Not a test file.
 * @module
 */

import { logLinesSince, tailStart } from "../../lib/vm/log.ts";

/** The last `n` lines of `text`. Pure (a convenience over {@link tailStart}). */
export function lastLines(text: string, n: number): string {
  const bytes = new TextEncoder().encode(text);
  return new TextDecoder().decode(bytes.subarray(tailStart(bytes, n, true) ?? 0));
}

/**
 * The last line of a svlogd log without its timestamp, backoff lines skipped
 * (they say when, not why: the line before one does). Pure.
 */
export function lastLogLine(text: string): string | undefined {
  return logLinesSince(text, -Infinity, 1)[0];
}

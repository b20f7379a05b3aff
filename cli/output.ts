/**
 * Writing to the terminal or pipe: what `vm`'s commands print. Only cli/
 * prints; lib/ returns values. Writes stdout and stderr synchronously, so
 * lines are never lost when the process exits right after. Text is encoded
 * as lib/text/raw_text.ts does: bytes of a template that are not UTF-8 are
 * printed as those bytes (`vm args`), never as U+FFFD.
 * @module
 */

import { encodeRaw } from "../lib/text/raw_text.ts";

/** Writes `text` to stdout as it is (no newline added). */
export function write(text: string): void {
  const bytes = encodeRaw(text);
  let off = 0;
  while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));
}

/** Writes `text` and a newline to stdout. */
export function print(text = ""): void {
  write(text + "\n");
}

/** Writes `text` to stderr as it is (no newline added). */
export function writeErr(text: string): void {
  const bytes = encodeRaw(text);
  let off = 0;
  while (off < bytes.length) off += Deno.stderr.writeSync(bytes.subarray(off));
}

/** Writes `text` and a newline to stderr. */
export function printErr(text: string): void {
  writeErr(text + "\n");
}

/** Whether to colour stdout: it is a terminal and NO_COLOR is unset or empty. */
export function useColor(): boolean {
  return Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
}

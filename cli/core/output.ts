/**
 * Writing to the terminal or pipe: what `vm`'s commands print. Only cli/
 * prints; lib/ returns values. Writes stdout and stderr synchronously, so
 * lines are never lost when the process exits right after. Text is encoded
 * as lib/text/raw_text.ts does: bytes of a template that are not UTF-8 are
 * printed as those bytes (`vm args`), never as U+FFFD.
 * @module
 */

import { describe, StartFailedError } from "../../lib/errors.ts";
import { encodeRaw } from "../../lib/text/raw_text.ts";
import { visible } from "../../lib/text/visible.ts";

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

/** Writes `bytes` to stdout or stderr as they are. */
export function writeBytes(to: "stdout" | "stderr", bytes: Uint8Array): void {
  const f = to === "stdout" ? Deno.stdout : Deno.stderr;
  let off = 0;
  while (off < bytes.length) off += f.writeSync(bytes.subarray(off));
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

/**
 * The `vm: fatal: …` text of an error: one line, and for a start that
 * failed the last lines of the VM's log under it, indented, when they say
 * more than the line does. Control characters (of a guest agent's or
 * QEMU's message, of the guest's log) are made visible. Pure.
 */
export function fatalText(e: unknown): string {
  const head = `vm: fatal: ${visible(describe(e))}`;
  const lines = (e instanceof StartFailedError ? e.lines : []).map(visible);
  const more = lines.some((l) => !head.endsWith(l));
  return more ? [head, ...lines.map((l) => `    ${l}`)].join("\n") : head;
}

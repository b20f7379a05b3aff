/**
 * Text a guest wrote (its serial console, its screen, sshd's banner), made
 * safe to show in one line of a message: escape sequences and control
 * characters removed (a line redrawn with `\r` keeps what was drawn last),
 * length capped. The guest is not trusted: nothing it sends reaches the
 * user's terminal as a control character. Pure.
 * @module
 */

/** Longest line shown (characters); longer ones end in `…`. */
export const MAX_SHOWN = 160;

/** ESC sequences: CSI (`ESC [ … final`), OSC (`ESC ] … BEL` or `ESC \`), and two-byte ones. */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?/g;
/** Control characters (C0 but tab, DEL, C1) and the lone surrogates of undecodable bytes. */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROLS = /[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]/g;

/** One line of guest text as it can be shown: no escapes, no control characters, capped. Pure. */
export function showable(line: string): string {
  const drawn = line.replace(ESCAPES, "").split("\r").filter((p) => p !== "").at(-1) ?? "";
  const clean = drawn.replace(/\t/g, " ").replace(CONTROLS, "").trim();
  return clean.length > MAX_SHOWN ? clean.slice(0, MAX_SHOWN - 1) + "…" : clean;
}

/** The last line of `text` that shows anything, made {@link showable}; undefined when none. Pure. */
export function lastLine(text: string): string | undefined {
  const lines = text.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const shown = showable(lines[i] ?? "");
    if (shown !== "") return shown;
  }
  return undefined;
}

/**
 * Progress on stderr for long work (downloads, `qemu-img convert`): on a
 * terminal one line redrawn in place with `\r` (at most ten times a second,
 * cut to the terminal's width); on a pipe or file no bar at all, only the
 * notices and the final line. Text comes from cli/core/progress_line.ts.
 * @module
 */

import { progressLine, RateMeter } from "./progress_line.ts";
import { fitWidth, terminalColumns } from "./format.ts";

/** Where progress goes: stderr, or a stand-in in tests. */
export interface ProgressOut {
  writeSync(p: Uint8Array): number;
  isTerminal(): boolean;
}

/** A progress display for one piece of work. */
export interface Progress {
  /** New count (bytes) and whole; redraws the line on a terminal. */
  update(done: number, total?: number): void;
  /** A message on a line of its own (the bar, if any, is drawn again below it). */
  notice(text: string): void;
  /** Replaces the bar by the final line (printed on a pipe too). */
  finish(line: string): void;
  /** Removes the bar (before an error is printed). */
  clear(): void;
}

const REDRAW_MS = 100;
const CLEAR_LINE = "\r\x1b[K";

/** A progress display labelled `label` on `out` (default stderr); `now` gives milliseconds. */
export function progress(
  label: string,
  out: ProgressOut = Deno.stderr,
  now: () => number = () => performance.now(),
): Progress {
  const tty = out.isTerminal();
  const enc = new TextEncoder();
  const write = (s: string) => void out.writeSync(enc.encode(s));
  const meter = new RateMeter();
  let shown = false;
  let last = -Infinity;
  let state: { done: number; total?: number } | undefined;
  const draw = () => {
    if (state === undefined) return;
    const line = progressLine({ label, ...state, rate: meter.rate() });
    write(CLEAR_LINE + fitWidth(line, terminalColumns()));
    shown = true;
  };
  const clear = () => {
    if (shown) write(CLEAR_LINE);
    shown = false;
  };
  return {
    update(done, total) {
      const t = now();
      meter.add(t, done);
      state = total === undefined ? { done } : { done, total };
      if (!tty || t - last < REDRAW_MS) return;
      last = t;
      draw();
    },
    notice(text) {
      clear();
      write(text + "\n");
      if (tty) draw();
    },
    finish(line) {
      clear();
      write(line + "\n");
    },
    clear,
  };
}

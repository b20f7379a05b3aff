/**
 * The one line `vm stop` (and `vm restart`) keeps redrawn on a terminal
 * while guests power off: `waiting for web to power off… 4 s of 15`, one
 * entry per VM still waited for; result lines are printed above it. Nothing
 * on a pipe. The text is pure ({@link waitText}).
 * @module
 */

import { fitWidth } from "../lib/text/progress.ts";
import { writeErr } from "./output.ts";

/** How a VM's wait stands: seconds waited, and the most it will be. */
export interface Waited {
  waitedS: number;
  capS: number;
}

/**
 * The line: `waiting for web to power off… 4 s of 15`, or with several
 * `waiting for web (4 s of 15), db (2 s of 20) to power off…`. Pure.
 */
export function waitText(waits: ReadonlyMap<string, Waited>): string {
  const of = (w: Waited) => `${Math.floor(w.waitedS)} s of ${w.capS}`;
  const entries = [...waits];
  if (entries.length === 1) {
    const [name, w] = entries[0] ?? ["", { waitedS: 0, capS: 0 }];
    return `waiting for ${name} to power off… ${of(w)}`;
  }
  return `waiting for ${entries.map(([n, w]) => `${n} (${of(w)})`).join(", ")} to power off…`;
}

/** The redrawn line, drawn on stderr only when `tty` (default: stderr is a terminal). */
export class WaitLine {
  readonly #waits = new Map<string, Waited>();
  readonly #tty: boolean;
  #shown = "";

  constructor(tty = Deno.stderr.isTerminal()) {
    this.#tty = tty;
  }

  /** VM `name` has waited `waitedS` of `capS`: redraws when the whole seconds change. */
  update(name: string, waitedS: number, capS: number): void {
    if (!this.#tty) return;
    this.#waits.set(name, { waitedS, capS });
    this.#draw();
  }

  /** VM `name` is done: its entry goes, and `report` prints its result above the line. */
  done(name: string, report: () => void): void {
    this.#waits.delete(name);
    this.#clear();
    report();
    this.#draw();
  }

  /** Removes the line (before other output, or at the end). */
  #clear(): void {
    if (this.#shown !== "") writeErr("\r\x1b[K");
    this.#shown = "";
  }

  #draw(): void {
    if (!this.#tty || this.#waits.size === 0) return this.#clear();
    const text = fitWidth(waitText(this.#waits), columns());
    if (text === this.#shown) return;
    writeErr(`\r\x1b[K${text}`);
    this.#shown = text;
  }
}

function columns(): number {
  try {
    return Deno.consoleSize().columns || 80;
  } catch (e) {
    if (e instanceof Error) return 80; // no console to ask: a common width
    throw e;
  }
}

/**
 * The one line `vm stop` (and `vm restart`) keeps redrawn on a terminal
 * while guests power off: `waiting for web to power off… 4 s of 10` (the
 * VM's wait), one entry per VM still waited for; result lines are printed
 * above it. `vm start --ssh` draws its stages on it too
 * (`web (12 s of 300): QEMU up; waiting for the guest`). Nothing on a pipe.
 * The text is pure ({@link waitText}).
 * @module
 */

import { fitWidth, terminalColumns } from "./format.ts";
import { writeErr } from "./output.ts";

/** How a VM's wait stands: seconds waited, the most it will be, and what is waited for. */
export interface Waited {
  waitedS: number;
  capS: number;
  /** What is awaited now (`vm start --ssh`'s stage); without it, the guest's power-off. */
  what?: string;
  /** A stop: QEMU has exited (runsv's finish still runs). */
  exited?: boolean;
}

/** `4 s of 10`; for a stop past its wait or after QEMU exited, what that means. Pure. */
function secondsOf(w: Waited): string {
  const s = Math.floor(w.waitedS);
  if (w.what === undefined && w.exited) return `${s} s; QEMU has exited, its finish runs`;
  if (w.what !== undefined || s <= w.capS) return `${s} s of ${w.capS}`;
  return `${s} s; its wait of ${w.capS} s is over, QEMU is told to quit`;
}

/**
 * The line: `waiting for web to power off… 4 s of 10`, or with several
 * `waiting for web (4 s of 15), db (2 s of 20) to power off…`; entries
 * with a stage: `web (1 s of 300): starting QEMU; db (…): …`, the seconds first,
 * where a narrow terminal does not cut them off. Pure.
 */
export function waitText(waits: ReadonlyMap<string, Waited>): string {
  const entries = [...waits];
  if (entries.some(([, w]) => w.what !== undefined)) {
    return entries.map(([n, w]) => `${n} (${secondsOf(w)}): ${w.what ?? "powering off"}`)
      .join("; ");
  }
  if (entries.length === 1) {
    const [name, w] = entries[0] ?? ["", { waitedS: 0, capS: 0 }];
    return `waiting for ${name} to power off… ${secondsOf(w)}`;
  }
  return `waiting for ${entries.map(([n, w]) => `${n} (${secondsOf(w)})`).join(", ")} ` +
    `to power off…`;
}

/** The redrawn line, drawn on stderr only when `tty` (default: stderr is a terminal). */
export class WaitLine {
  readonly #waits = new Map<string, Waited>();
  readonly #tty: boolean;
  #shown = "";

  constructor(tty = Deno.stderr.isTerminal()) {
    this.#tty = tty;
  }

  /** VM `name`'s wait stands at `w`: redraws when the text changes. */
  update(name: string, w: Waited): void {
    if (!this.#tty) return;
    this.#waits.set(name, w);
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
    const text = fitWidth(waitText(this.#waits), terminalColumns());
    if (text === this.#shown) return;
    writeErr(`\r\x1b[K${text}`);
    this.#shown = text;
  }
}

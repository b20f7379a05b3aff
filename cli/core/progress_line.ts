/**
 * Progress of long work (a download, a `qemu-img convert`) as text: one line
 * with percent, bytes, rate and time left, redrawn in place on a terminal
 * (cli/progress.ts), and a final summary line. The rate is measured over the
 * last few seconds (a moving window), so it follows the network rather than
 * the average. Pure: times are given, never read.
 * @module
 */

import { formatBytes, secondsText } from "../../lib/text/units.ts";
import { fmtDuration } from "./format.ts";

/** A rate in bytes per second: `12.3 MiB/s`. Pure. */
export function fmtRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond, true)}/s`;
}

/**
 * The rate of a growing count over a moving window of time. Feed it
 * `(time in ms, count)` samples; `rate()` is the count per second over the
 * samples of the last `windowMs` (undefined until they span `minSpanMs`).
 */
export class RateMeter {
  #samples: { t: number; n: number }[] = [];
  constructor(readonly windowMs = 5000, readonly minSpanMs = 300) {}

  /** Adds a sample. */
  add(t: number, n: number): void {
    this.#samples.push({ t, n });
    while (this.#samples.length > 2 && (this.#samples[0]?.t ?? t) < t - this.windowMs) {
      this.#samples.shift();
    }
  }

  /** Count per second over the window, or undefined when it is too short yet. */
  rate(): number | undefined {
    const first = this.#samples[0];
    const last = this.#samples.at(-1);
    if (first === undefined || last === undefined || last.t - first.t < this.minSpanMs) {
      return undefined;
    }
    return ((last.n - first.n) * 1000) / (last.t - first.t);
  }
}

/** What one progress line shows. */
export interface ProgressState {
  label: string;
  done: number;
  /** The whole, when known. */
  total?: number;
  /** Bytes per second, when measured. */
  rate?: number;
}

/**
 * One progress line: `label  45%  123.4 MiB / 274.1 MiB  12.3 MiB/s  ETA 0:12`;
 * without a total, just bytes and rate; `--` where the rate is not known yet.
 * Pure.
 */
export function progressLine(s: ProgressState): string {
  const rate = s.rate === undefined ? "--" : fmtRate(s.rate);
  if (s.total === undefined || s.total <= 0) {
    return `${s.label}  ${formatBytes(s.done, true)}  ${rate}`;
  }
  const pct = Math.min(100, Math.floor((s.done / s.total) * 100));
  const left = s.total - s.done;
  const eta = s.rate === undefined || s.rate <= 0 ? "--:--" : fmtDuration(left / s.rate);
  return `${s.label}  ${String(pct).padStart(3)}%  ${formatBytes(s.done, true)} / ${
    formatBytes(s.total, true)
  }  ` +
    `${rate}  ETA ${eta}`;
}

/** The final line: `label: 274.1 MiB in 22.3 s (12.3 MiB/s)`, then `; tail` when given. Pure. */
export function summaryLine(label: string, bytes: number, ms: number, tail?: string): string {
  const secs = ms / 1000;
  const rate = secs > 0 ? ` (${fmtRate(bytes / secs)})` : "";
  const took = secs < 60 ? secondsText(secs) : fmtDuration(secs);
  return `${label}: ${formatBytes(bytes, true)} in ${took}${rate}${tail ? `; ${tail}` : ""}`;
}

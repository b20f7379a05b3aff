/**
 * Progress of long work (a download, a `qemu-img convert`) as text: one line
 * with percent, bytes, rate and time left, redrawn in place on a terminal,
 * and a final summary line. The rate is measured over the last few seconds
 * (a moving window), so it follows the network rather than the average.
 * Pure: times are given, never read.
 * @module
 */

/** Bytes with a binary unit and one decimal: `512 B`, `12.3 MiB`, `1.0 GiB`. Pure. */
export function fmtBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  const i = n < 1024 ? 0 : Math.min(units.length - 1, Math.floor(Math.log2(n) / 10));
  return i === 0 ? `${Math.round(n)} B` : `${(n / 2 ** (10 * i)).toFixed(1)} ${units[i]}`;
}

/** A rate in bytes per second: `12.3 MiB/s`. Pure. */
export function fmtRate(bytesPerSecond: number): string {
  return `${fmtBytes(bytesPerSecond)}/s`;
}

/** Seconds as `m:ss` or `h:mm:ss`: `0:07`, `12:03`, `1:02:03`. Pure. */
export function fmtDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const two = (x: number) => String(x).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
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
    return `${s.label}  ${fmtBytes(s.done)}  ${rate}`;
  }
  const pct = Math.min(100, Math.floor((s.done / s.total) * 100));
  const left = s.total - s.done;
  const eta = s.rate === undefined || s.rate <= 0 ? "--:--" : fmtDuration(left / s.rate);
  return `${s.label}  ${String(pct).padStart(3)}%  ${fmtBytes(s.done)} / ${fmtBytes(s.total)}  ` +
    `${rate}  ETA ${eta}`;
}

/** The final line: `label: 274.1 MiB in 22.3 s (12.3 MiB/s)`, then `; tail` when given. Pure. */
export function summaryLine(label: string, bytes: number, ms: number, tail?: string): string {
  const secs = ms / 1000;
  const rate = secs > 0 ? ` (${fmtRate(bytes / secs)})` : "";
  const took = secs < 60 ? `${secs.toFixed(1)} s` : fmtDuration(secs);
  return `${label}: ${fmtBytes(bytes)} in ${took}${rate}${tail ? `; ${tail}` : ""}`;
}

/** `line` cut to fit `columns` (one less, so a terminal never wraps it). Pure. */
export function fitWidth(line: string, columns: number): string {
  const max = Math.max(10, columns - 1);
  return line.length <= max ? line : line.slice(0, max - 1) + "…";
}

/**
 * How cli/ shows values to people, each form defined once: durations as
 * people write them (`3h5m`) or as a clock (`1:02:03`), dates, rows aligned
 * in columns, and a line cut to the terminal's width. (Sizes and seconds
 * with one decimal are lib/text/units.ts's: lib's messages use them too.)
 * Pure, but for {@link terminalColumns}.
 * @module
 */

/** A duration as people write it: 45s, 12m, 3h5m, 3d4h. Pure. */
export function humanDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return h > 0 ? `${d}d${h}h` : `${d}d`;
  if (h > 0) return m > 0 ? `${h}h${m}m` : `${h}h`;
  if (m > 0) return `${m}m`;
  return `${s}s`;
}

/** A number with two digits: 07. */
function two(n: number): string {
  return String(n).padStart(2, "0");
}

/** Seconds as a clock, `m:ss` or `h:mm:ss`: `0:07`, `12:03`, `1:02:03`. Pure. */
export function fmtDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}

/** A Unix time as local `YYYY-MM-DD HH:MM:SS`. Pure (given the time zone). */
export function formatDate(unix: number): string {
  const d = new Date(unix * 1000);
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/**
 * Rows as aligned columns: each cell but the last padded to its column's
 * widest, two spaces between; `paint` may wrap a padded cell (colour) once
 * the widths are known. Pure.
 */
export function alignColumns(
  rows: readonly (readonly string[])[],
  paint: (cell: string, row: number, column: number) => string = (cell) => cell,
): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => widths[i] = Math.max(widths[i] ?? 0, c.length));
  return rows.map((r, n) =>
    r.map((cell, i) => paint(i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0), n, i))
      .join("  ")
  ).join("\n");
}

/** `line` cut to fit `columns` (one less, so a terminal never wraps it). Pure. */
export function fitWidth(line: string, columns: number): string {
  const max = Math.max(10, columns - 1);
  return line.length <= max ? line : line.slice(0, max - 1) + "…";
}

/** The width of the terminal on stdout, 80 when there is none or it does not say. */
export function terminalColumns(): number {
  try {
    const c = Deno.consoleSize().columns;
    return c > 0 ? c : 80; // a terminal that does not say its size
  } catch (e) {
    if (e instanceof Error) return 80; // no console to ask: a common width
    throw e;
  }
}

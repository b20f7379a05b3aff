/**
 * Did you mean: the command nearest to a mistyped one (`vm stpo` → "stop"),
 * by edit distance with transpositions, or the only command it begins.
 * Pure.
 * @module
 */

/** Edits (insert, delete, replace, swap two neighbours) from `a` to `b`. Pure. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from(
    { length: a.length + 1 },
    (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] ?? [];
      const up = d[i - 1] ?? [];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((up[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (up[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j] ?? 0, (d[i - 2]?.[j - 2] ?? 0) + 1);
      }
    }
  }
  return d[a.length]?.[b.length] ?? Math.max(a.length, b.length);
}

/**
 * The name of `names` that `word` most likely meant: the nearest within
 * one edit per three letters (at least one), else the only one it begins
 * (two letters at least); undefined when none or several are as near. Pure.
 */
export function nearest(word: string, names: readonly string[]): string | undefined {
  const max = Math.max(1, Math.floor(word.length / 3));
  let best: string[] = [];
  let bestD = Infinity;
  for (const n of names) {
    const dist = editDistance(word, n);
    if (dist > max || dist > bestD) continue;
    best = dist < bestD ? [n] : [...best, n];
    bestD = dist;
  }
  if (best.length === 1) return best[0];
  const starts = word.length >= 2 ? names.filter((n) => n.startsWith(word)) : [];
  return best.length === 0 && starts.length === 1 ? starts[0] : undefined;
}

/** The usage message for an unknown command `word`: with "did you mean" when one is near. Pure. */
export function unknownCommand(
  word: string,
  names: readonly string[],
  what = "a vm command",
): string {
  const near = nearest(word, names);
  const hint = near === undefined ? "" : ` (did you mean "${near}"?)`;
  return `"${word}" is not ${what}${hint}; see "vm help"`;
}

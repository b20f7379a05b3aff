/**
 * Ordering names by their UTF-8 bytes, as `ls` does in the C locale: the
 * order templates are read in and VMs are listed in. Pure.
 * @module
 */

const encoder = new TextEncoder();

/** Compares two names by their UTF-8 bytes (the order `ls` gives in the C locale). Pure. */
export function byteOrder(a: string, b: string): number {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

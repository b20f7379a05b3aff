/**
 * Ordering names by their UTF-8 bytes, as `ls` does in the C locale: the
 * order templates are read in and VMs are listed in. UTF-8's byte order is
 * the order of code points, so the strings are compared code point by code
 * point, without encoding them (a sort compares each name many times). Pure.
 * @module
 */

/** Compares two names by their UTF-8 bytes (the order `ls` gives in the C locale). Pure. */
export function byteOrder(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a.codePointAt(i) ?? 0;
    const y = b.codePointAt(j) ?? 0;
    if (x !== y) return x - y;
    i += x > 0xffff ? 2 : 1;
    j += y > 0xffff ? 2 : 1;
  }
  return (a.length - i) - (b.length - j);
}

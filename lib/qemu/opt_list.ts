/**
 * QEMU's option lists (`file=a,,b.img,if=virtio,readonly`): `,` separates
 * items, `,,` is a literal comma, a bare word is a flag. Parsed keeping how
 * each item was written, joined back, and looked up. Pure.
 * @module
 */

/** One item of a QEMU option list: `key=value`, or a bare word (`user`), kept as written. */
export interface OptItem {
  key: string;
  /** The value; "on" for a bare word. */
  value: string;
  /** Written without `=` (`user` in `user,id=n0`). */
  bare: boolean;
}

/** Splits a QEMU option list: `,` separates, `,,` is a literal comma; empty items skipped. Pure. */
export function parseOpts(text: string): OptItem[] {
  const parts: string[] = [];
  let cur = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "," && text[i + 1] === ",") {
      cur += ",";
      i++;
    } else if (c === ",") {
      parts.push(cur);
      cur = "";
    } else cur += c;
  }
  parts.push(cur);
  return parts.filter((p) => p !== "").map((p) => {
    const eq = p.indexOf("=");
    return eq < 0
      ? { key: p, value: "on", bare: true }
      : { key: p.slice(0, eq), value: p.slice(eq + 1), bare: false };
  });
}

/** Joins items back into an option list (`,` doubled). Pure. */
export function joinOpts(items: readonly OptItem[]): string {
  const esc = (s: string) => s.replaceAll(",", ",,");
  return items.map((o) => o.bare ? esc(o.key) : `${esc(o.key)}=${esc(o.value)}`).join(",");
}

/** The last value of `key` (QEMU takes the last), or undefined. Pure. */
export function optGet(
  items: readonly { key: string; value: string }[],
  key: string,
): string | undefined {
  let v: string | undefined;
  for (const o of items) if (o.key === key) v = o.value;
  return v;
}

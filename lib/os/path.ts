/**
 * POSIX path functions, as node:path's posix ones: loading node:path costs
 * ~6 ms at every start of `vm`, which runit's `run` would pay on each VM
 * start. Pure, except that `resolve` reads the working directory.
 * @module
 */

/** Whether `p` starts at the root. Pure. */
export function isAbsolute(p: string): boolean {
  return p.startsWith("/");
}

/** `p` without `.`, `..` (where it can), repeated or trailing slashes; "." for empty. Pure. */
export function normalize(p: string): string {
  if (p === "") return ".";
  const abs = isAbsolute(p);
  const out: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (out.length > 0 && out.at(-1) !== "..") out.pop();
      else if (!abs) out.push("..");
      continue;
    }
    out.push(seg);
  }
  const body = out.join("/");
  const trailing = p.endsWith("/") ? "/" : "";
  if (body === "") return abs ? "/" : "." + trailing;
  return (abs ? "/" : "") + body + trailing;
}

/** The parts joined with `/` and normalized (empty parts skipped). Pure. */
export function join(...parts: string[]): string {
  const joined = parts.filter((s) => s !== "").join("/");
  return joined === "" ? "." : normalize(joined);
}

/** An absolute path: the parts from the right until one is absolute, else from the cwd. */
export function resolve(...parts: string[]): string {
  let path = "";
  for (let i = parts.length - 1; i >= 0 && !isAbsolute(path); i--) {
    const part = parts[i] ?? "";
    if (part !== "") path = path === "" ? part : `${part}/${path}`;
  }
  if (!isAbsolute(path)) path = `${Deno.cwd()}/${path}`;
  const n = normalize(path);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}

/** The last part of `p`, trailing slashes ignored; without `ext` when it ends so. Pure. */
export function basename(p: string, ext?: string): string {
  const trimmed = p.replace(/\/+$/, "");
  const base = trimmed.slice(trimmed.lastIndexOf("/") + 1);
  return ext !== undefined && ext !== base && base.endsWith(ext)
    ? base.slice(0, -ext.length)
    : base;
}

/** `p` without its last part: "." when there is none, "/" at the root (as node:path). Pure. */
export function dirname(p: string): string {
  if (p === "") return ".";
  const hasRoot = isAbsolute(p);
  let end = -1;
  let matchedSlash = true;
  for (let i = p.length - 1; i >= 1; i--) {
    if (p[i] === "/") {
      if (!matchedSlash) {
        end = i;
        break;
      }
    } else {
      matchedSlash = false;
    }
  }
  if (end === -1) return hasRoot ? "/" : ".";
  if (hasRoot && end === 1) return "//";
  return p.slice(0, end);
}

/** The path from `from` to `to` (both resolved first); "" when they are the same. */
export function relative(from: string, to: string): string {
  const a = resolve(from).split("/").filter((s) => s !== "");
  const b = resolve(to).split("/").filter((s) => s !== "");
  let common = 0;
  while (common < a.length && common < b.length && a[common] === b[common]) common++;
  return [...a.slice(common).map(() => ".."), ...b.slice(common)].join("/");
}

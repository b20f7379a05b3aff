/**
 * QEMU arguments as the exporters see them: each word with the template file
 * and line it came from, grouped into options (`-m` with its value `1G`),
 * and the local paths an option names (`file=`, `path=`, `-kernel X`,
 * `-serial unix:X`), found and rewritten. Pure: no I/O. Area lib/export, at
 * the level of actions.
 * @module
 */

import { localFile } from "../qemu/drives.ts";
import { FLAG_OPTIONS } from "../qemu/flags.ts";
import { quoteWords } from "../text/shell_words.ts";
import { OptItem } from "../qemu/opt_list.ts";
import { parseOpts } from "../qemu/opt_list.ts";
import { joinOpts } from "../qemu/opt_list.ts";
import { optGet } from "../qemu/opt_list.ts";

/** QEMU options that take no value (now in lib/qemu/flags.ts). */
export { FLAG_OPTIONS };

/** One argument of a VM and where it was written. */
export interface VmArg {
  value: string;
  /** The template, relative to the VM directory (`templates/mem`); "" when made up here. */
  file: string;
  /** 1-based line in `file`. */
  line: number;
}

/** One QEMU option and its value (absent for a flag), or a lone positional word (`opt` ""). */
export interface OptionGroup {
  /** The option with one leading dash (`--drive` is read as `-drive`). */
  opt: string;
  word: VmArg;
  value?: VmArg;
}

/** Groups `args` into options with their values, in order. Pure. */
export function groupOptions(args: readonly VmArg[]): OptionGroup[] {
  const out: OptionGroup[] = [];
  for (let i = 0; i < args.length; i++) {
    const word = args[i] as VmArg;
    if (!word.value.startsWith("-") || word.value === "-") {
      out.push({ opt: "", word });
      continue;
    }
    const opt = word.value.startsWith("--") ? word.value.slice(1) : word.value;
    const value = FLAG_OPTIONS.has(opt) ? undefined : args[i + 1];
    if (value !== undefined) i++;
    out.push(value === undefined ? { opt, word } : { opt, word, value });
  }
  return out;
}

/** The words of a group, as written. Pure. */
export function groupWords(g: OptionGroup): string[] {
  return g.value === undefined ? [g.word.value] : [g.word.value, g.value.value];
}

/** `templates/x:3` for messages. Pure. */
export function where(g: OptionGroup): string {
  return `${g.word.file}:${g.word.line}`;
}

/** The group shell-quoted, for messages. Pure. */
export function shown(g: OptionGroup): string {
  return quoteWords(groupWords(g));
}

/** `items` without those whose key is in `keys`. Pure. */
export function optWithout(items: readonly OptItem[], keys: readonly string[]): OptItem[] {
  return items.filter((o) => !keys.includes(o.key));
}

/**
 * Options whose whole value is a file (`-kernel X`). `-hda` etc. may name a
 * protocol instead (`nbd:…`), as drives.ts's localFile tells.
 */
const FILE_VALUE_OPTIONS = new Set([
  "-kernel",
  "-initrd",
  "-dtb",
  "-bios",
  "-L",
  "-cdrom",
  "-hda",
  "-hdb",
  "-hdc",
  "-hdd",
  "-fda",
  "-fdb",
  "-pflash",
  "-mtdblock",
  "-sd",
  "-readconfig",
  "-pidfile",
  "-D",
  "-option-rom",
]);

/** Options whose value is a character device (`unix:X`, `file:X`, `mon:…`). */
const CHAR_OPTIONS = new Set([
  "-serial",
  "-parallel",
  "-monitor",
  "-qmp",
  "-qmp-pretty",
  "-debugcon",
  "-virtioconsole",
]);

/** Keys of option lists (and JSON objects) that name a local file or directory. */
const PATH_KEYS = new Set([
  "file",
  "filename",
  "file.filename",
  "path",
  "romfile",
  "smb",
  "tftp",
  "script",
  "downscript",
]);

/** A local path named in a group, and how to put another in its place. */
export interface PathRef {
  /** `file`, `path`… for option lists; "" for a whole value or a character device. */
  key: string;
  path: string;
  /** Character devices: `unix`, `file`, `pipe`, or "" for a bare `/dev/…`. */
  kind?: string;
}

/** The local path of a character device value (`unix:p,server=on`, `mon:stdio`), if any. Pure. */
function charPath(value: string): PathRef | undefined {
  const v = value.startsWith("mon:") ? value.slice(4) : value;
  const m = /^(unix|file|pipe):([^,]*)/.exec(v);
  if (m !== null) return { key: "", path: m[2] ?? "", kind: m[1] ?? "" };
  if (v.startsWith("/")) return { key: "", path: v.split(",")[0] ?? "", kind: "" };
  return undefined;
}

/** Paths in a parsed JSON value, under PATH_KEYS. Pure. */
function jsonPaths(v: unknown, out: PathRef[]): void {
  if (v === null || typeof v !== "object") return;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (typeof x === "string" && PATH_KEYS.has(k)) {
      const f = k === "file" ? localFile(x) : x;
      if (f !== undefined && f !== "" && f !== "no") out.push({ key: k, path: f });
    } else jsonPaths(x, out);
  }
}

/** The local paths a group names (see the module doc). Pure. */
export function pathsIn(g: OptionGroup): PathRef[] {
  const v = g.value?.value;
  if (g.opt === "") {
    const f = localFile(g.word.value);
    return f === undefined ? [] : [{ key: "", path: f }];
  }
  if (v === undefined) return [];
  if (FILE_VALUE_OPTIONS.has(g.opt)) {
    const f = g.opt === "-L" || g.opt === "-pidfile" || g.opt === "-D" ? v : localFile(v);
    return f === undefined ? [] : [{ key: "", path: f }];
  }
  if (CHAR_OPTIONS.has(g.opt)) {
    const c = charPath(v);
    return c === undefined ? [] : [c];
  }
  if (v.startsWith("{")) {
    const out: PathRef[] = [];
    try {
      jsonPaths(JSON.parse(v), out);
    } catch (e) {
      if (!(e instanceof SyntaxError)) throw e;
    }
    return out;
  }
  const out: PathRef[] = [];
  for (const o of parseOpts(v)) {
    if (!PATH_KEYS.has(o.key)) continue;
    const f = o.key === "file" || o.key === "file.filename" ? localFile(o.value) : o.value;
    if (f !== undefined && f !== "" && f !== "no") out.push({ key: o.key, path: f });
  }
  return out;
}

/** `value` with every local path `p` in it replaced by `map(p)`. Pure. */
function rewriteValue(opt: string, value: string, map: (p: string) => string): string {
  if (FILE_VALUE_OPTIONS.has(opt)) {
    return value.startsWith("file:") ? "file:" + map(value.slice(5)) : map(value);
  }
  if (CHAR_OPTIONS.has(opt)) {
    const c = charPath(value);
    if (c === undefined) return value;
    const at = value.indexOf(c.path);
    return value.slice(0, at) + map(c.path) + value.slice(at + c.path.length);
  }
  if (value.startsWith("{")) {
    const walk = (x: unknown): unknown => {
      if (x === null || typeof x !== "object") return x;
      if (Array.isArray(x)) return x.map(walk);
      return Object.fromEntries(
        Object.entries(x as Record<string, unknown>).map(([k, y]) => [
          k,
          typeof y === "string" && PATH_KEYS.has(k) && localFile(y) !== undefined
            ? map(y)
            : walk(y),
        ]),
      );
    };
    return JSON.stringify(walk(JSON.parse(value)));
  }
  return joinOpts(
    parseOpts(value).map((o) => {
      if (o.bare || !PATH_KEYS.has(o.key) || o.value === "no") return o;
      const f = o.key === "file" || o.key === "file.filename" ? localFile(o.value) : o.value;
      return f === undefined ? o : { ...o, value: map(f) };
    }),
  );
}

/**
 * The group with every local path `p` it names replaced by `map(p)` (the
 * value's other options unchanged). Pure.
 */
export function rewritePaths(g: OptionGroup, map: (p: string) => string): OptionGroup {
  if (g.opt === "") {
    const f = localFile(g.word.value);
    return f === undefined ? g : { ...g, word: { ...g.word, value: map(f) } };
  }
  if (g.value === undefined || pathsIn(g).length === 0) return g;
  return { ...g, value: { ...g.value, value: rewriteValue(g.opt, g.value.value, map) } };
}

/** Option list of a group's value (empty for a flag). Pure. */
export function optsOf(g: OptionGroup): OptItem[] {
  return g.value === undefined ? [] : parseOpts(g.value.value);
}

/**
 * The kind an option list starts with: the value of `typeKey` when given,
 * else its first bare word (`user` in `user,id=n0`, `pc` in `pc,accel=kvm`). Pure.
 */
export function leadWord(opts: readonly OptItem[], typeKey = "type"): string | undefined {
  const typed = optGet(opts, typeKey);
  if (typed !== undefined) return typed;
  const first = opts[0];
  return first !== undefined && first.bare ? first.key : undefined;
}

/** `items` without a leading bare word (the kind) and without the keys `keys`. Pure. */
export function withoutLead(items: readonly OptItem[], keys: readonly string[]): OptItem[] {
  return items.filter((o, i) => !(i === 0 && o.bare) && !keys.includes(o.key));
}

/** A group made up here (not from a template), e.g. for an argument the exporter adds. Pure. */
export function madeGroup(opt: string, value?: string): OptionGroup {
  const word = { value: opt, file: "", line: 0 };
  return value === undefined ? { opt, word } : { opt, word, value: { value, file: "", line: 0 } };
}

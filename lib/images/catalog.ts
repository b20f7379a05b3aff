/**
 * The image catalog: which names `vm image pull` knows, where each image is
 * downloaded from and where its checksum comes from. It is data, parsed and
 * never executed: blocks of `key = value` lines under a `[name]` header,
 * `#` comment lines. Keys: `arch` (QEMU's name: x86_64, aarch64; absent: any),
 * `kind` (`disk` or `iso`), `url` (https://, http:// or file://; ending in `/`
 * when `file` picks the file), `sums` (a SUMS file listing the image), `file`
 * (a glob over the names in `sums` choosing the dated file a "latest" name
 * stands for, in the directory of `url`), `sha256` / `sha512` (a pinned
 * checksum). A name may have one block per arch.
 * The shipped catalog is `default/images.conf`; the user's is
 * `$VMDIR/.default/images.conf` or the file VMCONF_IMAGES names, and its
 * entries replace the shipped ones of the same name.
 * Pure but for `loadCatalog`, which reads those two files.
 * Level: vm (lib/images, no qemu).
 * @module
 */

import { join } from "../os/path.ts";
import { readTextCapped, readTextIfExists, unlessMissing } from "../os/fs.ts";
import { ParseError, SystemError, UsageError } from "../errors.ts";
import { type Config, MAX_CONFIG } from "../vm/config.ts";
import { DEFAULT_VM } from "../layout.ts";
import { nameProblem } from "../vm/name.ts";
import { algoOfHex, type Checksum } from "./sums.ts";

/** What an image is: a disk to boot from (via an overlay) or an installer ISO. */
export type ImageKind = "disk" | "iso";

/** One image of the catalog. */
export interface CatalogEntry {
  name: string;
  /** QEMU architecture name; "" fits every arch. */
  arch: string;
  kind: ImageKind;
  url: string;
  /** URL of a SUMS file listing the image. */
  sums?: string;
  /** Glob choosing the newest matching name listed in `sums`. */
  file?: string;
  /** A pinned checksum. */
  checksum?: Checksum;
  /** Where the entry was read: `<file>:<line>`. */
  origin: string;
}

/** URL schemes an image or SUMS file may be fetched from. */
export const SCHEMES = ["https:", "http:", "file:"] as const;

/** The catalog file name, in `default/` and `$VMDIR/.default/`. */
export const CATALOG_FILE = "images.conf";

const KEYS = ["arch", "kind", "url", "sums", "file", "sha256", "sha512"] as const;

/** Returns the reason `name` cannot name an image, or undefined. Pure. */
export function imageNameProblem(name: string): string | undefined {
  return nameProblem(name)?.replace(/VM name/g, "image name");
}

/** Returns `name` when it can name an image; throws UsageError otherwise. Pure. */
export function checkImageName(name: string): string {
  const problem = imageNameProblem(name);
  if (problem !== undefined) throw new UsageError(problem);
  return name;
}

/** Whether `url` parses and uses one of SCHEMES. Pure. */
export function isImageUrl(url: string): boolean {
  try {
    return (SCHEMES as readonly string[]).includes(new URL(url).protocol);
  } catch (e) {
    if (e instanceof TypeError) return false; // not a URL at all
    throw e;
  }
}

type Draft = Partial<Record<(typeof KEYS)[number], string>> & { name: string; line: number };

/** Checks one block and makes it an entry; throws ParseError naming the file and line. Pure. */
function finishEntry(d: Draft, file: string): CatalogEntry {
  const fail = (why: string): never => {
    throw new ParseError(file, d.line, `[${d.name}]: ${why}`);
  };
  const problem = imageNameProblem(d.name);
  if (problem !== undefined) fail(problem);
  const kind = d.kind ?? "disk";
  if (kind !== "disk" && kind !== "iso") fail(`kind "${kind}" is neither "disk" nor "iso"`);
  if (d.url === undefined) fail('no "url"');
  for (const k of ["url", "sums"] as const) {
    const v = d[k];
    if (v !== undefined && !isImageUrl(v)) {
      fail(`${k} "${v}" is not an https://, http:// or file:// URL`);
    }
  }
  if (d.url?.endsWith("/") && d.file === undefined) {
    fail('url ends in "/" but no "file" picks the file');
  }
  if (d.file !== undefined && d.sums === undefined) fail('"file" needs "sums" to choose from');
  const entry: CatalogEntry = {
    name: d.name,
    arch: d.arch ?? "",
    kind: kind as ImageKind,
    url: d.url ?? "",
    origin: `${file}:${d.line}`,
  };
  if (d.sums !== undefined) entry.sums = d.sums;
  if (d.file !== undefined) entry.file = d.file;
  for (const algo of ["sha256", "sha512"] as const) {
    const hex = d[algo];
    if (hex === undefined) continue;
    if (algoOfHex(hex) !== algo) fail(`${algo} "${hex}" is not a ${algo.toUpperCase()} checksum`);
    entry.checksum = { algo, hex: hex.toLowerCase() };
  }
  return entry;
}

/**
 * Parses a catalog file's text. Throws ParseError (`<file>:<line>: …`, exit
 * 100) for a line that is not a header, `key = value` with a known key, a
 * comment or blank; for a block without url, a bad name, kind, URL or
 * checksum; and for a name given twice for one arch. Pure.
 */
export function parseCatalog(text: string, file: string): CatalogEntry[] {
  const out: CatalogEntry[] = [];
  let cur: Draft | undefined;
  const flush = () => {
    if (cur === undefined) return;
    const e = finishEntry(cur, file);
    if (out.some((o) => o.name === e.name && o.arch === e.arch)) {
      throw new ParseError(file, cur.line, `[${e.name}] is given twice for arch "${e.arch}"`);
    }
    out.push(e);
  };
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const header = /^\[([^\]]*)\]$/.exec(line);
    if (header) {
      flush();
      cur = { name: (header[1] ?? "").trim(), line: i + 1 };
      return;
    }
    const kv = /^([a-z0-9]+)\s*=\s*(.*)$/.exec(line);
    const key = kv?.[1] as (typeof KEYS)[number] | undefined;
    if (kv === null || key === undefined || !KEYS.includes(key)) {
      throw new ParseError(
        file,
        i + 1,
        `"${line}" is not "key = value" with a key of ${KEYS.join(", ")}`,
      );
    }
    if (cur === undefined) throw new ParseError(file, i + 1, `"${key}" before any [name] header`);
    cur[key] = kv[2] ?? "";
  });
  flush();
  return out;
}

/** The shipped entries with the user's: a name the user gives replaces every shipped entry of that name. Pure. */
export function mergeCatalogs(
  shipped: readonly CatalogEntry[],
  user: readonly CatalogEntry[],
): CatalogEntry[] {
  const mine = new Set(user.map((e) => e.name));
  return [...shipped.filter((e) => !mine.has(e.name)), ...user];
}

/**
 * The entry `name` for `arch`; undefined when the catalog has no such name.
 * Throws UsageError when it has the name for other arches only. Pure.
 */
export function findEntry(
  entries: readonly CatalogEntry[],
  name: string,
  arch: string,
): CatalogEntry | undefined {
  const named = entries.filter((e) => e.name === name);
  if (named.length === 0) return undefined;
  const hit = named.find((e) => e.arch === arch) ?? named.find((e) => e.arch === "");
  if (hit !== undefined) return hit;
  throw new UsageError(
    `Image "${name}" is not in the catalog for arch "${arch}" (only ${
      named.map((e) => `"${e.arch}"`).join(", ")
    }); choose one with --arch`,
  );
}

/** The shipped catalog: `default/images.conf` of this source tree (or of `deno compile --include`). */
export const SHIPPED_CATALOG = new URL(`../../default/${CATALOG_FILE}`, import.meta.url).pathname;

/** The user's catalog file: VMCONF_IMAGES when set, else `$VMDIR/.default/images.conf`. Pure. */
export function userCatalogPath(cfg: Config): string {
  return cfg.env.VMCONF_IMAGES || join(cfg.vmdir, DEFAULT_VM, CATALOG_FILE);
}

/**
 * The catalog in effect: the shipped file with the user's (when it exists)
 * merged over it. Reads both files; throws ParseError for a bad one,
 * SystemError when the shipped one is missing, UsageError when the user's
 * is larger than MAX_CONFIG.
 */
export function loadCatalog(cfg: Config, shipped: string = SHIPPED_CATALOG): CatalogEntry[] {
  const base = readTextIfExists(shipped);
  if (base === undefined) {
    throw new SystemError(`The shipped image catalog "${shipped}" is missing; reinstall vm`);
  }
  const user = userCatalogPath(cfg);
  const own = unlessMissing(() => readTextCapped(user, MAX_CONFIG) ?? null);
  if (own === null) {
    throw new UsageError(`Image catalog "${user}" is larger than 1 MiB; check what it is`);
  }
  return mergeCatalogs(
    parseCatalog(base, shipped),
    own === undefined ? [] : parseCatalog(own, user),
  );
}

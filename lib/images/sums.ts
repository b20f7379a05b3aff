/**
 * Checksum files as distributions publish them, and checksums given by hand.
 * Formats read: GNU coreutils (`<hex>  <file>`, `<hex> *<file>`), BSD / RPM
 * style (`SHA256 (<file>) = <hex>`, as Fedora, AlmaLinux and Rocky publish,
 * possibly inside a PGP clear-signed block), and a file of a bare hash (as
 * Alpine's `<image>.sha512`). Lines of any other shape (comments, PGP armor)
 * are skipped. The algorithm is told by the BSD tag or by the hash length
 * (64 hex digits SHA-256, 128 SHA-512). Also: choosing the dated file a
 * "latest" name stands for, by a glob over the names a SUMS file lists.
 * Pure: no I/O. Level: vm (lib/images, pure).
 * @module
 */

import { UsageError } from "../errors.ts";

/** Hash algorithms images are verified with. */
export type HashAlgo = "sha256" | "sha512";

/** A checksum: algorithm and lowercase hex digest. */
export interface Checksum {
  algo: HashAlgo;
  hex: string;
}

/** One line of a SUMS file. */
export interface SumEntry extends Checksum {
  /** The file name as listed ("" for a file holding only a hash). */
  file: string;
}

const HEX_LENGTH: Record<HashAlgo, number> = { sha256: 64, sha512: 128 };

/** The algorithm whose digests have `hex`'s length, or undefined. Pure. */
export function algoOfHex(hex: string): HashAlgo | undefined {
  if (!/^[0-9a-fA-F]+$/.test(hex)) return undefined;
  return hex.length === 64 ? "sha256" : hex.length === 128 ? "sha512" : undefined;
}

/**
 * A checksum given on the command line (`--sha256 H`, `--sha512 H`), checked:
 * hex of the algorithm's length. Throws UsageError otherwise. Pure.
 */
export function checksumArg(algo: HashAlgo, hex: string): Checksum {
  const h = hex.trim().replace(/^(sha256|sha512):/i, "");
  if (!/^[0-9a-fA-F]+$/.test(h) || h.length !== HEX_LENGTH[algo]) {
    throw new UsageError(
      `"${hex}" is not a ${algo.toUpperCase()} checksum; give ${
        HEX_LENGTH[algo]
      } hex digits (as "${algo}sum" prints)`,
    );
  }
  return { algo, hex: h.toLowerCase() };
}

const BSD = /^(SHA256|SHA512)\s*\((.+)\)\s*=\s*([0-9a-fA-F]+)$/;
const GNU = /^\\?([0-9a-fA-F]{64}|[0-9a-fA-F]{128})\s[ *]?(.+)$/;
const BARE = /^([0-9a-fA-F]{64}|[0-9a-fA-F]{128})$/;

/** Parses a SUMS file's text into its entries, in order; other lines are skipped. Pure. */
export function parseSums(text: string): SumEntry[] {
  const out: SumEntry[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const bsd = BSD.exec(line);
    if (bsd) {
      const algo = (bsd[1] ?? "").toLowerCase() as HashAlgo;
      const hex = (bsd[3] ?? "").toLowerCase();
      if (hex.length === HEX_LENGTH[algo]) out.push({ algo, hex, file: bsd[2] ?? "" });
      continue;
    }
    const m = GNU.exec(line) ?? BARE.exec(line);
    if (m === null) continue;
    const hex = (m[1] ?? "").toLowerCase();
    const algo = algoOfHex(hex);
    if (algo !== undefined) out.push({ algo, hex, file: (m[2] ?? "").replace(/^\.\//, "") });
  }
  return out;
}

/**
 * The entry for `file` (matched by name, or by last path part when the SUMS
 * file lists paths); for a SUMS file holding one bare hash, that hash.
 * SHA-512 is preferred when both are listed. Undefined when none applies. Pure.
 */
export function findSum(entries: readonly SumEntry[], file: string): SumEntry | undefined {
  const base = (p: string) => p.slice(p.lastIndexOf("/") + 1);
  const hits = entries.filter((e) => e.file === file || base(e.file) === file);
  if (hits.length === 0) {
    return entries.length === 1 && entries[0]?.file === "" ? entries[0] : undefined;
  }
  return hits.find((e) => e.algo === "sha512") ?? hits[0];
}

/** Whether `name` matches `glob` (`*` any run of characters, `?` one; nothing else special). Pure. */
export function globMatch(glob: string, name: string): boolean {
  const re = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*").replaceAll("?", ".");
  return new RegExp(`^${re}$`).test(name);
}

/** Version order; made on first use: setting up ICU's collator takes ~10 ms, at every start of vm. */
let collator: Intl.Collator | undefined;

/**
 * The file a "latest" entry stands for: of the names listed in `entries`
 * that match `glob`, the highest in version order (digit runs compared as
 * numbers: `9.10` after `9.9`). Undefined when none matches. Pure.
 */
export function newestMatch(entries: readonly SumEntry[], glob: string): string | undefined {
  const base = (p: string) => p.slice(p.lastIndexOf("/") + 1);
  const names = [...new Set(entries.map((e) => base(e.file)))].filter((n) => globMatch(glob, n));
  collator ??= new Intl.Collator("en", { numeric: true });
  return names.sort(collator.compare).at(-1);
}

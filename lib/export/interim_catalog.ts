/**
 * INTERIM image-catalog lookup for `vm export nomad`, kept tiny on purpose:
 * the images work owns the catalog (`default/images.conf`, installed as
 * `$VMDIR/.default/images.conf`) and the cache (`$VMDIR/.images/`) and will
 * ship the real reader; swap `catalogLookup` for one built on it (the
 * exporter only takes an ImageLookup function). Assumed format: one image a
 * line, `<name> <url> <checksum>` (`sha256:<hex>`, or `-` for none), `#`
 * comments; a cached image matches by the URL's file name, or by
 * `<name>.<ext>`. Parsing is pure; `catalogLookup` reads the catalog file.
 * Area lib/export, at the level of actions.
 * @module
 */

import { basename, join } from "../os/path.ts";
import { readTextIfExists } from "../os/fs.ts";
import { DEFAULT_VM } from "../vm/files.ts";
import type { ImageLookup, ImageSource } from "./nomad.ts";

/** One catalog entry. */
export interface CatalogEntry {
  name: string;
  url: string;
  checksum?: string;
}

/** Parses catalog text (format in the module doc); lines that do not fit are skipped. Pure. */
export function parseCatalog(text: string): CatalogEntry[] {
  const out: CatalogEntry[] = [];
  for (const raw of text.split("\n")) {
    const [name, url, sum] = raw.replace(/#.*/, "").trim().split(/\s+/);
    if (name === undefined || url === undefined || !/^[a-z]+:\/\//.test(url)) continue;
    out.push(sum === undefined || sum === "-" ? { name, url } : { name, url, checksum: sum });
  }
  return out;
}

/** The lookup over `entries`, for images cached in `cacheDir`. Pure. */
export function lookupIn(entries: readonly CatalogEntry[], cacheDir: string): ImageLookup {
  return (path: string): ImageSource | undefined => {
    if (!path.startsWith(cacheDir + "/")) return undefined;
    const file = basename(path);
    const e = entries.find((x) =>
      basename(new URL(x.url).pathname) === file || file.startsWith(x.name + ".")
    );
    if (e === undefined) return undefined;
    return e.checksum === undefined ? { url: e.url } : { url: e.url, checksum: e.checksum };
  };
}

/** The lookup of VMDIR `vmdir`. Reads `$VMDIR/.default/images.conf` (none: nothing is found). */
export function catalogLookup(vmdir: string): ImageLookup {
  const text = readTextIfExists(join(vmdir, DEFAULT_VM, "images.conf")) ?? "";
  return lookupIn(parseCatalog(text), join(vmdir, ".images"));
}

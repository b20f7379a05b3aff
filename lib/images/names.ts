/**
 * The image names a user may type (for shell completion of `vm image pull`,
 * `vm image rm` and `vm make --image`): those of the catalog in effect and
 * those of the cache. Reads the catalog files and `$VMDIR/.images`.
 * Level: vm (lib/images, no qemu).
 * @module
 */

import type { Config } from "../vm/config.ts";
import { type ImageKind, loadCatalog } from "./catalog.ts";
import { imagesDir, ISO_EXT, scanStore } from "./store.ts";

/**
 * Catalog and cached image names (only those of `kind`, when given), sorted,
 * each once. Reads the catalogs and `$VMDIR/.images`.
 */
export function imageNames(cfg: Config, kind?: ImageKind): string[] {
  const names = new Set([
    ...loadCatalog(cfg).filter((e) => kind === undefined || e.kind === kind).map((e) => e.name),
    ...scanStore(imagesDir(cfg.vmdir))
      .filter((f) => kind === undefined || (f.ext === ISO_EXT) === (kind === "iso"))
      .map((f) => f.name),
  ]);
  return [...names].sort();
}

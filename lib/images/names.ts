/**
 * The image names a user may type (for shell completion of `vm image pull`,
 * `vm image rm` and `vm make --image`): those of the catalog in effect and
 * those of the cache. Reads the catalog files and `$VMDIR/.images`.
 * Level: vm (lib/images, no qemu).
 * @module
 */

import type { Config } from "../vm/config.ts";
import { loadCatalog } from "./catalog.ts";
import { imagesDir, scanStore } from "./store.ts";

/** Catalog and cached image names, sorted, each once. Reads the catalogs and `$VMDIR/.images`. */
export function imageNames(cfg: Config): string[] {
  const names = new Set([
    ...loadCatalog(cfg).map((e) => e.name),
    ...scanStore(imagesDir(cfg.vmdir)).map((f) => f.name),
  ]);
  return [...names].sort();
}

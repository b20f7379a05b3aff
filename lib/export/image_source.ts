/**
 * Where a VM's backing image can be fetched from, for `vm export nomad`'s
 * artifact: an image in `$VMDIR/.images` (lib/images) was downloaded from the
 * URL its `.meta` records (lib/images/meta.ts, kept when the `.part` became
 * the image); its checksum is the SHA-256 of the file itself,
 * which was verified when it was pulled. An image imported from a local file
 * has no URL: the exporter then needs `--image-url`. Reads the image.
 * Area lib/export, at the level of actions.
 * @module
 */

import { createHash } from "node:crypto";
import { readPartMeta } from "../images/download.ts";
import { imagesDir } from "../images/store.ts";
import type { ImageLookup, ImageSource } from "./nomad.ts";

/** The SHA-256 of the file at `path`, read in blocks (an image may be large). */
function sha256Of(path: string): string {
  const hash = createHash("sha256");
  const f = Deno.openSync(path);
  try {
    const buf = new Uint8Array(1 << 20);
    for (;;) {
      const n = f.readSync(buf);
      if (n === null || n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    f.close();
  }
  return hash.digest("hex");
}

/** The lookup over the image cache of VMDIR `vmdir`: images pulled from a URL are found. */
export function cacheLookup(vmdir: string): ImageLookup {
  const dir = imagesDir(vmdir);
  return (path: string): ImageSource | undefined => {
    if (!path.startsWith(dir + "/")) return undefined;
    const meta = readPartMeta(path);
    if (meta === undefined || !/^https?:\/\//.test(meta.url)) return undefined;
    return { url: meta.url, checksum: `sha256:${sha256Of(path)}` };
  };
}

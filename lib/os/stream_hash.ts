/**
 * A hash fed one block at a time while the next block arrives: OpenSSL's
 * on one of Deno's blocking threads (lib/os/libcrypto.ts), or, where this
 * system has no libcrypto, node:crypto's on the calling thread (loaded only
 * then). Touches no file.
 * @module
 */

import { toHex } from "../text/bytes.ts";
import { type DigestName, EvpDigest } from "./libcrypto.ts";

/** A running hash. */
export interface StreamHash {
  readonly name: DigestName;
  /**
   * Hashes `bytes`, which stay unchanged until the promise settles; the
   * next update waits for it. Throws SystemError when the library fails.
   */
  update(bytes: Uint8Array): Promise<void>;
  /** The digest of all updates, lowercase hex (once, after the last update settled). */
  hex(): string;
  /** Frees the hash (at any time; an update running is let finish). */
  close(): void;
}

/** A `name` hash: OpenSSL's off this thread, else node:crypto's. */
export async function openStreamHash(name: DigestName): Promise<StreamHash> {
  const evp = EvpDigest.open(name);
  if (evp === undefined) return await nodeStreamHash(name);
  return {
    name,
    update: (bytes) => evp.update(bytes),
    hex: () => toHex(evp.digest()),
    close: () => evp.close(),
  };
}

/** A `name` hash of node:crypto, computed on this thread (the fallback of openStreamHash). */
export async function nodeStreamHash(name: DigestName): Promise<StreamHash> {
  // Computed: Deno loads a module named by a literal in import() when vm starts (see main.ts).
  const specifier = "node:crypto";
  const { createHash } = await import(specifier) as typeof import("node:crypto");
  const hash = createHash(name);
  return {
    name,
    update(bytes) {
      hash.update(bytes);
      return Promise.resolve();
    },
    hex: () => hash.digest("hex"),
    close() {},
  };
}

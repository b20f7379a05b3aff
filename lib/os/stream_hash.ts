/**
 * A hash fed one block at a time while the next block arrives: node:crypto's
 * (OpenSSL inside Deno), loaded on first use only, on the calling thread
 * (~0.7 ms per MiB of SHA-256). A Worker of its own was measured with
 * bench/image_pull.ts and not kept: the pull's peak RSS went from 65 to 187
 * MB (a second isolate, and a copy of each block), and it was no faster.
 * Touches no file.
 * @module
 */

/** The digests vm checks images with. */
export type DigestName = "sha256" | "sha512";

/** A running hash. */
export interface StreamHash {
  readonly name: DigestName;
  /** Hashes `bytes`, which stay unchanged until the promise settles. */
  update(bytes: Uint8Array): Promise<void>;
  /** The digest of all updates, lowercase hex (once, after the last update settled). */
  hex(): string;
  /** Frees the hash (at any time). */
  close(): void;
}

/** A `name` hash of node:crypto, computed on this thread. */
export async function openStreamHash(name: DigestName): Promise<StreamHash> {
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

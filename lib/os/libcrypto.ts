/**
 * SHA-256 and SHA-512 of the system's OpenSSL (libcrypto) through FFI (needs
 * `--allow-ffi`), for hashing a download while it arrives: each update runs
 * on one of Deno's blocking threads (a nonblocking FFI call), so the calling
 * thread goes on receiving meanwhile, and OpenSSL hashes as fast as
 * `openssl speed` (SHA-NI, AVX2): SHA-512 at twice node:crypto's speed here.
 * It also keeps node:crypto (~25 ms to load) out of `vm image pull`'s start.
 * libcrypto is opened on first use; where it is missing, `EvpDigest.open`
 * returns undefined (lib/os/stream_hash.ts then hashes with node:crypto).
 * Touches no file.
 * @module
 */

import { SystemError } from "../errors.ts";

/** The names libcrypto goes by: OpenSSL 3's soname, then the development link. */
const LIBRARIES = ["libcrypto.so.3", "libcrypto.so"];

const SYMBOLS = {
  EVP_MD_CTX_new: { parameters: [], result: "pointer" },
  EVP_MD_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_sha256: { parameters: [], result: "pointer" },
  EVP_sha512: { parameters: [], result: "pointer" },
  EVP_DigestInit_ex: { parameters: ["pointer", "pointer", "pointer"], result: "i32" },
  EVP_DigestUpdate: {
    parameters: ["pointer", "buffer", "usize"],
    result: "i32",
    nonblocking: true,
  },
  EVP_DigestFinal_ex: { parameters: ["pointer", "buffer", "pointer"], result: "i32" },
} as const;

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** The opened library; null: it could not be opened (looked for once). */
let lib: Symbols | null | undefined;

/** libcrypto's symbols, or null when this system has no libcrypto. */
function libcrypto(): Symbols | null {
  if (lib !== undefined) return lib;
  lib = null;
  for (const name of LIBRARIES) {
    try {
      lib = Deno.dlopen(name, SYMBOLS).symbols;
      break;
    } catch (e) {
      // Deno says so in a plain Error; anything else (no FFI permission…) is thrown.
      if (!(e instanceof Error && e.message.startsWith("Could not open library"))) throw e;
    }
  }
  return lib;
}

/** The digests offered, and their sizes in bytes. */
export const DIGEST_BYTES = { sha256: 32, sha512: 64 } as const;

/** A digest name of DIGEST_BYTES. */
export type DigestName = keyof typeof DIGEST_BYTES;

/**
 * One running digest (an EVP_MD_CTX). Updates go one at a time: each must
 * be finished (awaited) before the next, and its bytes stay unchanged until
 * then.
 */
export class EvpDigest {
  #ctx: Deno.PointerValue;
  /** The update running on a blocking thread, if any. */
  #running: Promise<unknown> | undefined;
  #closed = false;

  private constructor(ctx: Deno.PointerObject, readonly lib: Symbols, readonly name: DigestName) {
    this.#ctx = ctx;
  }

  /** A new `name` digest, or undefined when libcrypto is missing. Throws SystemError when OpenSSL fails. */
  static open(name: DigestName): EvpDigest | undefined {
    const c = libcrypto();
    if (c === null) return undefined;
    const ctx = c.EVP_MD_CTX_new();
    if (ctx === null) throw new SystemError("OpenSSL could not allocate a digest (out of memory?)");
    const md = name === "sha512" ? c.EVP_sha512() : c.EVP_sha256();
    if (md === null || c.EVP_DigestInit_ex(ctx, md, null) !== 1) {
      c.EVP_MD_CTX_free(ctx);
      throw new SystemError(
        `OpenSSL cannot compute ${name.toUpperCase()} (EVP_DigestInit_ex failed)`,
      );
    }
    return new EvpDigest(ctx, c, name);
  }

  /** Hashes `bytes` on a blocking thread; resolves when done. Throws SystemError when OpenSSL fails. */
  async update(bytes: Uint8Array): Promise<void> {
    if (this.#closed || this.#running !== undefined) {
      throw new Error("EvpDigest.update: closed, or an update is still running");
    }
    const running = this.lib.EVP_DigestUpdate(this.#ctx, bytes, BigInt(bytes.length));
    this.#running = running;
    try {
      if (await running !== 1) {
        throw new SystemError(
          `OpenSSL failed to compute ${this.name.toUpperCase()} (EVP_DigestUpdate)`,
        );
      }
    } finally {
      this.#running = undefined;
    }
  }

  /** The digest of everything updated (once; no update may be running). Throws SystemError when OpenSSL fails. */
  digest(): Uint8Array {
    if (this.#closed || this.#running !== undefined) {
      throw new Error("EvpDigest.digest: closed, or an update is still running");
    }
    const out = new Uint8Array(DIGEST_BYTES[this.name]);
    const ok = this.lib.EVP_DigestFinal_ex(this.#ctx, out, null);
    this.close();
    if (ok !== 1) {
      throw new SystemError(
        `OpenSSL failed to compute ${this.name.toUpperCase()} (EVP_DigestFinal_ex)`,
      );
    }
    return out;
  }

  /** Frees the digest; an update still running is let finish first (it uses the context). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const free = () => this.lib.EVP_MD_CTX_free(this.#ctx);
    if (this.#running === undefined) free();
    else this.#running.then(free, free);
  }
}

/**
 * SHA-512 crypt (`$6$salt$hash`, Ulrich Drepper's "Unix crypt using
 * SHA-256 and SHA-512"): the password hash glibc's crypt(3), `mkpasswd -m
 * sha-512`, `openssl passwd -6` and cloud-init's `passwd:` use. Pure but for
 * {@link randomSalt}.
 * @module
 */

import { createHash } from "node:crypto";
import { UsageError } from "../errors.ts";

/** The alphabet of salts and of the hash encoding. */
const B64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const DEFAULT_ROUNDS = 5000;
const MAX_SALT = 16;

function sha512(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha512");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** `bytes` repeated (and cut) to `length` bytes. */
function stretch(bytes: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = bytes[i % bytes.length] ?? 0;
  return out;
}

/** Steps 1–12 of the specification: the first digest A. */
function initialDigest(p: Uint8Array, s: Uint8Array): Uint8Array {
  const b = sha512(p, s, p);
  const parts = [p, s, stretch(b, p.length)];
  for (let n = p.length; n > 0; n >>= 1) parts.push(n & 1 ? b : p);
  return sha512(...parts);
}

/** The 64-byte digest, in the specification's byte order, in its base64. */
function encode(d: Uint8Array): string {
  let out = "";
  const put = (b2: number, b1: number, b0: number, n: number) => {
    let w = ((d[b2] ?? 0) << 16) | ((d[b1] ?? 0) << 8) | (d[b0] ?? 0);
    for (let i = 0; i < n; i++, w >>= 6) out += B64[w & 0x3f];
  };
  for (let k = 0; k < 21; k++) {
    const [x, y, z] = [k, k + 21, k + 42];
    if (k % 3 === 0) put(x, y, z, 4);
    else if (k % 3 === 1) put(y, z, x, 4);
    else put(z, x, y, 4);
  }
  let w = d[63] ?? 0;
  for (let i = 0; i < 2; i++, w >>= 6) out += B64[w & 0x3f];
  return out;
}

/**
 * The `$6$` hash of `password` with `salt` (at most 16 characters are used,
 * none of `$:\n`) and `rounds` (default 5000, written as `rounds=N$` when
 * other). Pure. Throws UsageError for a bad salt.
 */
export function sha512Crypt(password: string, salt: string, rounds = DEFAULT_ROUNDS): string {
  if (/[$:\n]/.test(salt) || salt === "") {
    throw new UsageError(`Salt "${salt}" must be 1-16 characters without "$", ":" or newline`);
  }
  const enc = new TextEncoder();
  const p = enc.encode(password);
  const s = enc.encode(salt.slice(0, MAX_SALT));
  const r = Math.min(999_999_999, Math.max(1000, Math.floor(rounds)));
  const a = initialDigest(p, s);
  const pBytes = stretch(sha512(...Array<Uint8Array>(p.length).fill(p)), p.length);
  const sBytes = stretch(sha512(...Array<Uint8Array>(16 + (a[0] ?? 0)).fill(s)), s.length);
  let c = a;
  for (let i = 0; i < r; i++) {
    const parts = [i & 1 ? pBytes : c];
    if (i % 3 !== 0) parts.push(sBytes);
    if (i % 7 !== 0) parts.push(pBytes);
    parts.push(i & 1 ? c : pBytes);
    c = sha512(...parts);
  }
  const roundsPart = rounds === DEFAULT_ROUNDS ? "" : `rounds=${r}$`;
  return `$6$${roundsPart}${salt.slice(0, MAX_SALT)}$${encode(c)}`;
}

/** A random 16-character salt. */
export function randomSalt(): string {
  return [...crypto.getRandomValues(new Uint8Array(MAX_SALT))].map((b) => B64[b & 0x3f]).join("");
}

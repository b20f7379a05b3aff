/**
 * Ed25519 SSH keys without ssh-keygen: a key pair from WebCrypto, written in
 * OpenSSH's formats — the public line (`ssh-ed25519 AAAA… comment`) and the
 * unencrypted `openssh-key-v1` private key PEM. Serialising is pure; only
 * {@link generateEd25519} draws randomness.
 * Level: bottom (lib/ssh, no I/O).
 * @module
 */

import { UsageError } from "../errors.ts";
import { concatBytes } from "../text/bytes.ts";

/** An Ed25519 key pair: the 32-byte seed (the private key) and the 32-byte public key. */
export interface Ed25519Pair {
  seed: Uint8Array;
  publicKey: Uint8Array;
}

/** OpenSSH's name of the key type. */
export const ED25519 = "ssh-ed25519";

const enc = new TextEncoder();

/** Generates a new Ed25519 key pair with WebCrypto. */
export async function generateEd25519(): Promise<Ed25519Pair> {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const pub = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  // PKCS#8 of Ed25519: a 16-byte header, then the 32-byte seed.
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  return { seed: pkcs8.slice(pkcs8.length - 32), publicKey: pub };
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

/** An SSH wire `string`: a 32-bit length, then the bytes. */
function sshString(data: Uint8Array | string): Uint8Array {
  const bytes = typeof data === "string" ? enc.encode(data) : data;
  return concatBytes([u32(bytes.length), bytes]);
}

/** The public key blob: string "ssh-ed25519", string key. Pure. */
export function publicBlob(publicKey: Uint8Array): Uint8Array {
  return concatBytes([sshString(ED25519), sshString(publicKey)]);
}

function base64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/** The public key line, as in `id_ed25519.pub` and `authorized_keys`. Pure. */
export function publicKeyLine(publicKey: Uint8Array, comment: string): string {
  const line = `${ED25519} ${base64(publicBlob(publicKey))}`;
  return comment === "" ? line : `${line} ${comment}`;
}

/**
 * The private key in OpenSSH's `openssh-key-v1` format, unencrypted, as
 * PEM text (as `ssh-keygen -t ed25519 -N ''` writes it). `checkInt` is the
 * random check word (fixed in tests). Pure.
 */
export function privateKeyPem(pair: Ed25519Pair, comment: string, checkInt: number): string {
  const parts = [
    u32(checkInt),
    u32(checkInt),
    sshString(ED25519),
    sshString(pair.publicKey),
    sshString(concatBytes([pair.seed, pair.publicKey])),
    sshString(comment),
  ];
  let priv = concatBytes(parts);
  const pad = (8 - (priv.length % 8)) % 8;
  priv = concatBytes([priv, new Uint8Array(pad).map((_, i) => i + 1)]);
  const body = concatBytes([
    enc.encode("openssh-key-v1\0"),
    sshString("none"),
    sshString("none"),
    sshString(""),
    u32(1),
    sshString(publicBlob(pair.publicKey)),
    sshString(priv),
  ]);
  const lines = base64(body).match(/.{1,70}/g) ?? [];
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join("\n")}\n` +
    `-----END OPENSSH PRIVATE KEY-----\n`;
}

/** A new key pair as file texts: the private PEM and the public line. */
export async function newKeyFiles(comment: string): Promise<{ private: string; public: string }> {
  const pair = await generateEd25519();
  const check = new DataView(crypto.getRandomValues(new Uint8Array(4)).buffer).getUint32(0);
  return {
    private: privateKeyPem(pair, comment, check),
    public: publicKeyLine(pair.publicKey, comment),
  };
}

/** A parsed public key line. */
export interface PublicKey {
  /** `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`… */
  type: string;
  /** The base64 blob as written. */
  base64: string;
  comment: string;
}

const KEY_TYPE = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+)$/;

/**
 * Parses one public key line (`type base64 [comment]`, as in `*.pub`); the
 * blob must be base64 and name the same type. Pure. Throws UsageError
 * naming `source` (the file) otherwise.
 */
export function parsePublicKey(line: string, source: string): PublicKey {
  const [type = "", b64 = "", ...rest] = line.trim().split(/\s+/);
  let blobType = "";
  try {
    const raw = atob(b64);
    const n = (raw.charCodeAt(0) << 24) | (raw.charCodeAt(1) << 16) | (raw.charCodeAt(2) << 8) |
      raw.charCodeAt(3);
    blobType = raw.slice(4, 4 + n);
  } catch (e) {
    if (!(e instanceof DOMException)) throw e; // atob: not base64, handled below
  }
  if (!KEY_TYPE.test(type) || blobType !== type) {
    throw new UsageError(
      `"${source}" is not an SSH public key line ("ssh-ed25519 AAAA… comment"); give a *.pub file`,
    );
  }
  return { type, base64: b64, comment: rest.join(" ") };
}

/** The `type base64` of a public key line, without the comment (for known_hosts). Pure. */
export function keyWithoutComment(k: PublicKey): string {
  return `${k.type} ${k.base64}`;
}

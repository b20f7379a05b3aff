/**
 * Tests of lib/ssh/keys.ts: keys it writes are accepted by OpenSSH's own
 * ssh-keygen (the public half derived from the private file matches, the
 * fingerprint of both is the same), and a fixed pair serialises exactly.
 */

import assert from "node:assert/strict";
import {
  generateEd25519,
  keyWithoutComment,
  newKeyFiles,
  parsePublicKey,
  privateKeyPem,
  publicKeyLine,
} from "../../lib/ssh/keys.ts";
import { run } from "../support/harness.ts";

function tempDir(): string {
  return Deno.makeTempDirSync({ prefix: "ssh-keys-test-" });
}

Deno.test("ssh-keygen -y derives our public line from our private key", async () => {
  const dir = tempDir();
  try {
    for (let i = 0; i < 3; i++) {
      const k = await newKeyFiles(`vm@test-${i}`);
      Deno.writeTextFileSync(`${dir}/key`, k.private, { mode: 0o600 });
      const y = await run("ssh-keygen", ["-y", "-f", `${dir}/key`]);
      assert.equal(y.code, 0, y.stderr);
      // ssh-keygen -y prints the comment stored in the private key too.
      assert.equal(y.stdout.trim(), k.public);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("ssh-keygen -l gives the same ED25519 fingerprint for the private and the public file", async () => {
  const dir = tempDir();
  try {
    const k = await newKeyFiles("host key");
    Deno.writeTextFileSync(`${dir}/key`, k.private, { mode: 0o600 });
    Deno.writeTextFileSync(`${dir}/key.pub`, k.public + "\n");
    const a = await run("ssh-keygen", ["-l", "-f", `${dir}/key`]);
    const b = await run("ssh-keygen", ["-l", "-f", `${dir}/key.pub`]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.match(a.stdout, /^256 SHA256:[A-Za-z0-9+/]{43} host key \(ED25519\)$/m);
    assert.equal(a.stdout, b.stdout);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a key made by ssh-keygen reads back through parsePublicKey; ours too", async () => {
  const dir = tempDir();
  try {
    const g = await run("ssh-keygen", [
      "-q",
      "-t",
      "ed25519",
      "-N",
      "",
      "-C",
      "a b",
      "-f",
      `${dir}/k`,
    ]);
    assert.equal(g.code, 0, g.stderr);
    const line = Deno.readTextFileSync(`${dir}/k.pub`);
    const k = parsePublicKey(line, `${dir}/k.pub`);
    assert.equal(k.type, "ssh-ed25519");
    assert.equal(k.comment, "a b");
    assert.equal(keyWithoutComment(k), line.split(" ").slice(0, 2).join(" "));
    const ours = await newKeyFiles("x");
    assert.equal(parsePublicKey(ours.public, "ours").type, "ssh-ed25519");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("parsePublicKey refuses what is no public key line", () => {
  for (const bad of ["", "hello", "ssh-ed25519 !!!", "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIA== x"]) {
    assert.throws(() => parsePublicKey(bad, "f.pub"), /"f.pub" is not an SSH public key line/);
  }
  assert.throws(
    () => parsePublicKey("-----BEGIN OPENSSH PRIVATE KEY-----", "id"),
    /give a \*\.pub file/,
  );
});

Deno.test("a fixed pair serialises to the exact OpenSSH texts", () => {
  const pair = {
    seed: new Uint8Array(32).map((_, i) => i),
    publicKey: new Uint8Array(32).map((_, i) => 255 - i),
  };
  assert.equal(
    publicKeyLine(pair.publicKey, "c"),
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP/+/fz7+vn49/b19PPy8fDv7u3s6+rp6Ofm5eTj4uHg c",
  );
  const pem = privateKeyPem(pair, "c", 0x01020304);
  assert.match(pem, /^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
  assert.match(pem, /\n-----END OPENSSH PRIVATE KEY-----\n$/);
  const body = Uint8Array.from(atob(pem.split("\n").slice(1, -2).join("")), (c) => c.charCodeAt(0));
  const text = new TextDecoder().decode(body);
  assert.ok(text.startsWith("openssh-key-v1\0"));
  for (const line of pem.split("\n").slice(1, -2)) assert.ok(line.length <= 70);
  // The private section (the last string) holds the check word twice, is
  // padded to a multiple of 8 with 1, 2, 3…, and holds seed and public key.
  const v = new DataView(body.buffer);
  // "openssh-key-v1\0", "none", "none", "", 1, then the public blob.
  const pubLen = v.getUint32(15 + 8 + 8 + 4 + 4);
  const privAt = 15 + 8 + 8 + 4 + 4 + 4 + pubLen;
  const privLen = v.getUint32(privAt);
  assert.equal(privAt + 4 + privLen, body.length);
  assert.equal(privLen % 8, 0);
  assert.equal(v.getUint32(privAt + 4), 0x01020304);
  assert.equal(v.getUint32(privAt + 8), 0x01020304);
  const seedAndPub = body.subarray(privAt + 4 + 8 + 15 + 36 + 4, privAt + 4 + 8 + 15 + 36 + 4 + 64);
  assert.deepEqual(seedAndPub, new Uint8Array([...pair.seed, ...pair.publicKey]));
  const padding = body.subarray(privAt + 4 + 8 + 15 + 36 + 68 + 5);
  assert.deepEqual([...padding], padding.length === 0 ? [] : [...padding].map((_, i) => i + 1));
});

Deno.test("generated pairs differ", async () => {
  const a = await generateEd25519();
  const b = await generateEd25519();
  assert.equal(a.seed.length, 32);
  assert.equal(a.publicKey.length, 32);
  assert.notDeepEqual(a.seed, b.seed);
});

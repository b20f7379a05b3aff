/**
 * Tests of lib/text/sha_crypt.ts against the specification's test vectors
 * and against `openssl passwd -6` and `mkpasswd -m sha-512`.
 */

import assert from "node:assert/strict";
import { randomSalt, sha512Crypt } from "../../lib/text/sha_crypt.ts";

/**
 * Runs `cmd args` with `input` on stdin; returns its trimmed stdout, failing on a non-zero exit.
 */
async function hashBy(cmd: string, args: string[], input: string): Promise<string> {
  const child = new Deno.Command(cmd, { args, stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(input + "\n"));
  await w.close();
  const out = await child.output();
  assert.ok(out.success, `${cmd}: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout).trim();
}

/** The specification's vectors: password, salt, rounds (undefined: the default), the hash. */
const VECTORS: [string, string, number | undefined, string][] = [
  [
    "Hello world!",
    "saltstring",
    undefined,
    "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
  ],
  [
    "Hello world!",
    "saltstringsaltstring",
    10000,
    "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
  ],
  [
    "we have a short salt string but not a short password",
    "short",
    77777,
    "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0",
  ],
];

Deno.test("the specification's SHA-512 test vectors", () => {
  for (const [password, salt, rounds, hash] of VECTORS) {
    assert.equal(sha512Crypt(password, salt, rounds), hash);
  }
});

Deno.test("agrees with openssl passwd -6 and mkpasswd for several passwords and salts", async () => {
  const cases: [string, string][] = [
    ["password", "saltsalt"],
    ["a much longer password with spaces and ünïcödé ✓", randomSalt()],
    ["x".repeat(200), "0123456789abcdef"],
  ];
  for (const [pw, salt] of cases) {
    assert.equal(
      sha512Crypt(pw, salt),
      await hashBy("openssl", ["passwd", "-6", "-salt", salt, "-stdin"], pw),
    );
    assert.equal(
      sha512Crypt(pw, salt),
      await hashBy("mkpasswd", ["-m", "sha-512", "-S", salt, "--stdin"], pw),
    );
  }
});

Deno.test("the empty password (as Python's crypt.crypt gives it)", () => {
  assert.equal(
    sha512Crypt("", "abc"),
    "$6$abc$mJP3a6FyA8uCnzRtlnNypPwjnvpi5TP9qOrInzrfDmwxUQG38PkpCPdqfTb8JQfAngapMxeim4AZ..hSdRRzD.",
  );
});

Deno.test("random salts are 16 characters of the crypt alphabet and differ", () => {
  const a = randomSalt();
  assert.match(a, /^[./0-9A-Za-z]{16}$/);
  assert.notEqual(a, randomSalt());
});

Deno.test("salts with $ : or newline are refused", () => {
  for (const s of ["a$b", "a:b", "a\nb", ""]) assert.throws(() => sha512Crypt("pw", s), /Salt/);
});

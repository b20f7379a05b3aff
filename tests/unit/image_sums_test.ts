import assert from "node:assert/strict";
import {
  algoOfHex,
  checksumArg,
  findSum,
  globMatch,
  newestMatch,
  parseSums,
} from "../../lib/images/sums.ts";
import { UsageError } from "../../lib/errors.ts";

const H256 = "ab".repeat(32);
const H512 = "cd".repeat(64);

Deno.test("parseSums reads GNU lines: two spaces, binary '*', ./ prefix", () => {
  const text =
    `${H512}  debian-12-genericcloud-amd64.qcow2\n${H256} *ubuntu-24.04-server-cloudimg-amd64.img\n` +
    `${H256}  ./sub/file.iso\n`;
  assert.deepEqual(parseSums(text), [
    { algo: "sha512", hex: H512, file: "debian-12-genericcloud-amd64.qcow2" },
    { algo: "sha256", hex: H256, file: "ubuntu-24.04-server-cloudimg-amd64.img" },
    { algo: "sha256", hex: H256, file: "sub/file.iso" },
  ]);
});

Deno.test("parseSums reads BSD lines (Fedora, Alma, Rocky) inside PGP armor, upper-case hex", () => {
  const text = [
    "-----BEGIN PGP SIGNED MESSAGE-----",
    "Hash: SHA256",
    "",
    "# Fedora-Cloud-Base-Generic-44-1.7.x86_64.qcow2: 585039872 bytes",
    `SHA256 (Fedora-Cloud-Base-Generic-44-1.7.x86_64.qcow2) = ${H256.toUpperCase()}`,
    `SHA512 (other.qcow2) = ${H512}`,
    "-----BEGIN PGP SIGNATURE-----",
    "iQIzBAEBCAAdFiEE",
    "-----END PGP SIGNATURE-----",
  ].join("\r\n");
  assert.deepEqual(parseSums(text), [
    { algo: "sha256", hex: H256, file: "Fedora-Cloud-Base-Generic-44-1.7.x86_64.qcow2" },
    { algo: "sha512", hex: H512, file: "other.qcow2" },
  ]);
});

Deno.test("parseSums: a bare hash (Alpine's .sha512), and lines of wrong length skipped", () => {
  assert.deepEqual(parseSums(`${H512}\n`), [{ algo: "sha512", hex: H512, file: "" }]);
  assert.deepEqual(parseSums(`${"a".repeat(40)}  sha1.txt\nSHA256 (x) = abc\nnot a line\n`), []);
});

Deno.test("findSum matches the file name or last path part, prefers SHA-512, takes a lone bare hash", () => {
  const entries = parseSums(`${H256}  a.qcow2\n${H512}  a.qcow2\n${H256}  dir/b.img\n`);
  assert.equal(findSum(entries, "a.qcow2")?.algo, "sha512");
  assert.equal(findSum(entries, "b.img")?.hex, H256);
  assert.equal(findSum(entries, "c.img"), undefined);
  assert.equal(findSum(parseSums(H256), "anything.qcow2")?.hex, H256);
});

Deno.test("globMatch: * and ?, everything else literal", () => {
  assert.ok(globMatch("debian-*-amd64-netinst.iso", "debian-13.1.0-amd64-netinst.iso"));
  assert.ok(!globMatch("debian-*-amd64-netinst.iso", "debian-13.1.0-arm64-netinst.iso"));
  assert.ok(globMatch("a?c.(x)", "abc.(x)"));
  assert.ok(!globMatch("a.c", "abc"));
});

Deno.test("newestMatch picks the highest version, numbers compared as numbers", () => {
  const entries = parseSums(
    [
      `${H256}  AlmaLinux-9-GenericCloud-latest.x86_64.qcow2`,
      `${H256}  AlmaLinux-9-GenericCloud-9.9-20250101.x86_64.qcow2`,
      `${H256}  AlmaLinux-9-GenericCloud-9.10-20250601.x86_64.qcow2`,
      `${H256}  AlmaLinux-9-GenericCloud-9.10-20250601.aarch64.qcow2`,
    ].join("\n"),
  );
  assert.equal(
    newestMatch(entries, "AlmaLinux-9-GenericCloud-9.*.x86_64.qcow2"),
    "AlmaLinux-9-GenericCloud-9.10-20250601.x86_64.qcow2",
  );
  assert.equal(newestMatch(entries, "Rocky-*"), undefined);
});

Deno.test("checksumArg checks length and hex, accepts an algo: prefix, lower-cases", () => {
  assert.deepEqual(checksumArg("sha256", `sha256:${H256.toUpperCase()}`), {
    algo: "sha256",
    hex: H256,
  });
  assert.deepEqual(checksumArg("sha512", H512), { algo: "sha512", hex: H512 });
  assert.throws(() => checksumArg("sha512", H256), UsageError);
  assert.throws(() => checksumArg("sha256", "xyz"), /not a SHA256 checksum.*64 hex digits/);
  assert.equal(algoOfHex(H256), "sha256");
  assert.equal(algoOfHex("12"), undefined);
});

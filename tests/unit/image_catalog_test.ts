import assert from "node:assert/strict";
import {
  type CatalogEntry,
  findEntry,
  mergeCatalogs,
  parseCatalog,
  SHIPPED_CATALOG,
} from "../../lib/images/catalog.ts";
import { ParseError, UsageError } from "../../lib/errors.ts";

const H256 = "ab".repeat(32);

Deno.test("parseCatalog reads blocks, comments and defaults", () => {
  const text = `# a comment
[deb]
arch = x86_64
kind = disk
url = https://example.org/latest/deb.qcow2
sums = https://example.org/latest/SHA512SUMS

[mine]
url = file:///srv/images/mine.img
sha256 = ${H256.toUpperCase()}
`;
  const [deb, mine] = parseCatalog(text, "f.conf");
  assert.deepEqual(deb, {
    name: "deb",
    arch: "x86_64",
    kind: "disk",
    url: "https://example.org/latest/deb.qcow2",
    sums: "https://example.org/latest/SHA512SUMS",
    origin: "f.conf:2",
  });
  assert.equal(mine?.arch, "");
  assert.equal(mine?.kind, "disk");
  assert.deepEqual(mine?.checksum, { algo: "sha256", hex: H256 });
});

Deno.test("parseCatalog refuses what it does not understand, naming file and line", () => {
  const bad: [string, RegExp][] = [
    ["[a]\nurl = https://x/a.img\ncolor = red\n", /^f:3: .*key of arch, kind/],
    ["url = https://x/a.img\n", /^f:1: "url" before any \[name\] header/],
    ["[a]\nkind = disk\n", /^f:1: \[a\]: no "url"/],
    ["[a]\nurl = ftp://x/a.img\n", /^f:1: \[a\]: url "ftp:\/\/x\/a.img" is not an https/],
    ["[a]\nurl = https://x/a.img\nkind = floppy\n", /kind "floppy" is neither/],
    ["[a]\nurl = https://x/\nsums = https://x/S\n", /url ends in "\/" but no "file"/],
    ["[a]\nurl = https://x/a.img\nfile = a-*.img\n", /"file" needs "sums"/],
    ["[a]\nurl = https://x/a.img\nsha512 = abcd\n", /sha512 "abcd" is not a SHA512 checksum/],
    ["[-a]\nurl = https://x/a.img\n", /invalid image name/i],
    ["[a]\nurl = https://x/a\n[a]\nurl = https://x/b\n", /^f:3: \[a\] is given twice for arch ""/],
  ];
  for (const [text, re] of bad) {
    assert.throws(() => parseCatalog(text, "f"), (e: unknown) => {
      assert.ok(e instanceof ParseError, String(e));
      assert.match((e as Error).message, re);
      return true;
    });
  }
});

function entry(name: string, arch: string, url = `https://x/${name}-${arch}.qcow2`): CatalogEntry {
  return { name, arch, kind: "disk", url, origin: "t" };
}

Deno.test("mergeCatalogs: a user name replaces every shipped entry of that name", () => {
  const shipped = [entry("deb", "x86_64"), entry("deb", "aarch64"), entry("ubu", "x86_64")];
  const user = [entry("deb", "", "file:///my/deb.qcow2"), entry("own", "x86_64")];
  const merged = mergeCatalogs(shipped, user);
  assert.deepEqual(merged.map((e) => `${e.name}/${e.arch}`), ["ubu/x86_64", "deb/", "own/x86_64"]);
});

Deno.test("findEntry: by arch, an any-arch entry fits all, another arch only is a usage error", () => {
  const cat = [
    entry("deb", "x86_64"),
    entry("deb", "aarch64"),
    entry("any", ""),
    entry("arm", "aarch64"),
  ];
  assert.equal(findEntry(cat, "deb", "aarch64")?.arch, "aarch64");
  assert.equal(findEntry(cat, "any", "x86_64")?.name, "any");
  assert.equal(findEntry(cat, "nope", "x86_64"), undefined);
  assert.throws(() => findEntry(cat, "arm", "x86_64"), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.match((e as Error).message, /only "aarch64"\); choose one with --arch/);
    return true;
  });
});

Deno.test("the shipped catalog: every entry parses, has a checksum source, uses https", () => {
  const entries = parseCatalog(Deno.readTextFileSync(SHIPPED_CATALOG), SHIPPED_CATALOG);
  for (const e of entries) {
    const where = `${e.name}/${e.arch} (${e.origin})`;
    assert.ok(e.sums !== undefined || e.checksum !== undefined, `${where}: no checksum source`);
    assert.match(e.url, /^https:\/\//, `${where}: url`);
    if (e.sums !== undefined) assert.match(e.sums, /^https:\/\//, `${where}: sums`);
    assert.ok(["x86_64", "aarch64"].includes(e.arch), `${where}: arch`);
  }
  const x86 = (name: string) => entries.find((e) => e.name === name && e.arch === "x86_64");
  for (const name of ["debian-12", "debian-13"]) assert.match(x86(name)?.sums ?? "", /SHA512SUMS$/);
  for (const name of ["ubuntu-22.04", "ubuntu-24.04"]) {
    assert.match(x86(name)?.sums ?? "", /SHA256SUMS$/);
  }
  for (const name of ["fedora-44", "almalinux-9", "rocky-9", "arch", "alpine-3.23"]) {
    assert.equal(x86(name)?.kind, "disk", name);
  }
  assert.equal(x86("debian-netinst")?.kind, "iso");
  assert.match(x86("debian-netinst")?.file ?? "", /netinst\.iso$/);
});

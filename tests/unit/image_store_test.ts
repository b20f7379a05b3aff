import assert from "node:assert/strict";
import { extFor, nameFromFile, parseStoredName } from "../../lib/images/store.ts";
import { dirUrl, isUrlArg, planUrl } from "../../lib/images/pull.ts";
import { classifyImageArg } from "../../lib/actions/make_image.ts";
import { formatImageTable, imageJson, pullSummary } from "../../cli/commands/image.ts";
import { UsageError } from "../../lib/errors.ts";

Deno.test("extFor keeps qcow2/img/raw/iso, defaults by kind, refuses compressed files", () => {
  assert.equal(extFor("debian-12-genericcloud-amd64.qcow2", "disk"), "qcow2");
  assert.equal(extFor("ubuntu-24.04-server-cloudimg-amd64.img", "disk"), "img");
  assert.equal(extFor("Disk.RAW", "disk"), "raw");
  assert.equal(extFor("download", "disk"), "img");
  assert.equal(extFor("debian-13.1.0-amd64-netinst.iso", "iso"), "iso");
  assert.throws(() => extFor("Fedora-Cloud-Base-44.raw.xz", "disk"), /compressed \(\.xz\)/);
});

Deno.test("nameFromFile makes a valid image name or refuses", () => {
  assert.equal(nameFromFile("Arch-Linux-x86_64-cloudimg.qcow2"), "Arch-Linux-x86_64-cloudimg");
  assert.equal(nameFromFile("my disk (1).img"), "my-disk--1-");
  assert.equal(nameFromFile("_x.qcow2"), "x");
  assert.throws(() => nameFromFile("...."), UsageError);
});

Deno.test("parseStoredName reads <name>.<ext>[.part], ignores other files", () => {
  assert.deepEqual(parseStoredName("/c", "ubuntu-24.04.img.part"), {
    name: "ubuntu-24.04",
    ext: "img",
    path: "/c/ubuntu-24.04.img.part",
    partial: true,
  });
  assert.equal(parseStoredName("/c", "deb.qcow2")?.partial, false);
  assert.equal(parseStoredName("/c", "deb.qcow2.new"), undefined);
  assert.equal(parseStoredName("/c", ".hidden.qcow2"), undefined);
  assert.equal(parseStoredName("/c", "notes.txt"), undefined);
});

Deno.test("planUrl: name and kind from the file name; no checksum refused unless --insecure", () => {
  const sha = { algo: "sha256" as const, hex: "a".repeat(64) };
  const p = planUrl(
    { what: "https://x.org/img/Foo-1.2.qcow2", arch: "x86_64", checksum: sha },
    "/c",
  );
  assert.deepEqual(p, {
    name: "Foo-1.2",
    kind: "disk",
    url: "https://x.org/img/Foo-1.2.qcow2",
    path: "/c/Foo-1.2.qcow2",
    expected: sha,
  });
  assert.equal(planUrl({ what: "file:///s/inst.iso", arch: "", insecure: true }, "/c").kind, "iso");
  assert.throws(() => planUrl({ what: "https://x.org/a.img", arch: "" }, "/c"), /--insecure/);
  assert.throws(
    () => planUrl({ what: "ftp://x.org/a.img", arch: "", insecure: true }, "/c"),
    UsageError,
  );
  assert.ok(isUrlArg("file:///a") && !isUrlArg("debian-12") && !isUrlArg("./a:b"));
  assert.equal(dirUrl("https://x/a/b/c.iso"), "https://x/a/b/");
});

Deno.test("classifyImageArg: URL, path, known name, existing file, else name", () => {
  const known = (n: string) => n === "debian-12";
  const file = (p: string) => p === "disk.qcow2" || p === "debian-12";
  assert.equal(classifyImageArg("https://x/a.img", known, file), "url");
  assert.equal(classifyImageArg("./debian-12", known, file), "file");
  assert.equal(classifyImageArg("debian-12", known, file), "name");
  assert.equal(classifyImageArg("disk.qcow2", known, file), "file");
  assert.equal(classifyImageArg("ubuntu", known, file), "name");
});

Deno.test("vm image list table and JSON", () => {
  const rows = [
    {
      name: "debian-12",
      arch: "x86_64",
      kind: "disk" as const,
      cached: "no" as const,
      usedBy: [],
      inCatalog: true,
    },
    {
      name: "ubuntu-24.04",
      arch: "x86_64",
      kind: "disk" as const,
      size: 300 * 2 ** 20,
      cached: "partial" as const,
      percent: 42,
      usedBy: [],
      path: "/c/ubuntu-24.04.img.part",
      inCatalog: true,
    },
    {
      name: "mine",
      arch: "",
      kind: "disk" as const,
      size: 2 ** 30,
      cached: "yes" as const,
      usedBy: ["a", "b"],
      path: "/c/mine.qcow2",
      inCatalog: false,
    },
  ];
  assert.equal(
    formatImageTable(rows),
    [
      "NAME          ARCH    KIND  SIZE       CACHED       USED BY",
      "debian-12     x86_64  disk  -          no           -",
      "ubuntu-24.04  x86_64  disk  300.0 MiB  partial 42%  -",
      "mine          -       disk  1.0 GiB    yes          a,b",
    ].join("\n"),
  );
  const json = imageJson(rows) as Record<string, unknown>[];
  assert.deepEqual(json[1], {
    name: "ubuntu-24.04",
    arch: "x86_64",
    kind: "disk",
    size_bytes: 300 * 2 ** 20,
    cached: "partial",
    percent: 42,
    used_by: [],
    path: "/c/ubuntu-24.04.img.part",
    in_catalog: true,
  });
  assert.equal(json[2]?.percent, 100);
});

Deno.test("pullSummary: verified, resumed, unverified, cached", () => {
  const t = {
    path: "/c/d.qcow2",
    bytes: 2 ** 30,
    fetched: 2 ** 29,
    resumedAt: 2 ** 29,
    checksum: { algo: "sha512" as const, hex: "ab" },
    verified: true,
    byOther: false,
  };
  const o = {
    name: "d",
    kind: "disk" as const,
    path: t.path,
    cached: false,
    transfer: t,
    url: "https://x/d",
  };
  assert.equal(
    pullSummary(o, 4000),
    "d: 512.0 MiB in 4.0 s (128.0 MiB/s); resumed at 512.0 MiB; SHA512 verified; /c/d.qcow2",
  );
  const insecure = {
    ...o,
    transfer: {
      ...t,
      resumedAt: 0,
      verified: false,
      checksum: { algo: "sha256" as const, hex: "cafe" },
    },
  };
  assert.match(
    pullSummary(insecure, 4000),
    /; not verified \(--insecure\); its SHA256 is cafe; \/c\/d.qcow2$/,
  );
  assert.equal(
    pullSummary({ name: "d", kind: "disk", path: "/c/d.qcow2", cached: true }, 1),
    "d: already in the cache: /c/d.qcow2",
  );
});

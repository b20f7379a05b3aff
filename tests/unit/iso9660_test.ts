/**
 * Tests of lib/cloud_init/iso9660.ts: images it writes are read back by
 * independent readers — isoinfo (genisoimage) with Rock Ridge and Joliet,
 * xorriso, blkid and file — with their exact bytes and the volume id.
 */

import assert from "node:assert/strict";
import { buildIso, isoNames, SECTOR } from "../../lib/cloud_init/iso9660.ts";
import { run } from "../support/harness.ts";

const enc = new TextEncoder();

/** Writes an ISO of `files` to a temp file; `fn` gets its path; the file is removed after. */
async function withIso(
  files: { name: string; data: Uint8Array }[],
  fn: (path: string) => Promise<void>,
): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "iso-test-" });
  try {
    const path = `${dir}/seed.iso`;
    Deno.writeFileSync(path, buildIso("cidata", files, new Date(Date.UTC(2024, 4, 17, 12, 30, 5))));
    await fn(path);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** The bytes of `/name` as `isoinfo` extracts them (`-R` Rock Ridge or `-J` Joliet). */
async function isoinfoExtract(iso: string, mode: "-R" | "-J", name: string): Promise<Uint8Array> {
  const out = await new Deno.Command("isoinfo", {
    args: ["-i", iso, mode, "-x", `/${name}`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return out.stdout;
}

const SEED = [
  { name: "meta-data", data: enc.encode("instance-id: iid-1\nlocal-hostname: web\n") },
  // More than one sector, and every byte value.
  {
    name: "user-data",
    data: new Uint8Array(5000).map((_, i) => (i * 7 + 3) % 256),
  },
  { name: "network-config", data: enc.encode("version: 2\n") },
];

Deno.test("isoinfo -R lists the lower-case names with their sizes, and -x gives the exact bytes", async () => {
  await withIso(SEED, async (iso) => {
    const l = await run("isoinfo", ["-i", iso, "-R", "-l"]);
    assert.equal(l.code, 0, l.stderr);
    for (const f of SEED) {
      assert.match(l.stdout, new RegExp(`-r--r--r-- .* ${f.data.length} .*\\] +${f.name} *$`, "m"));
    }
    for (const f of SEED) assert.deepEqual(await isoinfoExtract(iso, "-R", f.name), f.data);
  });
});

Deno.test("the Joliet tree holds the same names and bytes", async () => {
  await withIso(SEED, async (iso) => {
    const l = await run("isoinfo", ["-i", iso, "-J", "-l"]);
    assert.equal(l.code, 0, l.stderr);
    for (const f of SEED) assert.match(l.stdout, new RegExp(` ${f.name} *$`, "m"));
    for (const f of SEED) assert.deepEqual(await isoinfoExtract(iso, "-J", f.name), f.data);
  });
});

Deno.test("isoinfo -d: volume id cidata, Rock Ridge and Joliet found, size matches the file", async () => {
  await withIso(SEED, async (iso) => {
    const d = await run("isoinfo", ["-i", iso, "-d"]);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /^Volume id: cidata$/m);
    assert.match(d.stdout, /Rock Ridge signatures version 1 found/);
    assert.match(d.stdout, /Joliet with UCS level 3 found/);
    const blocks = Number(/^Volume size is: (\d+)$/m.exec(d.stdout)?.[1]);
    assert.equal(blocks * SECTOR, Deno.statSync(iso).size);
  });
});

Deno.test("xorriso lists the three files, extracts them intact, reports no problem", async () => {
  await withIso(SEED, async (iso) => {
    const ls = await run("xorriso", ["-indev", iso, "-ls"]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stderr, /Volume id\s*: 'cidata'/);
    assert.doesNotMatch(ls.stderr, /WARNING|FAILURE|SORRY/);
    const names = ls.stdout.trim().split("\n").map((s) => s.trim());
    assert.deepEqual(names, ["'meta-data'", "'network-config'", "'user-data'"]);
    const dir = Deno.makeTempDirSync({ prefix: "iso-x-" });
    try {
      const x = await run("xorriso", [
        "-osirrox",
        "on",
        "-indev",
        iso,
        "-extract",
        "/",
        `${dir}/out`,
      ]);
      assert.equal(x.code, 0, x.stderr);
      for (const f of SEED) assert.deepEqual(Deno.readFileSync(`${dir}/out/${f.name}`), f.data);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
});

Deno.test("blkid and file see an ISO 9660 filesystem labelled cidata", async () => {
  await withIso(SEED, async (iso) => {
    const b = await run("blkid", ["-o", "export", iso]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /^TYPE=iso9660$/m);
    assert.match(b.stdout, /^LABEL=cidata$/m);
    const f = await run("file", ["-b", iso]);
    assert.match(f.stdout, /ISO 9660 CD-ROM filesystem data 'cidata'/);
  });
});

Deno.test("an empty file, a single file and many files (directory over one sector)", async () => {
  const many = Array.from({ length: 60 }, (_, i) => ({
    name: `file-number-${String(i).padStart(3, "0")}-with-a-long-name.txt`,
    data: enc.encode(`content ${i}\n`),
  }));
  for (const files of [[{ name: "empty", data: new Uint8Array(0) }], many]) {
    await withIso(files, async (iso) => {
      const l = await run("isoinfo", ["-i", iso, "-R", "-l"]);
      assert.equal(l.code, 0, l.stderr);
      for (const f of files) {
        assert.match(
          l.stdout,
          new RegExp(` ${f.data.length} .* ${f.name.replaceAll(".", "\\.")} *$`, "m"),
        );
        assert.deepEqual(await isoinfoExtract(iso, "-R", f.name), f.data);
      }
    });
  }
});

Deno.test("the image is deterministic for a given date, and sector-aligned", () => {
  const d = new Date(Date.UTC(2024, 0, 1));
  const a = buildIso("cidata", SEED, d);
  assert.deepEqual(a, buildIso("cidata", SEED, d));
  assert.equal(a.length % SECTOR, 0);
  assert.equal(new TextDecoder().decode(a.subarray(16 * SECTOR + 1, 16 * SECTOR + 6)), "CD001");
});

Deno.test("ISO level-1 names: 8.3, upper case, unique", () => {
  assert.deepEqual(isoNames(["meta-data", "user-data", "network-config", "vendor-data"]), [
    "META_DAT.;1",
    "USER_DAT.;1",
    "NETWORK_.;1",
    "VENDOR_D.;1",
  ]);
  assert.deepEqual(isoNames(["user-data1", "user-data2", "a.tar.gz"]), [
    "USER_DAT.;1",
    "USER_DA1.;1",
    "A_TAR.GZ;1",
  ]);
});

Deno.test("bad names and volume ids are refused", () => {
  assert.throws(() => buildIso("cidata", [{ name: "a/b", data: new Uint8Array() }]), /not allowed/);
  assert.throws(() => buildIso("cidata", [{ name: "..", data: new Uint8Array() }]), /not allowed/);
  const twice = [{ name: "x", data: new Uint8Array() }, { name: "x", data: new Uint8Array() }];
  assert.throws(() => buildIso("cidata", twice), /twice/);
  assert.throws(() => buildIso("", []), /volume id/);
  assert.throws(() => buildIso("x".repeat(33), []), /volume id/);
});

// Unit tests of lib/images/meta.ts: an image's metadata in `<image>.meta`
// beside it (the `.part` and the image share it), written atomically and
// privately, read back by the download (readPartMeta) and the import
// (sameImport), removed with a write of it cut short.

import assert from "node:assert/strict";
import { join } from "node:path";
import { metaOwner, metaPath, readMeta, removeMeta, writeMeta } from "../../lib/images/meta.ts";
import { readPartMeta } from "../../lib/images/download.ts";
import { sameImport } from "../../lib/images/cache.ts";
import { withTempDir } from "../support/temp_dir.ts";

Deno.test("metaPath and metaOwner: one .meta for an image and its .part", () => {
  assert.equal(metaPath("/c/deb.qcow2"), "/c/deb.qcow2.meta");
  assert.equal(metaPath("/c/deb.qcow2.part"), "/c/deb.qcow2.meta");
  assert.equal(metaOwner("deb.qcow2.meta"), "deb.qcow2");
  assert.equal(metaOwner("deb.qcow2.meta.new"), "deb.qcow2");
  for (const n of ["deb.qcow2", "deb.qcow2.part", ".meta", "meta"]) {
    assert.equal(metaOwner(n), undefined, n);
  }
});

Deno.test("writeMeta: 0600 whatever the umask, with this PID; read back through the .part or the image", async () => {
  await withTempDir((dir) => {
    const image = join(dir, "deb.qcow2");
    const old = Deno.umask(0o077);
    try {
      writeMeta(image + ".part", {
        download: { url: "https://x/deb.qcow2", total: 5, arch: "x86_64" },
      });
    } finally {
      Deno.umask(old);
    }
    assert.equal((Deno.statSync(image + ".meta").mode ?? 0) & 0o777, 0o600);
    assert.equal(readMeta(image)?.pid, Deno.pid);
    assert.deepEqual(readPartMeta(image + ".part"), {
      url: "https://x/deb.qcow2",
      total: 5,
      arch: "x86_64",
    });
    assert.equal(readPartMeta(image)?.total, 5, "the image keeps its download's record");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["deb.qcow2.meta"]);
  });
});

Deno.test("readMeta: nothing for a missing, cut or foreign file; removeMeta takes a cut write too", async () => {
  await withTempDir((dir) => {
    const image = join(dir, "x.img");
    assert.equal(readMeta(image), undefined);
    for (const text of ['{"pid":', "[1]", '{"url":"https://x"}', "null"]) {
      Deno.writeTextFileSync(image + ".meta", text);
      assert.equal(readMeta(image), undefined, text);
      assert.equal(readPartMeta(image), undefined, text);
    }
    Deno.writeTextFileSync(image + ".meta.new", "{");
    removeMeta(image);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    removeMeta(image); // nothing there: fine
  });
});

Deno.test("sameImport: the recorded size and mtime, else the SHA-256, of the source file", async () => {
  await withTempDir(async (dir) => {
    const image = join(dir, "base.qcow2");
    const src = join(dir, "src.img");
    Deno.writeTextFileSync(src, "disk bytes");
    assert.equal(await sameImport(image, src), false, "nothing recorded");
    const st = Deno.statSync(src);
    const sha256 = "9c6b2c1a0ac5bd4fd2a5e3c9ec6d2bd6e5b4bbbbe6b70d7e2b0b7b3ba3f1b0f3"; // not its hash
    writeMeta(image, { import: { size: st.size, mtime: st.mtime!.getTime(), sha256 } });
    assert.equal(await sameImport(image, src), true, "same size and mtime");
    Deno.utimeSync(src, new Date(0), new Date(0));
    assert.equal(await sameImport(image, src), false, "another mtime and another hash");
  });
});

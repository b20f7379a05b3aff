// lib/qemu/image_check.ts: hostile images are refused
// one image of the chain at a time, each problem one line naming the file;
// a FIFO named as backing file is never opened; good chains pass.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  inspectImage,
  isProtocolName,
  qcow2DataFile,
  UnsafeImageError,
} from "../../lib/qemu/image_check.ts";
import { evilImages, img } from "../support/evil_images.ts";
import { withTempDir } from "../support/temp_dir.ts";

/** The UnsafeImageError inspecting `path` throws (asserted: exit 100, one line). */
async function refused(
  path: string,
  dirs: string[],
  format?: string,
): Promise<UnsafeImageError> {
  try {
    await inspectImage(path, { backingDirs: dirs }, format);
  } catch (e) {
    assert.ok(e instanceof UnsafeImageError, String(e));
    assert.equal(e.exitCode, 100);
    assert.ok(!e.message.includes("\n"), e.message);
    return e;
  }
  throw new Error(`"${path}" was not refused`);
}

Deno.test("isProtocolName: a colon before any slash", () => {
  for (const n of ['json:{"driver":"nbd"}', "nbd://h/x", "file:/etc/x", "http://h/x", "a:b"]) {
    assert.ok(isProtocolName(n), n);
  }
  for (const n of ["/a:b/c", "./x:y", "base.qcow2", "../.images/x.qcow2"]) {
    assert.ok(!isProtocolName(n), n);
  }
});

Deno.test("inspectImage: data file, backing outside, json: backing, vmdk extent are refused", () =>
  withTempDir(async (dir) => {
    const evil = await evilImages(join(dir, "in"), join(dir, "secret"));
    const allowed = [join(dir, "in")];
    let e = await refused(evil.dataFile, allowed);
    assert.equal(e.file, evil.dataFile);
    assert.match(e.message, /external data file ".*secret\/shadow"/);
    e = await refused(evil.backingOut, allowed);
    assert.match(e.message, /has backing file ".*secret\/shadow"; backing files must be in/);
    e = await refused(evil.backingOut, []);
    assert.match(e.message, /an image from outside must be standalone/);
    e = await refused(evil.jsonBacking, allowed);
    assert.match(e.message, /json: or protocol name/);
    e = await refused(evil.vmdk, allowed);
    assert.match(e.message, /is a vmdk image; vm takes raw or qcow2 only/);
    e = await refused(join(dir, "none.qcow2"), allowed);
    assert.match(e.message, /does not exist/);
  }));

Deno.test("inspectImage: a FIFO as backing file is refused without opening it", () =>
  withTempDir(async (dir) => {
    const fifo = join(dir, "fifo");
    await new Deno.Command("mkfifo", { args: [fifo] }).output();
    const top = join(dir, "top.qcow2");
    await img(["create", "-q", "-f", "qcow2", "-u", "-b", fifo, "-F", "raw", top, "1M"]);
    const e = await refused(top, [dir]);
    assert.equal(e.file, fifo);
    assert.match(e.message, /is not a regular file/);
  }));

Deno.test("inspectImage: a chain inside the allowed directories passes, top first", () =>
  withTempDir(async (dir) => {
    const base = join(dir, "cache", "base.raw");
    Deno.mkdirSync(join(dir, "cache"));
    await img(["create", "-q", "-f", "raw", base, "1M"]);
    const mid = join(dir, "vm", "mid.qcow2");
    Deno.mkdirSync(join(dir, "vm"));
    await img(["create", "-q", "-f", "qcow2", "-b", "../cache/base.raw", "-F", "raw", mid]);
    const top = join(dir, "vm", "top.qcow2");
    await img(["create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", top]);
    const chain = await inspectImage(top, { backingDirs: [join(dir, "cache"), join(dir, "vm")] });
    assert.deepEqual(chain.map((i) => i.format), ["qcow2", "qcow2", "raw"]);
    // The cache alone does not hold mid.qcow2: refused, naming the top image.
    const e = await refused(top, [join(dir, "cache")]);
    assert.equal(e.file, top);
    // A symlink in an allowed directory to a file outside it counts where it leads.
    Deno.symlinkSync(base, join(dir, "vm", "link.raw"));
    const viaLink = join(dir, "vm", "via-link.qcow2");
    await img(["create", "-q", "-f", "qcow2", "-b", "link.raw", "-F", "raw", viaLink]);
    assert.match((await refused(viaLink, [join(dir, "vm")])).message, /cache\/base\.raw/);
  }));

Deno.test("qcow2DataFile: the data file read from the header itself, before any qemu-img opens the image", () =>
  withTempDir(async (dir) => {
    const evil = await evilImages(join(dir, "in"), join(dir, "secret"));
    const head = (p: string) => Deno.readFileSync(p).subarray(0, 65536);
    assert.equal(qcow2DataFile(head(evil.dataFile)), evil.secret);
    const plain = join(dir, "plain.qcow2");
    await img(["create", "-q", "-f", "qcow2", plain, "1M"]);
    for (const p of [plain, evil.backingOut, evil.vmdk, evil.secret]) {
      assert.equal(qcow2DataFile(head(p)), undefined, p);
    }
    // The feature bit without a name extension still counts.
    const cut = head(evil.dataFile).slice(0, 112);
    assert.equal(qcow2DataFile(cut), "");
  }));

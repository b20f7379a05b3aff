/**
 * Untrusted images, as a user meets them: a pulled or local
 * image that names a host file (an external data file, a backing file
 * outside the cache, a json: backing name, a vmdk extent) is refused by
 * `vm image pull`, `vm make --image` and `vm image import` with one line and
 * exit 100, leaving no image, no VM and no leftover; `vm doctor` finds such
 * a disk in an existing VM and such an image in the cache, and `vm info`
 * shows a data file. A `.part` planted as a symlink is never followed. The
 * same local file given twice to `vm make --image` reuses the cached image;
 * other bytes under its name are refused. An ISO for `vm make <vm> <iso>`
 * must be one (raw), not a qcow2 naming a host file. No guest is booted.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type ImageEnv, withImages } from "../support/image_env.ts";
import { evilImages, img, SECRET } from "../support/evil_images.ts";
import { imageInfo } from "../../lib/qemu/img.ts";

/** The one `vm: fatal:` line of a failed run. */
function oneFatalLine(stderr: string): string {
  const lines = stderr.split("\n").filter((l) => l !== "");
  assert.equal(lines.length, 1, `expected one line, got: ${JSON.stringify(stderr)}`);
  assert.match(lines[0] ?? "", /^vm: fatal: /);
  return lines[0] ?? "";
}

/** `vm make <name> --image <image>` as a user types it (no questions, no log). */
function makeFrom(t: ImageEnv, name: string, image: string, more: string[] = []) {
  return t.env.vm(
    ["make", name, "--image", image, "--disk", "8M", "--wait", "1", "--no-log", "-y", ...more],
    {
      env: { VMCONF_DEFAULT_TEMPLATES: "display-none drive" },
    },
  );
}

/** The names in VMDIR (VMs, .default, .images, leftovers). */
function vmdirNames(t: ImageEnv): string[] {
  return [...Deno.readDirSync(t.env.vmdir)].map((e) => e.name).sort();
}

/** What each hostile image is refused for. */
const WHY: [keyof Awaited<ReturnType<typeof evilImages>>, RegExp][] = [
  ["dataFile", /names an external data file ".*secret\/shadow"/],
  [
    "backingOut",
    /has backing file ".*secret\/shadow"; (an image from outside must be|backing files must be in)/,
  ],
  ["jsonBacking", /names backing file "json:\{.*\}", a json: or protocol name/],
  ["vmdk", /is a vmdk image; vm takes raw or qcow2 only/],
];

Deno.test("pull, make --image FILE|URL and image import refuse images that name host files; nothing is left", () =>
  withImages(async (t) => {
    const evil = await evilImages(join(t.env.root, "evil"), join(t.env.root, "secret"));
    for (const [key, why] of WHY) {
      const file = evil[key];
      const base = file.split("/").pop() ?? "";
      t.server.files.set(`/${base}`, Deno.readFileSync(file));
      const pull = await t.vm(["image", "pull", t.server.url(`/${base}`), "--insecure"]);
      assert.equal(pull.code, 100, `${key}: ${pull.stderr}`);
      assert.match(oneFatalLine(pull.stderr), why);
      assert.match(pull.stderr, /it was removed from the cache\n$/);
      assert.deepEqual(t.listImages(), [], `${key}: nothing cached`);

      const byUrl = await makeFrom(t, "ev", t.server.url(`/${base}`), ["--insecure"]);
      assert.equal(byUrl.code, 100, `${key}: ${byUrl.stderr}`);
      assert.match(byUrl.stderr, why);
      const local = await makeFrom(t, "ev", file);
      assert.equal(local.code, 100, `${key}: ${local.stderr}`);
      assert.match(oneFatalLine(local.stderr), why);
      const imp = await t.vm(["image", "import", "ev", file]);
      assert.equal(imp.code, 100, `${key}: ${imp.stderr}`);
      assert.match(oneFatalLine(imp.stderr), why);
      assert.deepEqual(vmdirNames(t), [".default", ".images"], `${key}: no VM, no leftover`);
      assert.deepEqual(t.listImages(), []);
    }
    // A local overlay on an image in the cache is fine for image import (it is flattened).
    assert.equal((await t.vm(["image", "pull", "tiny"])).code, 0);
    const over = join(t.env.root, "over.qcow2");
    await img([
      "create",
      "-q",
      "-f",
      "qcow2",
      "-b",
      join(t.images, "tiny.qcow2"),
      "-F",
      "qcow2",
      over,
    ]);
    const flat = await t.vm(["image", "import", "flat", over]);
    assert.equal(flat.code, 0, flat.stderr);
    assert.equal((await imageInfo(join(t.images, "flat.qcow2")))["backing-filename"], undefined);
  }));

Deno.test("doctor finds a VM disk with a data file and a cached image with a backing file; info shows it", () =>
  withImages(async (t) => {
    t.env.startRunsvdir(); // a vmd: doctor finds nothing but the disks
    const evil = await evilImages(join(t.env.root, "evil"), join(t.env.root, "secret"));
    const made = await t.env.vm(["make", "old", "--disk", "1M", "--no-log", "-y"]);
    assert.equal(made.code, 0, made.stderr);
    assert.equal((await t.env.vm(["doctor"])).code, 0, "all is well first");
    // As an older vm let them in: the disk replaced, an image put in the cache.
    Deno.copyFileSync(evil.dataFile, join(t.env.dir("old"), "drive.qcow2"));
    Deno.mkdirSync(t.images, { recursive: true });
    Deno.copyFileSync(evil.backingOut, join(t.images, "bad.qcow2"));
    const r = await t.env.vm(["doctor"]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(
      r.stdout,
      /^VM "old": Image ".*old\/drive\.qcow2" names an external data file .*; fix: /m,
    );
    assert.match(
      r.stdout,
      /^Image ".*\.images\/bad\.qcow2" has backing file .*; fix: vm image rm bad$/m,
    );
    const info = await t.env.vm(["info", "old"]);
    assert.match(info.stdout, /external data file ".*secret\/shadow"/);
  }));

Deno.test("a .part planted as a symlink is refused; its target is neither written nor chmodded", () =>
  withImages(async (t) => {
    Deno.mkdirSync(t.images, { mode: 0o700 });
    const precious = join(t.env.root, "precious");
    Deno.writeTextFileSync(precious, SECRET);
    Deno.chmodSync(precious, 0o640);
    Deno.symlinkSync(precious, join(t.images, "tiny.qcow2.part"));
    const r = await t.vm(["image", "pull", "tiny"]);
    assert.equal(r.code, 111, r.stderr);
    assert.match(oneFatalLine(r.stderr), /tiny\.qcow2\.part" is a symbolic link .*remove it/);
    assert.equal(Deno.readTextFileSync(precious), SECRET);
    assert.equal((Deno.statSync(precious).mode ?? 0) & 0o777, 0o640);
    assert.deepEqual(t.listImages(), ["tiny.qcow2.part"], "no image made of it");
  }));

Deno.test("make --image ./same.qcow2 twice reuses the cached image; other bytes under its name are refused", () =>
  withImages(async (t) => {
    const base = join(t.env.root, "base.qcow2");
    Deno.writeFileSync(base, t.tiny);
    const first = await makeFrom(t, "c1", base);
    assert.equal(first.code, 0, first.stderr);
    const second = await makeFrom(t, "c2", base);
    assert.equal(second.code, 0, second.stderr);
    // Same bytes, another mtime (a copy): recognised by the hash recorded at import.
    Deno.utimeSync(base, new Date(2001, 1, 1), new Date(2001, 1, 1));
    const third = await makeFrom(t, "c3", base);
    assert.equal(third.code, 0, third.stderr);
    for (const vm of ["c1", "c2", "c3"]) {
      const info = await imageInfo(join(t.env.dir(vm), "drive.qcow2"));
      assert.equal(info["backing-filename"], join(t.images, "base.qcow2"), vm);
    }
    assert.deepEqual(t.listImages(), ["base.qcow2"], "imported once");
    // Other bytes under the same name: refused, as before.
    const other = new Uint8Array(t.tiny);
    other[other.length - 1] = (other.at(-1) ?? 0) ^ 0xff;
    Deno.writeFileSync(base, other);
    const fourth = await makeFrom(t, "c4", base);
    assert.equal(fourth.code, 100, fourth.stderr);
    assert.match(oneFatalLine(fourth.stderr), /already cached, not imported from these bytes/);
  }));

Deno.test("make <vm> <iso>: an ISO that is a qcow2 naming a host file is refused; a raw one is fine", () =>
  withImages(async (t) => {
    const evil = await evilImages(join(t.env.root, "evil"), join(t.env.root, "secret"));
    const iso = join(t.env.root, "debian.iso");
    Deno.copyFileSync(evil.dataFile, iso);
    const r = await t.env.vm(["make", "ev", iso, "--disk", "1M", "--no-log", "-y"]);
    assert.equal(r.code, 100, r.stderr);
    assert.match(oneFatalLine(r.stderr), /debian\.iso" names an external data file/);
    assert.deepEqual(vmdirNames(t), [".default"]);
    Deno.writeFileSync(iso, new Uint8Array(1 << 20));
    const ok = await t.env.vm(["make", "ok", iso, "--disk", "1M", "--no-log", "-y"]);
    assert.equal(ok.code, 0, ok.stderr);
  }));

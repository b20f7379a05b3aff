// Slow (ten seconds or more of guests): left out of test:quick.
/**
 * From a cached image to a VM disk: `vm image import`, the overlay that
 * `vm make --image` creates (lib/actions/make_image.ts), `vm image rm`
 * refused while a VM's disk is backed by the image, the test guest booting
 * from a VM made this way, `vm export nomad` fetching such a disk from the
 * image's URL, and qemu-img convert's progress.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ImageEnv, withImages } from "../support/image_env.ts";
import { sha256Sums } from "../support/image_server.ts";
import { bootDisk } from "../support/boot_disk.ts";
import { GUEST_READY, testGuest, waitForText } from "../support/guest.ts";
import { readOr, run } from "../support/harness.ts";
import { UsageError } from "../../lib/errors.ts";
import { loadConfig } from "../../lib/vm/config.ts";
import { loadCatalog } from "../../lib/images/catalog.ts";
import { imageNames } from "../../lib/images/names.ts";
import { makeImageDisk, resolveImage, resolveIso } from "../../lib/actions/make_image.ts";
import { convertImage, imageInfo } from "../../lib/qemu/img.ts";
import { quoteWords } from "../../lib/text/shell_words.ts";

const MIB = 1 << 20;

/** `vm make name --image image --disk disk` (templates display-none and drive); its disk. */
async function vmFromImage(
  t: ImageEnv,
  name: string,
  image: string,
  disk: string,
): Promise<string> {
  const r = await t.env.vm(
    ["make", name, "--image", image, "--disk", disk, "--wait", "1", "--no-log", "--yes"],
    { env: { VMCONF_DEFAULT_TEMPLATES: "display-none drive" } },
  );
  assert.equal(r.code, 0, r.stderr);
  const drive = join(t.env.dir(name), "drive.qcow2");
  const info = await imageInfo(drive);
  assert.equal(info["backing-filename"], join(t.images, `${image}.qcow2`), "an overlay on it");
  return drive;
}

Deno.test("image import: a raw file becomes a read-only qcow2 in the cache; a taken name is refused", () =>
  withImages(async (t) => {
    const raw = join(t.env.root, "disk.raw");
    Deno.writeFileSync(raw, new Uint8Array(8 * MIB).fill(7));
    const r = await t.vm(["image", "import", "mine", raw]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^mine: .* imported from raw: .*mine\.qcow2\n$/);
    const path = join(t.images, "mine.qcow2");
    const info = await imageInfo(path);
    assert.equal(info.format, "qcow2");
    assert.equal(info["virtual-size"], 8 * MIB);
    assert.equal((Deno.statSync(path).mode ?? 0) & 0o777, 0o400);
    assert.equal(
      (await run("qemu-img", ["compare", "-f", "raw", "-F", "qcow2", raw, path])).code,
      0,
    );
    assert.match((await t.vm(["image", "list"])).stdout, /^mine\s+-\s+disk\s+\S+ \S+\s+yes\s+-$/m);
    const again = await t.vm(["image", "import", "mine", raw]);
    assert.equal(again.code, 100);
    assert.match(again.stderr, /already cached/);
  }));

Deno.test("make --image: overlay on the cached image (absolute, -F), sizes never below the image; --copy", () =>
  withImages(async (t) => {
    assert.equal((await t.vm(["image", "pull", "tiny"])).code, 0);
    const cached = join(t.images, "tiny.qcow2");
    const cfg = loadConfig(t.env.env);
    const img = await resolveImage(cfg, loadCatalog(cfg), { image: "tiny", arch: "x86_64" }, false);
    assert.equal(img.path, cached);
    const d1 = join(t.env.root, "d1.qcow2");
    const made = await makeImageDisk(cfg, d1, img, { disk: "64M" });
    const info = await imageInfo(d1);
    assert.equal(info["backing-filename"], cached);
    assert.equal((info as unknown as Record<string, unknown>)["backing-filename-format"], "qcow2");
    assert.equal(info["virtual-size"], 64 * MIB);
    assert.equal(made.size.raisedToImage, false);
    assert.equal((await run("qemu-img", ["check", d1])).code, 0);
    // Asked below the image's 3 MiB: the image's size.
    const d2 = join(t.env.root, "d2.qcow2");
    assert.equal((await makeImageDisk(cfg, d2, img, { disk: "1M" })).size.raisedToImage, true);
    assert.equal((await imageInfo(d2))["virtual-size"], 3 * MIB);
    // No --disk: VMCONF_DEFAULT_DRIVE.
    const d3 = join(t.env.root, "d3.qcow2");
    await makeImageDisk({ ...cfg, defaultDrive: "5G" }, d3, img, {});
    assert.equal((await imageInfo(d3))["virtual-size"], 5 * 1024 * MIB);
    // --copy: standalone, grown, same data, progress reported up to the image's size.
    const d4 = join(t.env.root, "d4.qcow2");
    const seen: number[] = [];
    await makeImageDisk(cfg, d4, img, { disk: "32M", copy: true, onProgress: (d) => seen.push(d) });
    const i4 = await imageInfo(d4);
    assert.equal(i4["backing-filename"], undefined);
    assert.equal(i4["virtual-size"], 32 * MIB);
    assert.equal(seen.at(-1), 3 * MIB);
    assert.equal((await run("qemu-img", ["compare", cached, d4])).code, 0);
    // A cached image shorter than its download (the system stopped before it reached the disk).
    Deno.chmodSync(cached, 0o600);
    Deno.truncateSync(cached, MIB);
    Deno.chmodSync(cached, 0o400);
    await assert.rejects(
      makeImageDisk(cfg, join(t.env.root, "d5.qcow2"), img, {}),
      /is 1\.0 MiB, not the 3\.\d MiB downloaded .*pull it again/,
    );
  }));

Deno.test("image rm is refused while a VM's disk is backed by it; destroy keeps the base; then rm works", () =>
  withImages(async (t) => {
    assert.equal((await t.vm(["image", "pull", "tiny"])).code, 0);
    await vmFromImage(t, "web", "tiny", "64M");
    assert.match((await t.vm(["image", "list"])).stdout, /^tiny\s.*\syes\s+web$/m);
    const refused = await t.vm(["image", "rm", "tiny"]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^vm: fatal: Image "tiny" is the base of the disks of "web"; .*\n$/,
    );
    assert.deepEqual(t.listImages(), ["tiny.qcow2"]);
    const gone = await t.env.vm(["destroy", "web", "--yes"]);
    assert.equal(gone.code, 0, gone.stderr);
    assert.deepEqual(t.listImages(), ["tiny.qcow2"]);
    const rm = await t.vm(["image", "rm", "tiny"]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.match(rm.stdout, /removed ".*tiny\.qcow2"/);
    assert.deepEqual(t.listImages(), []);
  }));

Deno.test("the test guest boots from a VM whose disk is an overlay on a pulled image", async () => {
  const guest = await testGuest();
  await withImages(async (t) => {
    const disk = Deno.readFileSync(await bootDisk(guest, t.env.root));
    t.server.files.set("/guest.qcow2", disk);
    t.setSums(sha256Sums({ "guest.qcow2": disk }));
    t.catalog(
      `[guest]\nurl = ${t.server.url("/guest.qcow2")}\nsums = ${t.server.url("/SHA256SUMS")}\n`,
    );
    const pulled = await t.vm(["image", "pull", "guest"]);
    assert.equal(pulled.code, 0, pulled.stderr);
    const drive = await vmFromImage(t, "boot", "guest", "64M");
    assert.equal((await imageInfo(drive))["backing-filename"], join(t.images, "guest.qcow2"));
    const dir = t.env.dir("boot");
    const serial = ["-chardev", "file,id=ser0,path=guest.log,append=on", "-serial", "chardev:ser0"];
    Deno.writeTextFileSync(
      join(dir, "templates", "guest"),
      quoteWords(["-accel", "tcg", "-m", "128M", "-no-reboot", ...serial]) + "\n",
    );
    t.env.startRunsvdir();
    const r = await t.env.vm(["start", "boot", "--timeout", "30"]);
    assert.equal(r.code, 0, r.stderr);
    const ok = await waitForText(join(dir, "guest.log"), GUEST_READY, 120_000);
    assert.ok(ok, `no ${GUEST_READY}: ${readOr(join(dir, "guest.log")).slice(-2000)}`);
  });
});

Deno.test("convertImage with onProgress reports qemu-img's percent up to 100", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "vm-test-convert-" });
  try {
    const src = join(dir, "a.qcow2");
    assert.equal((await run("qemu-img", ["create", "-q", "-f", "qcow2", src, "64M"])).code, 0);
    const seen: number[] = [];
    await convertImage(src, join(dir, "b.qcow2"), "qcow2", (done, total) => {
      assert.equal(total, 100);
      seen.push(done);
    });
    assert.ok(seen.length >= 1);
    assert.equal(seen.at(-1), 100);
    assert.deepEqual([...seen].sort((a, b) => a - b), seen, "never goes back");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("make <vm> <catalog-iso>: the ISO is pulled and its cached path returned; paths and disks are not ISOs", () =>
  withImages(async (t) => {
    const iso = new Uint8Array(2 * MIB).fill(1);
    t.server.files.set("/cd/inst-1.2-amd64.iso", iso);
    t.setSums(sha256Sums({ "inst-1.2-amd64.iso": iso }));
    t.catalog(
      `[inst]\nkind = iso\nurl = ${t.server.url("/cd/")}\nsums = ${t.server.url("/SHA256SUMS")}\n` +
        `file = inst-*-amd64.iso\n[tiny]\nurl = ${t.server.url("/tiny.qcow2")}\nsha256 = ${
          "0".repeat(64)
        }\n`,
    );
    const cfg = loadConfig(t.env.env);
    const catalog = loadCatalog(cfg);
    const path = await resolveIso(cfg, catalog, "inst", "x86_64");
    assert.equal(path, join(t.images, "inst.iso"));
    assert.equal(Deno.statSync(path ?? "").size, iso.length);
    assert.equal(
      await resolveIso(cfg, catalog, "inst", "x86_64"),
      path,
      "cached: no second download",
    );
    assert.equal(t.server.served("/cd/inst-1.2-amd64.iso").length, 1);
    assert.equal(await resolveIso(cfg, catalog, "./some.iso", "x86_64"), undefined);
    const names = imageNames(cfg);
    for (const n of ["debian-12", "inst", "tiny"]) assert.ok(names.includes(n), n);
    assert.equal(new Set(names).size, names.length);
    assert.equal(await resolveIso(cfg, catalog, "unknown-name", "x86_64"), undefined);
    // A disk image's name: refused before anything is fetched (its pinned checksum is wrong).
    await assert.rejects(resolveIso(cfg, catalog, "tiny", "x86_64"), /is a disk image, not an ISO/);
    assert.equal(t.server.served("/tiny.qcow2").length, 0);
    const img = await resolveImage(cfg, catalog, { image: "inst", arch: "x86_64" }, false);
    await assert.rejects(makeImageDisk(cfg, join(t.env.root, "d.qcow2"), img, {}), UsageError);
  }));

Deno.test("export nomad: an overlay on a pulled image is fetched from the image's URL, with its checksum", () =>
  withImages(async (t) => {
    await vmFromImage(t, "web", "tiny", "32M");
    // Made from an image, it has a cloud-init seed: published at --seed-url.
    const seedUrl = "https://files.example/web/seed.iso";
    const r = await t.env.vm(["export", "nomad", "web", "--json", "--seed-url", seedUrl]);
    assert.equal(r.code, 0, r.stderr);
    const job = JSON.parse(r.stdout) as {
      Job: { TaskGroups: { Tasks: { Artifacts: Record<string, unknown>[] }[] }[] };
    };
    const artifacts = job.Job.TaskGroups[0]?.Tasks[0]?.Artifacts ?? [];
    const hex = [...new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(t.tiny)))]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    const disk = artifacts.find((a) => a.GetterSource === t.server.url("/tiny.qcow2"));
    assert.ok(disk, JSON.stringify(artifacts));
    assert.deepEqual(disk.GetterOptions, { checksum: `sha256:${hex}` });
    assert.ok(artifacts.some((a) => a.GetterSource === seedUrl), JSON.stringify(artifacts));
  }));

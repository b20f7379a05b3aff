// Unit tests of lib/images/leftovers.ts: which dot-directories
// are leftovers of an interrupted operation, whose owner runs, the line
// `vm list` prints, and that --fix never touches a live owner's work.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  findLeftovers,
  leftoverCommand,
  leftoversLine,
  ownerRuns,
  parseLeftoverName,
  recordOutside,
  removeLeftover,
} from "../../lib/images/leftovers.ts";
import { leftoverProblem } from "../../lib/actions/doctor.ts";
import { withTempDir } from "../support/temp_dir.ts";

/** A PID no process has now (pid_max is at most 4194304: none above it). */
function deadPid(): number {
  return 4_194_305;
}

Deno.test("parseLeftoverName: .make-, .destroy-, .clone-, .import- with the owner's PID", () => {
  assert.deepEqual(parseLeftoverName(".make-web-1234"), { op: "make", vm: "web", pid: 1234 });
  assert.deepEqual(parseLeftoverName(".clone-a-b-99"), { op: "clone", vm: "a-b", pid: 99 });
  assert.deepEqual(parseLeftoverName(".destroy-x-7")?.op, "destroy");
  assert.deepEqual(parseLeftoverName(".import-x-7")?.op, "import");
  assert.deepEqual(parseLeftoverName(".net-lan-7"), { op: "net", vm: "lan", pid: 7 });
  assert.deepEqual(parseLeftoverName(".net-rm-lan-7"), { op: "net-rm", vm: "lan", pid: 7 });
  for (const n of [".default", ".images", ".make-web", "make-web-1", ".make--1x", ".new-web-1"]) {
    assert.equal(parseLeftoverName(n), undefined, n);
  }
});

Deno.test("leftoversLine: only those whose owner is gone, with the bytes they hold", () => {
  const l = (name: string, bytes: number, running = false) => ({
    name,
    path: `/v/${name}`,
    op: "make" as const,
    vm: "x",
    pid: 1,
    running,
    bytes,
  });
  assert.equal(leftoversLine([]), undefined);
  assert.equal(leftoversLine([l(".make-x-1", 5, true)]), undefined);
  assert.equal(
    leftoversLine([l(".make-x-1", 189 * 2 ** 20)]),
    "vm: 1 unfinished operation holds 189 MiB: vm doctor --fix removes it",
  );
  assert.equal(
    leftoversLine([
      l(".make-x-1", 30 * 2 ** 30),
      l(".clone-y-2", 10 * 2 ** 30),
      l(".z-3", 1, true),
    ]),
    "vm: 2 unfinished operations hold 40 GiB: vm doctor --fix removes them",
  );
});

Deno.test("findLeftovers/removeLeftover: a gone owner's is removed, a live owner's never", async () => {
  await withTempDir(async (vmdir) => {
    const dead = deadPid();
    const gone = join(vmdir, `.make-a-${dead}`);
    Deno.mkdirSync(gone);
    Deno.writeFileSync(join(gone, "drive.qcow2"), new Uint8Array(65536).fill(1));
    // A live owner: a process started before its directory was made.
    const owner = new Deno.Command("sleep", { args: ["60"], stdin: "null" }).spawn();
    try {
      await new Promise((r) => setTimeout(r, 50));
      const live = join(vmdir, `.destroy-c-${owner.pid}`);
      Deno.mkdirSync(live);
      Deno.mkdirSync(join(vmdir, ".default"));
      const found = findLeftovers(vmdir);
      assert.deepEqual(found.map((l) => [l.name, l.running]), [
        [`.destroy-c-${owner.pid}`, true],
        [`.make-a-${dead}`, false],
      ]);
      assert.ok((found[1]?.bytes ?? 0) >= 65536);
      assert.equal(removeLeftover(found[0]!), false);
      assert.equal(removeLeftover(found[1]!), true);
      assert.deepEqual(findLeftovers(vmdir).map((l) => l.name), [`.destroy-c-${owner.pid}`]);
      // The same PID, started after the directory last changed, only reuses the number.
      const now = Date.now() / 1000;
      assert.equal(ownerRuns(owner.pid, now), true);
      assert.equal(ownerRuns(owner.pid, now - 100), false);
      assert.equal(ownerRuns(dead, now), false);
    } finally {
      owner.kill("SIGKILL");
      await owner.status;
    }
  });
});

Deno.test("parseLeftoverName: import tar's, export tar's and image import's directories too", () => {
  const ops = [".untar-x-7", ".export-web-8", ".image-import-deb-12-9", ".import-y-1"].map((n) => {
    const p = parseLeftoverName(n);
    assert.ok(p !== undefined, n);
    return leftoverCommand(p);
  });
  assert.deepEqual(ops, [
    "vm import tar x",
    "vm export tar web",
    "vm image import deb-12",
    "vm import y",
  ]);
});

Deno.test("an export's FILE.new outside VMDIR is found and removed with its directory, only while it is that file", async () => {
  await withTempDir(async (root) => {
    const vmdir = join(root, "vms");
    Deno.mkdirSync(vmdir);
    const dead = deadPid();
    const make = (n: string) => {
      const dir = join(vmdir, `.export-${n}-${dead}`);
      Deno.mkdirSync(dir);
      const out = join(root, `${n}.tar.new`);
      Deno.writeFileSync(out, new Uint8Array(65536).fill(1));
      recordOutside(dir, out);
      return out;
    };
    const kept = make("a");
    const replaced = make("b");
    // Someone put another file in its place since (often with the same inode number): not ours.
    await new Promise((r) => setTimeout(r, 5));
    Deno.removeSync(replaced);
    Deno.writeTextFileSync(replaced, "theirs");
    const found = findLeftovers(vmdir);
    assert.deepEqual(found.map((l) => [l.op, l.vm, l.outside]), [
      ["export", "a", kept],
      ["export", "b", undefined],
    ]);
    assert.ok((found[0]?.bytes ?? 0) >= 65536, "its bytes counted");
    assert.match(
      leftoverProblem(found[0]!),
      /^".*\.export-a-\d+" and ".*a\.tar\.new" \(.*\) are left by an interrupted "vm export tar a"/,
    );
    for (const l of found) assert.equal(removeLeftover(l), true);
    assert.throws(() => Deno.lstatSync(kept), Deno.errors.NotFound);
    assert.equal(Deno.readTextFileSync(replaced), "theirs");
    assert.deepEqual(findLeftovers(vmdir), []);
  });
});

Deno.test("findLeftovers: an interrupted image import's directory in the image cache is found", async () => {
  await withTempDir((vmdir) => {
    const left = join(vmdir, ".images", `.image-import-deb-${deadPid()}`);
    Deno.mkdirSync(left, { recursive: true });
    Deno.writeFileSync(join(left, "deb.qcow2"), new Uint8Array(4096));
    const found = findLeftovers(vmdir);
    assert.deepEqual(found.map((l) => [l.path, leftoverCommand(l), l.running]), [
      [left, "vm image import deb", false],
    ]);
    assert.equal(removeLeftover(found[0]!), true);
    assert.deepEqual([...Deno.readDirSync(join(vmdir, ".images"))], []);
  });
});

Deno.test("findLeftovers: an image's .meta is one only when its image and .part are both gone", async () => {
  await withTempDir((vmdir) => {
    const images = join(vmdir, ".images");
    Deno.mkdirSync(images);
    const meta = (file: string, body: object) =>
      Deno.writeTextFileSync(join(images, file), JSON.stringify({ pid: deadPid(), ...body }));
    meta("deb.qcow2.meta", { download: { url: "https://x/deb.qcow2" } });
    Deno.writeTextFileSync(join(images, "deb.qcow2.part"), "half");
    meta("ubu.img.meta", { download: { url: "https://x/ubu.img" } });
    Deno.writeTextFileSync(join(images, "ubu.img"), "whole");
    meta("gone.qcow2.meta", { download: { url: "https://x/gone.qcow2" } });
    meta("mine.qcow2.meta", { import: { size: 1, mtime: 2, sha256: "ab" } });
    Deno.writeTextFileSync(join(images, "cut.raw.meta.new"), '{"pid":');
    const found = findLeftovers(vmdir);
    assert.deepEqual(found.map((l) => [l.name, leftoverCommand(l), l.running]), [
      ["cut.raw.meta.new", "vm image pull cut", false],
      ["gone.qcow2.meta", "vm image pull gone", false],
      ["mine.qcow2.meta", "vm image import mine", false],
    ]);
    assert.equal(found[1]?.pid, deadPid(), "the PID the .meta records");
    assert.match(leftoverProblem(found[1]!), /gone\.qcow2\.meta" \(.*\) is left by an interrupted/);
    // One whose image came back meanwhile is not removed.
    Deno.writeTextFileSync(join(images, "gone.qcow2"), "back");
    assert.deepEqual(found.map(removeLeftover), [true, false, true]);
    assert.deepEqual([...Deno.readDirSync(images)].map((e) => e.name).sort(), [
      "deb.qcow2.meta",
      "deb.qcow2.part",
      "gone.qcow2",
      "gone.qcow2.meta",
      "ubu.img",
      "ubu.img.meta",
    ]);
  });
});

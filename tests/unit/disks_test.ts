// Pure parts of the disk and management commands: sizes, choosing a disk,
// snapshot tables and names, what a clone skips, what destroy shows, the
// `vm args` and `vm info` text.

import assert from "node:assert/strict";
import { formatBytes, parseNewSize, sizeBytes } from "../../lib/text/units.ts";
import { chooseDisk } from "../../lib/actions/disks.ts";
import { CheckFailedError, UsageError } from "../../lib/errors.ts";
import type { ImageInfo } from "../../lib/qemu/img.ts";
import { formatDestroyPlan, formatSnapshots } from "../../cli/core/disk_text.ts";
import { formatDate } from "../../cli/core/format.ts";
import { splitWords } from "../../lib/text/shell_words.ts";
import type { VmInfo } from "../../lib/actions/info.ts";
import { diskLine, formatInfo } from "../../cli/core/info_text.ts";
import { checkSnapshotName, snapshotRows, snapshotsJson } from "../../lib/actions/snapshots.ts";
import { skipInClone } from "../../lib/vm/dir.ts";
import { formatArgv } from "../../cli/commands/args.ts";
import { runningState } from "../support/state_fixture.ts";

Deno.test("sizeBytes: qemu-img's units, powers of 1024, decimals", () => {
  assert.equal(sizeBytes("512"), 512);
  assert.equal(sizeBytes("512b"), 512);
  assert.equal(sizeBytes("1k"), 1024);
  assert.equal(sizeBytes("1K"), 1024);
  assert.equal(sizeBytes("16M"), 16 * 2 ** 20);
  assert.equal(sizeBytes("1.5G"), 1.5 * 2 ** 30);
  assert.equal(sizeBytes("2T"), 2 * 2 ** 40);
  for (const bad of ["", "G", "1 G", "1GB", "-1G", "+1G", "1.G", "0x10"]) {
    assert.equal(sizeBytes(bad), undefined, bad);
  }
});

Deno.test("parseNewSize: +SIZE grows, SIZE sets, anything else is a usage error", () => {
  assert.deepEqual(parseNewSize("+10G"), { grow: true, bytes: 10 * 2 ** 30, text: "+10G" });
  assert.deepEqual(parseNewSize("40G"), { grow: false, bytes: 40 * 2 ** 30, text: "40G" });
  for (const bad of ["+0", "-1G", "ten", "+", "10 G"]) {
    assert.throws(() => parseNewSize(bad), UsageError, bad);
  }
  assert.throws(() => parseNewSize("-1G"), /write "\+10G" to grow by 10 GiB/);
});

Deno.test("formatBytes: binary units, one decimal below 10", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1024), "1 KiB");
  assert.equal(formatBytes(200704), "196 KiB");
  assert.equal(formatBytes(16 * 2 ** 20), "16 MiB");
  assert.equal(formatBytes(1.25 * 2 ** 30), "1.3 GiB");
  assert.equal(formatBytes(20 * 2 ** 30), "20 GiB");
});

Deno.test("chooseDisk: the only disk, or the one --drive names; else a clear error", () => {
  const one = ["/vms/a/drive.qcow2"];
  const two = ["/vms/a/drive.qcow2", "/srv/data.img"];
  assert.equal(chooseDisk("a", "/vms/a", one), "/vms/a/drive.qcow2");
  assert.equal(chooseDisk("a", "/vms/a", two, "drive.qcow2"), "/vms/a/drive.qcow2");
  assert.equal(chooseDisk("a", "/vms/a", two, "./drive.qcow2"), "/vms/a/drive.qcow2");
  assert.equal(chooseDisk("a", "/vms/a", two, "/srv/data.img"), "/srv/data.img");
  assert.throws(
    () => chooseDisk("a", "/vms/a", two),
    (e) =>
      e instanceof UsageError &&
      e.message ===
        'VM "a" has several disks ("drive.qcow2", "/srv/data.img"); choose one with --drive',
  );
  assert.throws(() => chooseDisk("a", "/vms/a", two, "x.img"), /"x.img" is not a disk of VM "a"/);
  assert.throws(() => chooseDisk("a", "/vms/a", []), CheckFailedError);
});

function info(snaps: [string, number][]): ImageInfo {
  return {
    filename: "x",
    format: "qcow2",
    "virtual-size": 1,
    snapshots: snaps.map(([name, date]) => ({ name, "date-sec": date, "vm-state-size": 0 })),
  };
}

Deno.test("snapshotRows and formatSnapshots: the union over the disks, oldest first", () => {
  const rows = snapshotRows(
    new Map([
      ["/vms/a/drive.qcow2", info([["base", 1000], ["later", 3000]])],
      ["/vms/a/two.qcow2", info([["base", 1001], ["only-two", 2000]])],
      ["/vms/a/raw.img", { filename: "r", format: "raw", "virtual-size": 1 }],
    ]),
  );
  assert.deepEqual(rows, [
    { name: "base", date: 1000, disks: ["/vms/a/drive.qcow2", "/vms/a/two.qcow2"] },
    { name: "only-two", date: 2000, disks: ["/vms/a/two.qcow2"] },
    { name: "later", date: 3000, disks: ["/vms/a/drive.qcow2"] },
  ]);
  const text = formatSnapshots(rows, "/vms/a").split("\n");
  assert.equal(text.length, 4);
  assert.match(text[0] ?? "", /^NAME {6}CREATED {14}DISKS$/);
  assert.equal(text[1], `base      ${formatDate(1000)}  drive.qcow2 two.qcow2`);
  // No snapshot: the header alone, so an empty list still says what it is.
  assert.equal(formatSnapshots([], "/vms/a"), "NAME  CREATED  DISKS");
  assert.deepEqual(snapshotsJson(rows.slice(0, 1), "/vms/a"), [
    { name: "base", date_s: 1000, disks: ["drive.qcow2", "two.qcow2"] },
  ]);
  assert.match(formatDate(0), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
});

Deno.test("checkSnapshotName: plain names only, never all digits (those are IDs)", () => {
  for (const ok of ["base", "before-upgrade", "v1.2_3", "1st"]) {
    assert.equal(checkSnapshotName(ok), ok);
  }
  for (const bad of ["", "12", "-x", ".x", "a b", "a/b", "x".repeat(65)]) {
    assert.throws(() => checkSnapshotName(bad), UsageError, bad);
  }
});

Deno.test("skipInClone: runit's and svlogd's run-time state is never copied", () => {
  for (const skip of ["supervise", "log/supervise", "backoff", "down", "log/main/current"]) {
    assert.ok(skipInClone(skip), skip);
  }
  assert.ok(skipInClone("log/main/@400000006601b8d1.s"));
  for (const keep of ["templates", "templates/mem", "log", "log/run", "log/main", "hooks"]) {
    assert.ok(!skipInClone(keep), keep);
  }
  assert.ok(!skipInClone("log/main/config"));
  assert.ok(!skipInClone("supervised-notes.txt"));
});

Deno.test("formatDestroyPlan: directory, size, each disk inside, disks kept", () => {
  const text = formatDestroyPlan({
    name: "a",
    dir: "/vms/a",
    total: 3 * 2 ** 20,
    disks: [
      { path: "/vms/a/drive.qcow2", actual: 2 * 2 ** 20, virtual: 20 * 2 ** 30 },
      { path: "/vms/a/broken.qcow2" },
    ],
    kept: ["/srv/shared.img"],
  });
  assert.equal(
    text,
    [
      'VM "a" ("/vms/a", 3 MiB on disk) will be deleted, with:',
      "  drive.qcow2  2 MiB on disk (20 GiB virtual)",
      "  broken.qcow2  (qemu-img cannot read it)",
      "Kept (outside the VM's directory): /srv/shared.img",
    ].join("\n"),
  );
  assert.equal(
    formatDestroyPlan({ name: "b", dir: "/vms/b", total: 4096, disks: [], kept: [] }),
    'VM "b" ("/vms/b", 4 KiB on disk) will be deleted; it has no disk in its directory',
  );
});

Deno.test("formatArgv: shell words that split back to the same argv", () => {
  const argv = ["/usr/bin/qemu-system-x86_64", "-name", "x y", "-append", "a='b' c", "-m", "2G"];
  const line = formatArgv(argv, false);
  assert.equal(line.split("\n").length, 1);
  assert.deepEqual(splitWords(line, { file: "t", lookup: () => undefined }), argv);
  const lines = formatArgv(argv, true).split("\n");
  assert.equal(lines.length, argv.length);
  assert.deepEqual(
    lines.map((l) => splitWords(l, { file: "t", lookup: () => undefined })),
    argv.map((a) => [a]),
  );
});

Deno.test("formatInfo: every field, templates with their arguments, disk lines", () => {
  const v: VmInfo = {
    name: "a",
    dir: "/vms/a",
    state: runningState({ name: "a", pid: 42, uptime_s: 125, autostart: false }),
    autostart: false,
    wait_s: 10,
    log: true,
    hooks: false,
    agent: true,
    ssh_port: 2222,
    arch: "aarch64",
    firmware: "uefi",
    tpm: true,
    templates: [
      { name: "mem", args: ["-m", "2G"] },
      { name: "once", args: ["-name", "x y"] },
      { name: "zz", args: null, error: "templates/zz:1: bad" },
    ],
    disks: [
      {
        file: "drive.qcow2",
        path: "/vms/a/drive.qcow2",
        info: {
          filename: "/vms/a/drive.qcow2",
          format: "qcow2",
          "virtual-size": 16 * 2 ** 20,
          "actual-size": 200704,
          "backing-filename": "../src/drive.qcow2",
          snapshots: [{ name: "s", "date-sec": 1, "vm-state-size": 0 }],
        },
      },
      { file: "gone.img", path: "/vms/a/gone.img", info: null, error: "qemu-img info failed: x" },
    ],
  };
  const text = formatInfo(v);
  assert.match(text, /^name: {7}a$/m);
  assert.match(text, /^state: {6}run \(PID 42, up 2m\)$/m);
  assert.match(text, /^autostart: {2}no \("down" exists\)$/m);
  assert.match(text, /^wait: {7}10 s$/m);
  assert.match(text, /^arch: {7}aarch64$/m);
  assert.match(text, /^firmware: {3}uefi$/m);
  assert.match(text, /^tpm: {8}yes /m);
  assert.match(text, /^log: {8}on \(log\/main\/current\)$/m);
  assert.match(text, /^hooks: {6}no$/m);
  assert.match(text, /^agent: {6}yes /m);
  assert.match(text, /^ssh: {8}127\.0\.0\.1:2222 \("vm ssh a"\)$/m);
  assert.match(text, /^ {2}mem {3}-m 2G$/m);
  assert.match(text, /^ {2}once {2}-name 'x y' {2}\(next start only\)$/m);
  assert.match(text, /^ {2}zz {4}error: templates\/zz:1: bad$/m);
  assert.equal(
    diskLine(v.disks[0]!),
    'drive.qcow2: qcow2, 16 MiB virtual, 196 KiB on disk, backing file "../src/drive.qcow2", 1 snapshot',
  );
  assert.match(text, /^ {2}gone.img: qemu-img info failed: x$/m);
});

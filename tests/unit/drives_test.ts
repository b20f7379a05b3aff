// The disks named in QEMU arguments (lib/drives.ts): option lists with QEMU's
// comma escaping, which options name disks, and how paths resolve.

import assert from "node:assert/strict";
import { diskPaths, diskRefs, localFile, optValue, splitOptList } from "../../lib/qemu/drives.ts";

Deno.test("splitOptList: commas separate, ,, is a literal comma, bare words are on", () => {
  assert.deepEqual(splitOptList("file=a,,b.img,if=virtio"), [
    { key: "file", value: "a,b.img" },
    { key: "if", value: "virtio" },
  ]);
  assert.deepEqual(splitOptList("file=x,,,,y,readonly"), [
    { key: "file", value: "x,,y" },
    { key: "readonly", value: "on" },
  ]);
  assert.deepEqual(splitOptList("file=a=b"), [{ key: "file", value: "a=b" }]);
  assert.deepEqual(splitOptList(""), []);
  assert.deepEqual(splitOptList("file=,if=ide"), [
    { key: "file", value: "" },
    { key: "if", value: "ide" },
  ]);
});

Deno.test("optValue: the last occurrence wins, as in QEMU", () => {
  const opts = splitOptList("file=a,file=b,media=disk");
  assert.equal(optValue(opts, "file"), "b");
  assert.equal(optValue(opts, "format"), undefined);
});

Deno.test("localFile: file: prefix removed, other protocols are not local files", () => {
  assert.equal(localFile("drive.qcow2"), "drive.qcow2");
  assert.equal(localFile("./a:b.img"), "./a:b.img");
  assert.equal(localFile("/srv/a:b.img"), "/srv/a:b.img");
  assert.equal(localFile("file:disk.img"), "disk.img");
  assert.equal(localFile("nbd:localhost:10809"), undefined);
  assert.equal(localFile("http://example.org/x.iso"), undefined);
  assert.equal(localFile("json:{}"), undefined);
  assert.equal(localFile(""), undefined);
});

Deno.test("diskRefs: -drive disks, -hda..-hdd, -blockdev file nodes; cdroms and others skipped", () => {
  const args = [
    "-m",
    "2G",
    "-drive",
    "file=./drive.qcow2,if=virtio",
    "-drive",
    "file=/isos/x.iso,media=cdrom",
    "-cdrom",
    "/isos/y.iso",
    "-hda",
    "old.img",
    "-hdd",
    "/dev/sdb",
    "--drive",
    "if=none,id=d2,file=data,,1.raw,format=raw",
    "-drive",
    "if=none,id=empty",
    "-drive",
    "file=nbd:host:1234",
    "-drive",
    "file.filename=split.qcow2,file.driver=file",
    "-blockdev",
    "driver=file,node-name=f,filename=bd.qcow2",
    "-blockdev",
    "driver=qcow2,node-name=q,file=f",
    "-blockdev",
    '{"driver":"file","filename":"j.qcow2"}',
  ];
  assert.deepEqual(diskRefs(args), [
    { file: "./drive.qcow2", via: "-drive" },
    { file: "old.img", via: "-hda" },
    { file: "/dev/sdb", via: "-hdd" },
    { file: "data,1.raw", via: "-drive" },
    { file: "split.qcow2", via: "-drive" },
    { file: "bd.qcow2", via: "-blockdev" },
  ]);
});

Deno.test("diskRefs: the value after a disk option is never read as an option", () => {
  assert.deepEqual(diskRefs(["-hda", "-drive", "file=x.img"]), [{ file: "-drive", via: "-hda" }]);
  assert.deepEqual(diskRefs(["-drive"]), []);
});

Deno.test("diskPaths: relative to the VM directory, normalized, each once", () => {
  const args = [
    "-drive",
    "file=./drive.qcow2,if=virtio",
    "-drive",
    "file=drive.qcow2",
    "-hdb",
    "/srv/../srv/big.img",
    "-drive",
    "file=sub/../two.qcow2",
  ];
  assert.deepEqual(diskPaths("/vms/a", args), [
    "/vms/a/drive.qcow2",
    "/srv/big.img",
    "/vms/a/two.qcow2",
  ]);
});

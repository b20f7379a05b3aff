import assert from "node:assert/strict";
import { copyArgs, diskSize, overlayArgs, parseSize } from "../../lib/images/overlay.ts";
import { UsageError } from "../../lib/errors.ts";

const GIB = 2 ** 30;

Deno.test("diskSize: the size asked for, never below the image's", () => {
  assert.deepEqual(diskSize(20 * GIB, 2 * GIB), { bytes: 20 * GIB, raisedToImage: false });
  assert.deepEqual(diskSize(2 * GIB, 2 * GIB), { bytes: 2 * GIB, raisedToImage: false });
  assert.deepEqual(diskSize(1 * GIB, 3 * GIB + 512), { bytes: 3 * GIB + 512, raisedToImage: true });
});

Deno.test("parseSize: qemu-img sizes in bytes; anything else is a usage error", () => {
  assert.equal(parseSize("20G"), 20 * GIB);
  assert.equal(parseSize("512M"), 512 * 2 ** 20);
  assert.equal(parseSize("1.5T"), 1.5 * 1024 * GIB);
  assert.equal(parseSize("4096"), 4096);
  assert.throws(() => parseSize("20 GB"), UsageError);
  assert.throws(() => parseSize("-1G"), UsageError);
});

Deno.test("overlayArgs: qcow2 on an absolute backing file with its format recorded, exact size", () => {
  assert.deepEqual(
    overlayArgs("/v/web/drive.qcow2", "/v/.images/deb.qcow2", "qcow2", 21474836480),
    [
      "create",
      "-q",
      "-f",
      "qcow2",
      "-b",
      "/v/.images/deb.qcow2",
      "-F",
      "qcow2",
      "/v/web/drive.qcow2",
      "21474836480",
    ],
  );
  assert.ok(overlayArgs("d", "/b.img", "raw", 1).includes("raw"));
});

Deno.test("copyArgs: a standalone qcow2 with progress, the source format given", () => {
  assert.deepEqual(copyArgs("/v/.images/u.img", "qcow2", "/v/web/drive.qcow2"), [
    "convert",
    "-p",
    "-f",
    "qcow2",
    "-O",
    "qcow2",
    "/v/.images/u.img",
    "/v/web/drive.qcow2",
  ]);
});

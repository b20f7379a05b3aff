// lib/vm/linked.ts: the base of linked clones, found from the qcow2 headers
// of the VMs' disks (no qemu-img run).

import assert from "node:assert/strict";
import { join } from "node:path";
import { baseOf, linkedClones, qcow2Backing, qcow2BackingRef } from "../../lib/vm/linked.ts";
import { withTempDir } from "../support/temp_dir.ts";

/** A qcow2 header (version 3) naming `backing` at offset 0x200, padded. */
function header(backing: string | undefined): Uint8Array {
  const b = new Uint8Array(1024);
  const v = new DataView(b.buffer);
  b.set([0x51, 0x46, 0x49, 0xfb]);
  v.setUint32(4, 3);
  if (backing !== undefined) {
    const name = new TextEncoder().encode(backing);
    v.setBigUint64(8, 0x200n);
    v.setUint32(16, name.length);
    b.set(name, 0x200);
  }
  return b;
}

Deno.test("qcow2BackingRef: offset and size of the backing name; none for others", () => {
  assert.deepEqual(qcow2BackingRef(header("../a/drive.qcow2")), { offset: 0x200, size: 16 });
  assert.equal(qcow2BackingRef(header(undefined)), undefined);
  assert.equal(qcow2BackingRef(new TextEncoder().encode("not a qcow2 image at all")), undefined);
  assert.equal(qcow2BackingRef(new Uint8Array(4)), undefined);
});

Deno.test("baseOf: the VM whose directory holds the file", () => {
  const names = ["a", "b"];
  assert.equal(baseOf("/v/a/drive.qcow2", ["/v"], names), "a");
  assert.equal(baseOf("/real/v/b/disks/x.qcow2", ["/v", "/real/v"], names), "b");
  assert.equal(baseOf("/v/c/drive.qcow2", ["/v"], names), undefined);
  assert.equal(baseOf("/elsewhere/a/drive.qcow2", ["/v"], names), undefined);
  assert.equal(baseOf("/v/a", ["/v"], names), undefined);
});

Deno.test("linkedClones: real qemu-img overlays, relative and absolute; plain disks are no clones", async () => {
  await withTempDir(async (vmdir) => {
    for (const vm of ["base", "c1", "c2", "plain", "cc"]) {
      Deno.mkdirSync(join(vmdir, vm));
      Deno.writeTextFileSync(join(vmdir, vm, "run"), "");
      Deno.writeTextFileSync(join(vmdir, vm, "wait"), "10\n");
    }
    const img = (args: string[]) => new Deno.Command("qemu-img", { args }).output();
    await img(["create", "-q", "-f", "qcow2", join(vmdir, "base/drive.qcow2"), "1M"]);
    await img(["create", "-q", "-f", "qcow2", join(vmdir, "plain/drive.qcow2"), "1M"]);
    const overlay = (to: string, backing: string) =>
      img(["create", "-q", "-f", "qcow2", "-b", backing, "-F", "qcow2", join(vmdir, to)]);
    await overlay("c1/drive.qcow2", "../base/drive.qcow2");
    await overlay("c2/drive.qcow2", join(vmdir, "base/drive.qcow2"));
    await overlay("cc/drive.qcow2", "../c1/drive.qcow2");
    assert.equal(qcow2Backing(join(vmdir, "c1/drive.qcow2")), "../base/drive.qcow2");
    assert.equal(qcow2Backing(join(vmdir, "plain/drive.qcow2")), undefined);
    assert.equal(qcow2Backing(join(vmdir, "base/wait")), undefined);
    assert.deepEqual(
      [...linkedClones(vmdir)].sort(),
      [["base", ["c1", "c2"]], ["c1", ["cc"]]],
    );
  });
});

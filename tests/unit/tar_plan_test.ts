// `vm export tar` / `vm import tar`: the manifest of disk chains, the
// backing images staged, the rebases on import, and hostile manifests.

import assert from "node:assert/strict";
import {
  freeName,
  parseManifest,
  planExport,
  planRebases,
  TAR_FORMAT,
} from "../../lib/export/tar_plan.ts";
import type { DiskModel } from "../../lib/export/vm_model.ts";

const CLONE: DiskModel = {
  path: "/vms/lnk/drive.qcow2",
  format: "qcow2",
  virtualSize: 1,
  chain: [
    { path: "/vms/src/drive.qcow2", format: "qcow2" },
    { path: "/vms/.images/debian.qcow2", format: "qcow2" },
  ],
};
const DATA: DiskModel = { path: "/vms/lnk/data.raw", format: "raw", virtualSize: 1, chain: [] };

Deno.test("tar plan: backing images staged under a free directory, chains indexed", () => {
  const { manifest, backing } = planExport(
    "lnk",
    "/vms/lnk",
    "/vms",
    [CLONE, DATA],
    new Set(["backing", "templates"]),
    false,
  );
  assert.deepEqual(manifest, {
    format: TAR_FORMAT,
    version: 1,
    name: "lnk",
    images: [
      { format: "qcow2", path: "drive.qcow2", backing: 1 },
      { format: "qcow2", path: "backing-1/0-drive.qcow2", backing: 2 },
      { format: "qcow2", path: "backing-1/1-debian.qcow2" },
      { format: "raw", path: "data.raw" },
    ],
  });
  assert.deepEqual(backing, [
    { source: "/vms/src/drive.qcow2", path: "backing-1/0-drive.qcow2" },
    { source: "/vms/.images/debian.qcow2", path: "backing-1/1-debian.qcow2" },
  ]);
  // Imported as "web" in another VMDIR: each overlay onto the next, relative inside the VM.
  assert.deepEqual(planRebases(manifest, "/new/.import-web-1/vm", "/new/web", "/new"), [
    {
      image: "/new/.import-web-1/vm/drive.qcow2",
      backing: "backing-1/0-drive.qcow2",
      format: "qcow2",
    },
    {
      image: "/new/.import-web-1/vm/backing-1/0-drive.qcow2",
      backing: "1-debian.qcow2",
      format: "qcow2",
    },
  ]);
});

Deno.test("tar plan --no-backing: backing named relative to VMDIR, found again in the new one", () => {
  const outside = { ...CLONE, chain: [{ path: "/srv/base.qcow2", format: "qcow2" }] };
  const a = planExport("lnk", "/vms/lnk", "/vms", [CLONE], new Set(), true);
  assert.deepEqual(a.backing, []);
  assert.deepEqual(a.manifest.images, [
    { format: "qcow2", path: "drive.qcow2", backing: 1 },
    { format: "qcow2", external: "src/drive.qcow2", backing: 2 },
    { format: "qcow2", external: ".images/debian.qcow2" },
  ]);
  assert.deepEqual(planRebases(a.manifest, "/n/.x/vm", "/n/web", "/n"), [{
    image: "/n/.x/vm/drive.qcow2",
    backing: "../src/drive.qcow2",
    format: "qcow2",
    external: "/n/src/drive.qcow2",
  }]);
  const b = planExport("lnk", "/vms/lnk", "/vms", [outside], new Set(), true);
  assert.deepEqual(
    planRebases(b.manifest, "/n/.x/vm", "/n/web", "/n")[0]?.backing,
    "/srv/base.qcow2",
  );
});

Deno.test("tar manifest: refused unless it is ours and stays inside the VM", () => {
  const good = {
    format: TAR_FORMAT,
    version: 1,
    name: "x",
    images: [{ format: "qcow2", path: "d.qcow2" }],
  };
  assert.deepEqual(parseManifest(JSON.stringify(good)), good);
  const bad: [unknown, RegExp][] = [
    ["not json", /not JSON/],
    [{ ...good, format: "other" }, /not made by "vm export tar"/],
    [{ ...good, version: 2 }, /version 2/],
    [{ ...good, images: [{ format: "qcow2", path: "../etc/passwd" }] }, /bad image entry 0/],
    [{ ...good, images: [{ format: "qcow2", path: "/etc/passwd" }] }, /bad image entry 0/],
    [{ ...good, images: [{ format: "qcow2", path: "a", backing: 0 }] }, /bad image entry 0/],
    [{ ...good, images: [{ format: "qcow2", path: "a", external: "b" }] }, /bad image entry 0/],
    [{ ...good, images: [{ format: "q c", path: "a" }] }, /bad image entry 0/],
  ];
  for (const [m, re] of bad) {
    assert.throws(() => parseManifest(typeof m === "string" ? m : JSON.stringify(m)), re);
  }
  assert.equal(freeName("backing", new Set(["backing", "backing-1"])), "backing-2");
});

// The pure parts of `vm backup`: ids, the manifest's checks, chains, when a
// backup may be incremental, the prune plan; and the QMP side's parsing and
// transaction (lib/qemu/block_backup.ts).

import assert from "node:assert/strict";
import {
  bitmapName,
  chainOf,
  incrementalBlocker,
  isBackupId,
  type Manifest,
  newBackupId,
  parseManifest,
  prunePlan,
} from "../../lib/vm/backup_manifest.ts";
import {
  jobId,
  nextPause,
  ownerPid,
  parseBlockNodes,
  targetNode,
  transactionActions,
} from "../../lib/qemu/block_backup.ts";
import { backingName, backupStore } from "../../lib/vm/backup_store.ts";
import { InvalidNameError } from "../../lib/errors.ts";
import { blocker } from "../../lib/actions/backup_work.ts";

function manifest(id: string, time: number, parent?: string): Manifest {
  const m: Manifest = {
    version: 1,
    id,
    vm: "web",
    time,
    kind: parent === undefined ? "full" : "incremental",
    live: true,
    frozen: false,
    disks: [{ name: "drive.qcow2", file: "disk-0.qcow2", format: "qcow2", size: 16, bytes: 1 }],
    config: ["templates/drive", "wait"],
    bitmap: bitmapName(id),
  };
  if (parent !== undefined) m.parent = parent;
  return m;
}

const A = "20261206-090000", B = "20261206-100000", C = "20261206-110000";
const D = "20261206-120000";

Deno.test("newBackupId: UTC date-time, a suffix when the second is taken", () => {
  const ms = Date.UTC(2026, 11, 6, 9, 30, 12);
  assert.equal(newBackupId(ms, []), "20261206-093012");
  assert.equal(newBackupId(ms, ["20261206-093012"]), "20261206-093012-2");
  assert.equal(newBackupId(ms, ["20261206-093012", "20261206-093012-2"]), "20261206-093012-3");
  assert.ok(isBackupId("20261206-093012-3"));
  assert.ok(!isBackupId(".backup-web-12"));
  assert.ok(!isBackupId("../x"));
});

Deno.test("parseManifest: a written manifest reads back; every wrong field is a SyntaxError", () => {
  const m = manifest(B, 2, A);
  assert.deepEqual(parseManifest(JSON.stringify(m)), m);
  const bad: Record<string, unknown>[] = [
    { version: 2 },
    { id: "../x" },
    { kind: "partial" },
    { parent: undefined },
    { disks: [] },
    { disks: [{ ...m.disks[0], file: "../../etc/passwd" }] },
    { config: ["../hooks"] },
    { config: ["/etc/passwd"] },
    { frozen: "yes" },
  ];
  for (const change of bad) {
    assert.throws(() => parseManifest(JSON.stringify({ ...m, ...change })), SyntaxError);
  }
  assert.throws(
    () => parseManifest(JSON.stringify({ ...manifest(A, 1), parent: A })),
    SyntaxError,
  );
  assert.throws(() => parseManifest("{"), SyntaxError);
});

Deno.test("chainOf: a backup down to its full one; a missing link is named", () => {
  const all = [manifest(A, 1), manifest(B, 2, A), manifest(C, 3, B)];
  assert.deepEqual(chainOf(all, C).map((b) => b.id), [C, B, A]);
  assert.deepEqual(chainOf(all, A).map((b) => b.id), [A]);
  assert.throws(() => chainOf([all[1]!, all[2]!], C), new RegExp(`"${B}" needs "${A}"`));
  assert.throws(() => chainOf(all, D), /no backup/);
  assert.throws(() => chainOf([manifest(A, 1, B), manifest(B, 2, A)], A), /loop/);
});

Deno.test("incrementalBlocker: the first, a raw disk, changed disks, no bitmap: full, saying why", () => {
  const disk = { name: "drive.qcow2", size: 16, format: "qcow2" };
  assert.equal(incrementalBlocker(manifest(A, 1), [disk]), undefined);
  assert.match(incrementalBlocker(undefined, [disk]) ?? "", /first/);
  assert.match(
    incrementalBlocker(manifest(A, 1), [{ ...disk, format: "raw" }]) ?? "",
    /raw, which holds no dirty bitmap: every backup is full/,
  );
  assert.match(incrementalBlocker(manifest(A, 1), [{ ...disk, size: 32 }]) ?? "", /changed/);
  assert.match(incrementalBlocker(manifest(A, 1), [disk, disk]) ?? "", /changed/);
  const noBitmap = manifest(A, 1);
  delete noBitmap.bitmap;
  assert.match(incrementalBlocker(noBitmap, [disk]) ?? "", /no bitmap/);
});

Deno.test("prunePlan: the oldest go, each merged into its successor first", () => {
  const all = [manifest(A, 1), manifest(B, 2, A), manifest(C, 3, B), manifest(D, 4)];
  assert.deepEqual(prunePlan(all, 4), []);
  assert.deepEqual(prunePlan(all, 2), [
    { remove: A, successors: [B] },
    { remove: B, successors: [C] },
  ]);
  // Keeping one: the incrementals are folded into C (full), then C itself goes.
  assert.deepEqual(prunePlan(all, 1), [
    { remove: A, successors: [B] },
    { remove: B, successors: [C] },
    { remove: C, successors: [] },
  ]);
  const chain = [manifest(A, 1), manifest(B, 2, A), manifest(C, 3, B)];
  assert.deepEqual(prunePlan(chain, 1), [
    { remove: A, successors: [B] },
    { remove: B, successors: [C] },
  ]);
  // An incremental removed before its successor: the successor is rebased onto its parent.
  const kept = [manifest(A, 1), manifest(B, 2, A), manifest(C, 3, B)];
  const plan = prunePlan([kept[1]!, kept[2]!, kept[0]!], 2);
  assert.deepEqual(plan, [{ remove: A, successors: [B] }]);
});

Deno.test("backup store: $VMDIR/.backups/<vm> or DIR/<vm>; backing names relative", () => {
  assert.equal(backupStore("/v", "web"), "/v/.backups/web");
  assert.equal(backupStore("/v", "web", "/mnt/b"), "/mnt/b/web");
  assert.throws(() => backupStore("/v", "../etc"), InvalidNameError);
  assert.throws(() => backupStore("/v", ".backups"), InvalidNameError);
  assert.equal(backingName("/v/.backups/web", A, "disk-0.qcow2"), `../${A}/disk-0.qcow2`);
});

Deno.test("block nodes: query-block's drives, files against the VM directory, bitmaps", () => {
  const reply = [
    {
      device: "virtio0",
      inserted: {
        "node-name": "#block123",
        drv: "qcow2",
        image: { filename: "./drive.qcow2", "virtual-size": 16777216 },
        "dirty-bitmaps": [
          { name: bitmapName(A), persistent: true, recording: true },
          { name: "x", persistent: false, inconsistent: true },
        ],
      },
    },
    { device: "ide1-cd0", removable: true },
  ];
  assert.deepEqual(parseBlockNodes(reply, "/v/web"), [{
    node: "#block123",
    file: "/v/web/drive.qcow2",
    format: "qcow2",
    size: 16777216,
    bitmaps: [
      { name: bitmapName(A), persistent: true, inconsistent: false },
      { name: "x", persistent: false, inconsistent: true },
    ],
  }]);
  assert.deepEqual(parseBlockNodes({ nonsense: 1 }, "/"), []);
});

Deno.test("transaction: the new bitmap beside each job; incremental = sync bitmap, mode never", () => {
  const actions = transactionActions([
    { id: jobId(0, 7), node: "#b1", target: targetNode(0, 7), newBitmap: bitmapName(B) },
    { id: jobId(1, 7), node: "#b2", target: targetNode(1, 7), since: bitmapName(A) },
  ]);
  assert.deepEqual(actions.map((a) => a.type), [
    "block-dirty-bitmap-add",
    "blockdev-backup",
    "blockdev-backup",
  ]);
  assert.deepEqual(actions[0]?.data, { node: "#b1", name: bitmapName(B), persistent: true });
  assert.equal((actions[1]?.data as Record<string, unknown>).sync, "full");
  const inc = actions[2]?.data as Record<string, unknown>;
  assert.equal(inc.sync, "bitmap");
  assert.equal(inc["bitmap-mode"], "never");
  assert.deepEqual(inc["x-perf"], { "max-chunk": 256 * 1024 });
  const plain = transactionActions([{ id: "j", node: "n", target: "t" }], false);
  assert.equal((plain[0]?.data as Record<string, unknown>)["x-perf"], undefined);
  assert.equal(inc.bitmap, bitmapName(A));
  assert.equal(ownerPid(jobId(3, 42)), 42);
  assert.equal(ownerPid(targetNode(3, 42)), 42);
  assert.equal(ownerPid("#block12"), undefined);
});

Deno.test("blocker: a lost or inconsistent bitmap, a missing file of the chain: full, saying why", () => {
  const store = Deno.makeTempDirSync({ prefix: "backup-store-" });
  try {
    const all = [manifest(A, 1), manifest(B, 2, A)];
    for (const id of [A, B]) {
      Deno.mkdirSync(`${store}/${id}`);
      Deno.writeFileSync(`${store}/${id}/disk-0.qcow2`, new Uint8Array(1));
    }
    const disk = (bitmaps: [string, boolean][]) => ({
      path: "/v/web/drive.qcow2",
      name: "drive.qcow2",
      format: "qcow2",
      size: 16,
      bitmaps: new Map(bitmaps),
    });
    const last = all[1]!;
    assert.equal(blocker(all, last, [disk([[bitmapName(B), true]])], store), undefined);
    assert.match(blocker(all, last, [disk([])], store) ?? "", /bitmap of backup .* is gone/);
    assert.match(
      blocker(all, last, [disk([[bitmapName(B), false]])], store) ?? "",
      /inconsistent \(QEMU did not close the disk cleanly\)/,
    );
    Deno.removeSync(`${store}/${A}/disk-0.qcow2`);
    assert.match(
      blocker(all, last, [disk([[bitmapName(B), true]])], store) ?? "",
      new RegExp(`chain of backup ${B} is broken: "${A}/disk-0.qcow2" is missing`),
    );
    assert.match(blocker([last], last, [disk([[bitmapName(B), true]])], store) ?? "", /needs/);
  } finally {
    Deno.removeSync(store, { recursive: true });
  }
});

Deno.test("job looks: growing pauses, the next one at about the jobs' end", () => {
  assert.equal(nextPause(20, 0, 0, 100, 20), 40, "no progress yet: the pause grows");
  assert.equal(nextPause(200, 0, 100, 1000, 100), 250, "far from the end: at most 250 ms");
  assert.equal(nextPause(250, 0, 900, 1000, 100), 20, "the end is near: soon");
  assert.equal(nextPause(250, 0, 500, 1000, 100), 105, "the end in 100 ms: then");
  assert.equal(nextPause(250, 0, 1000, 1000, 100), 20, "all copied: they conclude soon");
});

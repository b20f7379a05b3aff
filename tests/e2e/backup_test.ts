// `vm backup` of a running test guest writing to its disk: a full live backup,
// stop, a raw copy; start, 4 MiB written elsewhere, an incremental live backup
// (small), stop, a second copy; `vm backup list` shows both; `vm restore --as`
// of each gives the copies exactly (qemu-img compare); after `prune --keep 1`
// the one left still does. Then `kill -9` and Ctrl-C of
// `vm backup` mid-job leave no entry in the list, `vm doctor` reports the
// killed one's leftover, and the next backup works (and removes it). A stopped VM's
// backups go through qemu-storage-daemon: full, then (after writes while it ran)
// incremental, small and exact; Ctrl-C and kill -9 of one leave no daemon behind.
// Slow (a quarter of a minute or more of guests): left out of test:quick.

import assert from "node:assert/strict";
import { join } from "node:path";
import { F } from "../../lib/layout.ts";
import { QmpClient } from "../../lib/qemu/qmp.ts";
import { quoteWords } from "../../lib/text/shell_words.ts";
import { run, sleep, test, type TestEnv, type VmRun, withEnv } from "../support/harness.ts";
import { skippable } from "../support/skip.ts";
import { guestArgs, testGuest, waitForText } from "../support/guest.ts";

const MIB = 2 ** 20;

async function ok(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  assert.equal(r.code, 0, `${cmd} ${args.join(" ")}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

async function vmOk(t: TestEnv, args: string[]): Promise<VmRun> {
  const r = await t.vm(args);
  assert.equal(r.code, 0, `vm ${args.join(" ")}: ${r.stdout}${r.stderr}`);
  return r;
}

/** Writes `mib` MiB of random data at the start of qcow2 image `disk`. */
async function fill(t: TestEnv, disk: string, mib: number): Promise<void> {
  const data = join(t.root, "data.raw");
  await ok("sh", ["-c", `head -c ${mib * MIB} /dev/urandom > ${data}`]);
  await ok("qemu-img", ["convert", "-n", "-f", "raw", "-O", "qcow2", data, disk]);
  Deno.removeSync(data);
}

/** Points the guest template at a boot whose script writes 4 MiB of random data at `seekMiB`. */
async function bootWriting(t: TestEnv, dir: string, seekMiB: number, mark: string): Promise<void> {
  const script = `dd if=/dev/urandom of=/dev/vda bs=1M count=4 seek=${seekMiB} conv=fsync ` +
    `2>/dev/null; sync; echo ${mark}`;
  const args = [
    ...guestArgs(await testGuest(), { mem: "128M", run: script }),
    "-chardev",
    "file,id=ser0,path=guest.log,append=on",
    "-serial",
    "chardev:ser0",
    "-drive",
    "file=./drive.qcow2,if=virtio,format=qcow2,id=d0",
  ];
  Deno.writeTextFileSync(join(dir, "templates", "guest"), quoteWords(args) + "\n");
  await vmOk(t, ["start", "web"]);
  assert.ok(await waitForText(join(dir, "guest.log"), mark, 60_000), `guest wrote (${mark})`);
}

interface Listed {
  id: string;
  kind: string;
  bytes: number;
  parent: string | null;
}

async function list(t: TestEnv): Promise<Listed[]> {
  return JSON.parse((await vmOk(t, ["backup", "list", "web", "--json"])).stdout) as Listed[];
}

/** Waits until the `vm backup` of PID `pid` has written `min` bytes into its target. */
async function midJob(store: string, pid: number, min: number): Promise<void> {
  const file = join(store, `.backup-web-${pid}`, "disk-0.qcow2");
  for (let i = 0; i < 1000; i++) {
    try {
      if (Deno.statSync(file).size >= min) return;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    await sleep(10);
  }
  throw new Error(`the backup never wrote ${min} bytes into ${file}`);
}

test("vm backup: live full and incremental, exact restores, prune, kill -9 and Ctrl-C", async (t) => {
  const dir = await t.makeGuestVm("web", { log: false });
  for (const tpl of ["drive", "drive-virtio"]) {
    try {
      Deno.removeSync(join(dir, "templates", tpl));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  t.startRunsvdir();
  const copy1 = join(t.root, "copy1.raw");
  const copy2 = join(t.root, "copy2.raw");
  const disk = join(dir, "drive.qcow2");
  // 256 MiB of data, so that a full backup is large and a job lasts long enough to be killed.
  await ok("qemu-img", ["resize", "-q", disk, "300M"]);
  await fill(t, disk, 256);

  // Full, live.
  await bootWriting(t, dir, 2, "WROTE-ONE");
  let r = await vmOk(t, ["backup", "web"]);
  assert.match(r.stderr, /Backup \S+ of "web".*full, live/);
  await vmOk(t, ["stop", "web"]);
  await ok("qemu-img", ["convert", "-O", "raw", disk, copy1]);

  // Incremental, live.
  await bootWriting(t, dir, 9, "WROTE-TWO");
  r = await vmOk(t, ["backup", "web"]);
  assert.match(r.stderr, /Backup \S+ of "web".*incremental, live/);
  await vmOk(t, ["stop", "web"]);
  await ok("qemu-img", ["convert", "-O", "raw", disk, copy2]);

  const [full, incr] = await list(t);
  assert.ok(full && incr, "two backups listed");
  assert.equal(full.kind, "full");
  assert.equal(incr.kind, "incremental");
  assert.equal(incr.parent, full.id);
  assert.ok(full.bytes > 256 * MIB, `the full backup holds the data: ${full.bytes} bytes`);
  assert.ok(incr.bytes < 6 * MIB, `the incremental is small: ${incr.bytes} bytes`);
  const store = join(t.vmdir, ".backups", "web");
  assert.equal(Deno.statSync(store).mode! & 0o777, 0o700);
  assert.equal(Deno.statSync(join(store, incr.id, "disk-0.qcow2")).mode! & 0o777, 0o600);
  const info = JSON.parse(
    await ok("qemu-img", ["info", "--output=json", join(store, incr.id, "disk-0.qcow2")]),
  );
  assert.equal(info["backing-filename"], `../${full.id}/disk-0.qcow2`);

  // Restores, as new VMs, identical to the copies.
  await vmOk(t, ["restore", "web", full.id, "--as", "r1"]);
  await vmOk(t, ["restore", "web", incr.id, "--as", "r2"]);
  await ok("qemu-img", ["compare", copy1, join(t.dir("r1"), "drive.qcow2")]);
  await ok("qemu-img", ["compare", copy2, join(t.dir("r2"), "drive.qcow2")]);
  assert.ok((await run("qemu-img", ["compare", copy1, copy2])).code !== 0, "the copies differ");
  assert.ok(Deno.statSync(join(t.dir("r1"), "down")).isFile, "restored VM is down");
  assert.equal(Deno.statSync(t.dir("r1")).mode! & 0o777, 0o700);

  // Prune: the incremental takes the full one's data in.
  await vmOk(t, ["backup", "prune", "web", "--keep", "1"]);
  const left = await list(t);
  assert.deepEqual(left.map((b) => [b.id, b.kind]), [[incr.id, "full"]]);
  await vmOk(t, ["restore", "web", incr.id, "--as", "r3"]);
  await ok("qemu-img", ["compare", copy2, join(t.dir("r3"), "drive.qcow2")]);

  // A lost bitmap (qemu-img removed it from the stopped disk): one line, the backup is full.
  await ok("qemu-img", ["bitmap", "--remove", disk, `vm-backup-${incr.id}`]);
  await bootWriting(t, dir, 100, "WROTE-THREE");
  r = await t.vm(["restore", "web", incr.id]);
  assert.equal(r.code, 1, `refused while the VM runs: ${r.stderr}`);
  r = await vmOk(t, ["backup", "web"]);
  assert.match(r.stderr, /^vm: web: full backup: the bitmap of backup \S+ is gone from disk/m);
  assert.match(r.stderr, /full, live/);
  const base = (await list(t)).at(-1)!;

  // Ctrl-C and kill -9 mid-job (a full backup: 256 MiB to copy): no entry in the list.
  for (const how of ["SIGINT", "SIGKILL"] as const) {
    const child = t.spawn(t.vmExe, { args: ["backup", "web", "--full"], stderr: "piped" });
    await midJob(store, child.pid, 2 * MIB);
    child.kill(how);
    const st = await child.status;
    const err = new TextDecoder().decode(await new Response(child.stderr).bytes());
    if (how === "SIGINT") {
      assert.equal(st.code, 130, err);
      assert.match(err, /cancelled; nothing was kept/);
      assert.ok(!Deno.readDirSync(store).some((e) => e.name.startsWith(".backup-")), "no leftover");
    } else {
      const doc = await t.vm(["doctor"]);
      assert.match(doc.stdout + doc.stderr, /interrupted "vm backup web"/);
    }
    assert.deepEqual((await list(t)).map((b) => b.id), [incr.id, base.id], "no broken entry");
  }
  r = await vmOk(t, ["backup", "web"]);
  assert.match(r.stderr, /removed 1 unfinished backup/);
  assert.match(r.stderr, /incremental, live/);
  assert.ok(!Deno.readDirSync(store).some((e) => e.name.startsWith(".backup-")), "cleaned");

  // A broken chain: list says so, the next backup is full and says why.
  Deno.removeSync(join(store, base.id, "disk-0.qcow2"));
  r = await vmOk(t, ["backup", "list", "web"]);
  assert.match(r.stderr, new RegExp(`backup ${base.id} of VM "web" cannot be restored`));
  r = await vmOk(t, ["backup", "web"]);
  assert.match(r.stderr, /full backup: the chain of backup \S+ is broken: .* is missing/);
  assert.match(r.stderr, /full, live/);

  // The VM gone mid-backup (vm kill: at once): the backup fails cleanly; the next one
  // (stopped) is full, and starts a bitmap: the one after it, running, is incremental.
  const before = (await list(t)).map((b) => b.id);
  const child = t.spawn(t.vmExe, { args: ["backup", "web", "--full"], stderr: "piped" });
  await midJob(store, child.pid, 2 * MIB);
  await vmOk(t, ["kill", "web"]);
  const st = await child.status;
  const err = new TextDecoder().decode(await new Response(child.stderr).bytes());
  assert.equal(st.code, 111, err);
  assert.match(err, /QEMU went away .*nothing was kept/);
  assert.deepEqual((await list(t)).map((b) => b.id), before);
  r = await vmOk(t, ["backup", "web"]);
  assert.match(r.stderr, /full, stopped/);
  await bootWriting(t, dir, 20, "WROTE-FOUR");
  r = await vmOk(t, ["backup", "web"]);
  assert.match(r.stderr, /incremental, live/);

  // Stopped, through qemu-storage-daemon: 4 MiB more written while it runs (through
  // QEMU's block layer, as a guest write goes), stop: the backup is incremental, small,
  // and restores exactly; the next one too (its bitmap was written at the daemon's quit).
  const qmp = await QmpClient.connect(join(dir, F.qmp));
  try {
    await qmp.execute("human-monitor-command", {
      "command-line": `qemu-io d0 "write -P 0x5a 40M 4M"`,
    });
  } finally {
    qmp.close();
  }
  await vmOk(t, ["stop", "web"]);
  const copy3 = join(t.root, "copy3.raw");
  await ok("qemu-img", ["convert", "-O", "raw", disk, copy3]);
  r = await vmOk(t, ["backup", "web"]);
  assert.match(r.stderr, /incremental, stopped/);
  const stopped = (await list(t)).at(-1)!;
  assert.equal(stopped.kind, "incremental");
  assert.ok(stopped.bytes < 6 * MIB, `the stopped incremental is small: ${stopped.bytes} bytes`);
  await vmOk(t, ["restore", "web", stopped.id, "--as", "r4"]);
  await ok("qemu-img", ["compare", copy3, join(t.dir("r4"), "drive.qcow2")]);
  r = await vmOk(t, ["backup", "web"]);
  assert.match(r.stderr, /incremental, stopped/);
  const again = (await list(t)).at(-1)!;
  assert.ok(again.bytes < MIB, `nothing written since: ${again.bytes} bytes`);

  // Ctrl-C and kill -9 of a stopped VM's backup: the daemon is ended (Ctrl-C) or reported
  // by vm doctor and ended by the next backup (kill -9); no entry in the list.
  const listed = (await list(t)).map((b) => b.id);
  const tmpBefore = new Set([...Deno.readDirSync("/tmp")].map((e) => e.name));
  for (const how of ["SIGINT", "SIGKILL"] as const) {
    const child = t.spawn(t.vmExe, { args: ["backup", "web", "--full"], stderr: "piped" });
    await midJob(store, child.pid, 2 * MIB);
    child.kill(how);
    const st = await child.status;
    const err = new TextDecoder().decode(await new Response(child.stderr).bytes());
    if (how === "SIGINT") {
      assert.equal(st.code, 130, err);
      assert.match(err, /cancelled; nothing was kept/);
      const doc = await t.vm(["doctor"]);
      assert.doesNotMatch(doc.stdout + doc.stderr, /qemu-storage-daemon/);
    } else {
      const doc = await t.vm(["doctor"]);
      assert.match(
        doc.stdout + doc.stderr,
        new RegExp(`qemu-storage-daemon of "vm backup" \\(PID ${child.pid}\\) \\(PID \\d+\\) runs`),
      );
    }
    assert.deepEqual((await list(t)).map((b) => b.id), listed, "no broken entry");
  }
  r = await vmOk(t, ["backup", "web"]);
  assert.match(r.stderr, /ended 1 qemu-storage-daemon/);
  assert.match(r.stderr, /incremental, stopped/);
  assert.ok(!Deno.readDirSync(store).some((e) => e.name.startsWith(".backup-")), "cleaned");
  const doc = await t.vm(["doctor"]);
  assert.doesNotMatch(doc.stdout + doc.stderr, /qemu-storage-daemon/);
  assert.ok(
    ![...Deno.readDirSync("/tmp")].some((e) =>
      e.name.startsWith("vm-qsd-") && !tmpBefore.has(e.name)
    ),
    "no socket directory of a daemon left in /tmp",
  );
});

Deno.test({
  ...skippable(
    "vm backup --to a full file system: one line, nothing kept, the next backup works",
    Deno.uid() === 0 ? undefined : "mounting a small tmpfs needs root",
  ),
  fn: () =>
    withEnv({}, async (t) => {
      const dir = await t.makeGuestVm("web", { log: false });
      await fill(t, join(dir, "drive.qcow2"), 12);
      t.startRunsvdir();
      await bootWriting(t, dir, 1, "WROTE");
      const small = join(t.root, "small");
      Deno.mkdirSync(small);
      await ok("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", small]);
      try {
        const r = await t.vm(["backup", "web", "--to", small]);
        assert.equal(r.code, 111, r.stderr);
        assert.match(r.stderr, /^vm: fatal: Backup of VM "web" failed: .*No space left on device/);
        assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
        assert.deepEqual([...Deno.readDirSync(join(small, "web"))], [], "nothing kept");
      } finally {
        await ok("umount", [small]);
      }
      const r = await vmOk(t, ["backup", "web"]);
      assert.match(r.stderr, /full, live/);
      await vmOk(t, ["stop", "web"]);
    }),
});

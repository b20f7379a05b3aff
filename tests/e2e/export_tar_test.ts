// `vm export tar` | `vm import tar`: a linked clone (overlay on another VM's
// disk) plus a sparse raw disk moved into another VMDIR through a pipe, the
// disks compared with qemu-img compare, the holes kept, and the test guest
// booted from the imported VM with its overlay rebased onto the copied
// backing image (imported with --trust: its kernel is a host file). Also: a
// taken name is refused and a bad archive leaves nothing.

import assert from "node:assert/strict";
import { quoteWord } from "../../lib/text/shell_words.ts";
import { join } from "node:path";
import { qemuUp, run, TestEnv } from "../support/harness.ts";
import { GUEST_READY, type TestGuest, testGuest, waitForText } from "../support/guest.ts";

const DRIVE = "-drive file=./drive.qcow2,if=virtio,format=qcow2\n";

async function ok(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  assert.equal(r.code, 0, `${cmd} ${args.join(" ")}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/**
 * VM "lnk" in `t`: a linked clone of the test guest VM "src" (written to
 * first), with data of its own in its overlay, a 64M sparse raw disk with
 * 1M written at 32M, and a known_hosts file. Returns its directory.
 */
async function linkedCloneWithData(t: TestEnv, guest: TestGuest): Promise<string> {
  await t.makeGuestVm("src", guest, { extra: DRIVE, log: false });
  await ok("qemu-io", ["-c", "write -P 0xab 0 1M", join(t.dir("src"), "drive.qcow2")]);
  assert.equal((await t.vm(["clone", "src", "lnk", "--linked"])).code, 0);
  const lnk = t.dir("lnk");
  await ok("qemu-io", ["-c", "write -P 0xcd 4M 1M", join(lnk, "drive.qcow2")]);
  await ok("qemu-img", ["create", "-q", "-f", "raw", join(lnk, "data.raw"), "64M"]);
  await ok("qemu-io", ["-f", "raw", "-c", "write -P 0x5a 32M 1M", join(lnk, "data.raw")]);
  Deno.writeTextFileSync(
    join(lnk, "templates", "data"),
    "-drive file=./data.raw,format=raw,if=virtio\n",
  );
  Deno.writeTextFileSync(join(lnk, "known_hosts"), "[127.0.0.1]:2222 ssh-ed25519 AAAA\n");

  return lnk;
}

Deno.test("export tar | import tar: linked clone and sparse disk move to another VMDIR and boot", async () => {
  const guest = await testGuest();
  const a = TestEnv.create();
  const b = TestEnv.create();
  try {
    const lnk = await linkedCloneWithData(a, guest);

    // As `vm export tar lnk - | ssh host vm import tar - moved --trust`, and once more to a
    // file. --trust: the test guest's kernel and initrd are host files outside the VM.
    const pipe = `VMDIR=${a.vmdir} ${quoteWord(a.vmExe)} export tar lnk - | ` +
      `VMDIR=${b.vmdir} ${quoteWord(b.vmExe)} import tar - moved --trust`;
    const r = await new Deno.Command("sh", { args: ["-c", pipe], env: a.env, clearEnv: true })
      .output();
    const dec = new TextDecoder();
    assert.equal(r.code, 0, dec.decode(r.stdout) + dec.decode(r.stderr));
    assert.match(
      dec.decode(r.stderr),
      /^vm import tar: templates\/guest:1: .*: kept \(--trust\)$/m,
    );
    const file = join(a.root, "lnk.tar");
    assert.equal((await a.vm(["export", "tar", "lnk", file])).code, 0);
    assert.ok(
      Deno.statSync(file).size < 8 * 2 ** 20,
      "the 64M raw disk's holes are not in the archive",
    );

    const moved = b.dir("moved");
    for (const disk of ["drive.qcow2", "data.raw"]) {
      await ok("qemu-img", ["compare", join(lnk, disk), join(moved, disk)]);
    }
    const st = Deno.statSync(join(moved, "data.raw"));
    assert.equal(st.size, 64 * 2 ** 20);
    assert.ok((st.blocks ?? 0) * 512 < 8 * 2 ** 20, `holes kept (${st.blocks} blocks)`);
    const info = JSON.parse(
      await ok("qemu-img", ["info", "--output=json", join(moved, "drive.qcow2")]),
    );
    assert.match(info["backing-filename"], /^backing\/0-drive\.qcow2$/);
    assert.equal(
      Deno.readTextFileSync(join(moved, "known_hosts")),
      "[127.0.0.1]:2222 ssh-ed25519 AAAA\n",
    );
    assert.ok(Deno.lstatSync(join(moved, "down")).isFile, "imported VMs are down");
    assert.equal(Deno.readLinkSync(join(moved, "run")), "../.default/run");
    assert.equal(Deno.statSync(moved).mode! & 0o777, 0o700);

    // The same name again: refused, nothing left behind.
    const again = await b.vm(["import", "tar", file, "moved"]);
    assert.equal(again.code, 100, again.stderr);
    const bad = join(b.root, "bad.tar");
    Deno.writeTextFileSync(bad, "not a tar archive\n".repeat(100));
    assert.notEqual((await b.vm(["import", "tar", bad, "other"])).code, 0);
    assert.deepEqual([...Deno.readDirSync(b.vmdir)].map((e) => e.name).sort(), [
      ".default",
      "moved",
    ]);

    // The guest boots from the imported VM, its overlay on the copied backing image.
    b.startRunsvdir();
    const start = await b.vm(["start", "moved"]);
    assert.equal(start.code, 0, start.stderr);
    await qemuUp(moved);
    assert.ok(await waitForText(join(moved, "guest.log"), GUEST_READY, 60_000), "guest booted");
    const q = await b.vm(["qmp", "moved", "query-block"]);
    assert.equal(q.code, 0, q.stderr);
    type Block = { inserted?: { file: string; backing_file?: string; backing_file_depth: number } };
    const disk = (JSON.parse(q.stdout) as Block[]).find((d) =>
      d.inserted?.file === "./drive.qcow2"
    );
    assert.equal(disk?.inserted?.backing_file, "./backing/0-drive.qcow2", q.stdout);
    assert.equal(disk?.inserted?.backing_file_depth, 1);
    assert.equal((await b.vm(["stop", "moved"])).code, 0);
  } finally {
    await b.close();
    await a.close();
  }
});

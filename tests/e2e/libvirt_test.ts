// libvirt for real: the test guest VM exported with `vm export libvirt
// --define` to a libvirtd started for the test, booted with `virsh start`
// (TCG), powered off gracefully with `virsh shutdown`; then the domain
// imported back with `vm import libvirt`, started under runit, the same
// guest boots, and its QEMU arguments keep the kernel, initrd and disk.
// Needs: apt-get install libvirt-daemon-system libvirt-clients. Takes ~40 s; where
// /dev/kvm belongs to a group libvirt-qemu is not in (some containers), libvirtd
// probes QEMU again on every capabilities lookup and domxml-to-native takes ~1 min more.

import assert from "node:assert/strict";
import { join } from "node:path";
import { qemuUp, TestEnv, waitFor } from "../support/harness.ts";
import { GUEST_POWERDOWN, GUEST_READY, testGuest } from "../support/guest.ts";
import { Libvirtd } from "../support/libvirtd.ts";
import { diskPaths } from "../../lib/qemu/drives.ts";
import { splitWords } from "../../lib/text/shell_words.ts";

function count(file: string, marker: string): number {
  try {
    return Deno.readTextFileSync(file).split(marker).length - 1;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return 0;
    throw e;
  }
}

/** The value after `opt` in `args`. */
function after(args: string[], opt: string): string | undefined {
  const i = args.indexOf(opt);
  return i < 0 ? undefined : args[i + 1];
}

async function vmArgs(t: TestEnv, name: string): Promise<string[]> {
  const r = await t.vm(["args", name]);
  assert.equal(r.code, 0, r.stderr);
  return splitWords(r.stdout, { file: "vm args", lookup: () => undefined });
}

Deno.test("export libvirt --define, virsh start/shutdown, import libvirt, start under runit", async () => {
  const cached = await testGuest();
  const t = TestEnv.create();
  // libvirt runs QEMU as libvirt-qemu: the guest's files and the VM must be reachable.
  Deno.chmodSync(t.root, 0o711);
  const gdir = join(t.root, "guest");
  Deno.mkdirSync(gdir, { mode: 0o755 });
  const guest = { kernel: join(gdir, "bzImage"), initrd: join(gdir, "initrd") };
  Deno.copyFileSync(cached.kernel, guest.kernel);
  Deno.copyFileSync(cached.initrd, guest.initrd);
  const name = `lvt${Deno.pid}`;
  let lv: Libvirtd | undefined;
  try {
    lv = await Libvirtd.start(join(t.root, "libvirt"));
    lv.domains.push(name);
    const dir = await t.makeGuestVm(name, guest, {
      extra: "-drive file=./drive.qcow2,if=virtio,format=qcow2\n",
      log: false,
    });
    // VM directories are private (0700): let libvirt-qemu through, as the README says.
    Deno.chmodSync(t.vmdir, 0o711);
    Deno.chmodSync(dir, 0o711);
    const log = join(dir, "guest.log");
    const env = { LIBVIRT_DEFAULT_URI: lv.uri };

    const def = await t.vm(["export", "libvirt", name, "--define"], { env });
    assert.equal(def.code, 0, def.stderr);
    assert.doesNotMatch(
      def.stderr,
      /qemu:commandline/,
      "every argument of the guest has an XML form",
    );
    const start = await lv.virsh(["start", name]);
    assert.equal(start.code, 0, start.stderr);
    assert.ok(
      await waitFor(() => count(log, GUEST_READY) === 1, 90_000),
      "guest boots under libvirt",
    );
    const down = await lv.virsh(["shutdown", name]);
    assert.equal(down.code, 0, down.stderr);
    assert.ok(
      await waitFor(() => count(log, GUEST_POWERDOWN) === 1, 60_000),
      "ACPI power-off seen",
    );
    assert.ok(await waitFor(async () => await lv!.state(name) === "shut off", 30_000));

    const imp = await t.vm(["import", "libvirt", name, "back"], { env });
    assert.equal(imp.code, 0, imp.stderr);
    assert.match(imp.stderr, /removed -S /);
    t.startRunsvdir();
    const up = await t.vm(["start", "back"]);
    assert.equal(up.code, 0, up.stderr);
    await qemuUp(t.dir("back"));
    assert.ok(
      await waitFor(() => count(log, GUEST_READY) === 2, 90_000),
      "guest boots under runit",
    );

    const before = await vmArgs(t, name);
    const now = await vmArgs(t, "back");
    for (const opt of ["-kernel", "-initrd", "-append"]) {
      assert.equal(after(now, opt), after(before, opt), opt);
    }
    assert.deepEqual(diskPaths(t.dir("back"), now), diskPaths(dir, before));
    assert.ok(!now.includes("-S") && !now.includes("-no-shutdown"), now.join(" "));
    const stop = await t.vm(["stop", "back"]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(count(log, GUEST_POWERDOWN), 2, "powered off gracefully under runit too");
  } finally {
    await lv?.stop();
    await t.close();
  }
});

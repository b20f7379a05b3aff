// libvirt for real: the test guest VM exported with `vm export libvirt
// --define` to a libvirtd started for the test, booted with `virsh start`
// (TCG), powered off gracefully with `virsh shutdown`; then the domain
// imported back with `vm import libvirt`, started under runit, the same
// guest boots, and its QEMU arguments keep the kernel, initrd and disk.
// Needs: apt-get install libvirt-daemon-system libvirt-clients. Takes ~40 s; where
// /dev/kvm belongs to a group libvirt-qemu is not in (some containers), libvirtd
// probes QEMU again on every capabilities lookup and domxml-to-native takes ~1 min more.
// Slow (a libvirtd and two boots): left out of test:quick.

import assert from "node:assert/strict";
import { join } from "node:path";
import { qemuUp, run, TestEnv, waitFor } from "../support/harness.ts";
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

// The VMs `vm make` makes with the shipped defaults, plain and --image
// (vnc's socket in supervise/, the seed on virtio, the guest agent, ports), exported,
// defined and started by libvirt. They have no OS: QEMU runs, which is what is checked.
Deno.test("exports of the default template sets start under libvirt (virsh define, start)", async () => {
  const t = TestEnv.create();
  Deno.chmodSync(t.root, 0o711);
  const plain = `lvp${Deno.pid}`;
  const cloud = `lvc${Deno.pid}`;
  let lv: Libvirtd | undefined;
  try {
    lv = await Libvirtd.start(join(t.root, "libvirt"));
    lv.domains.push(plain, cloud);
    const image = join(t.root, "image.qcow2");
    assert.equal((await run("qemu-img", ["create", "-q", "-f", "qcow2", image, "16M"])).code, 0);
    assert.equal((await t.vm(["make", plain, "--disk", "16M", "-y"])).code, 0);
    const made = await t.vm(["make", cloud, "--image", image, "--disk", "16M", "-y"]);
    assert.equal(made.code, 0, made.stderr);
    // Private directories: let libvirt-qemu through them, as the README says.
    for (const d of [t.vmdir, t.dir(plain), t.dir(cloud), join(t.vmdir, ".images")]) {
      Deno.chmodSync(d, 0o711);
    }
    const kvm = (await lv.virsh(["domcapabilities", "--virttype", "kvm"])).code === 0;
    for (const name of [plain, cloud]) {
      const r = await t.vm(["export", "libvirt", name]);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /'\.\//, "no relative path");
      // Only the forwards of an --image VM (QEMU's hostfwd=) have no XML form libvirt 9.0 takes.
      const passed = [...r.stderr.matchAll(/<qemu:commandline>: (\S+):/g)].map((m) => m[1]);
      const net = name === cloud ? ["templates/net-user-fwd:1", "templates/net-user-fwd:2"] : [];
      assert.deepEqual(passed, net, r.stderr);
      // The kvm template asks for KVM; where libvirt has none here, the domain runs under TCG.
      const xml = kvm ? r.stdout : r.stdout.replace("<domain type='kvm'", "<domain type='qemu'");
      const file = join(t.root, `${name}.xml`);
      Deno.writeTextFileSync(file, xml);
      const def = await lv.virsh(["define", file]);
      assert.equal(def.code, 0, def.stderr);
      const start = await lv.virsh(["start", name]);
      assert.equal(start.code, 0, `${name}: ${start.stderr}`);
      assert.equal(await lv.state(name), "running");
    }
    // The forward of the ports file happens: QEMU listens on its host port.
    const port = Number(/127\.0\.0\.1:(\d+) 22/.exec((await t.vm(["port", cloud])).stdout)?.[1]);
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    assert.match((await t.vm(["export", "libvirt", plain])).stderr, /VNC socket .* libvirt makes/);
    const display = await lv.virsh(["domdisplay", plain]);
    assert.match(display.stdout, /^vnc\+unix:\/\/\//, display.stderr);
  } finally {
    await lv?.stop();
    await t.close();
  }
});

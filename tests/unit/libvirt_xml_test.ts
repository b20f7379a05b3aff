// `vm export libvirt`: the domain XML for typical VMs, validated against
// libvirt's schema with virt-xml-validate (package libvirt-clients), read
// back with our XML reader, and what goes into <qemu:commandline>.

import assert from "node:assert/strict";
import { domainUuid, libvirtDomain, waitFromMetadata } from "../../lib/export/libvirt_xml.ts";
import { templateArgs, type VmModel } from "../../lib/export/vm_model.ts";
import { netTemplate, parsePorts } from "../../lib/vm/ports.ts";
import { GUEST_AGENT_TEMPLATE } from "../../lib/qemu/guest_agent.ts";
import { CLOUD_INIT_TEMPLATE } from "../../lib/cloud_init/seed_file.ts";
import { child, children, parseXml, type XmlElement } from "../../lib/export/xml.ts";
import { shown, where } from "../../lib/export/qemu_options.ts";
import { textOf } from "../support/xml_text.ts";

function model(templates: Record<string, string>, ports = ""): VmModel {
  return {
    name: "web",
    dir: "/vms/web",
    arch: "x86_64",
    args: Object.keys(templates).sort().flatMap((f) => templateArgs(templates[f] ?? "", f, {})),
    wait: 25,
    disks: [{
      path: "/vms/web/drive.qcow2",
      format: "qcow2",
      virtualSize: 2 ** 30,
      chain: [{ path: "/vms/.images/base.qcow2", format: "qcow2" }],
    }],
    ports: parsePorts(ports, "ports"),
    attachments: [],
  };
}

/** Runs virt-xml-validate on `xml`; fails the test with its output when invalid. */
async function validate(xml: string): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "vm-xml-test-" });
  try {
    Deno.writeTextFileSync(`${dir}/d.xml`, xml);
    const out = await new Deno.Command("virt-xml-validate", { args: [`${dir}/d.xml`, "domain"] })
      .output();
    const dec = new TextDecoder();
    assert.ok(out.success, dec.decode(out.stdout) + dec.decode(out.stderr) + "\n" + xml);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

const GUEST = {
  "templates/display-none": "-display none\n",
  "templates/drive": "-drive file=./drive.qcow2,if=virtio,format=qcow2\n",
  "templates/guest": "-accel tcg -m 128M -display none -no-reboot -kernel /g/bzImage " +
    "-initrd /g/initrd -append 'console=ttyS0 quiet panic=-1' " +
    "-chardev file,id=ser0,path=guest.log,append=on -serial chardev:ser0\n",
};

Deno.test("libvirt XML of the test guest: valid, every argument mapped", async () => {
  const d = libvirtDomain(model(GUEST), await domainUuid("vm:/vms/web"));
  await validate(d.xml);
  assert.deepEqual(d.commandline, []);
  const x = parseXml(d.xml);
  assert.equal(x.attrs.type, "qemu");
  assert.equal(textOf(child(x, "memory")), "128");
  assert.equal(child(x, "memory")?.attrs.unit, "MiB");
  assert.equal(textOf(child(x, "os/kernel")), "/g/bzImage");
  assert.equal(textOf(child(x, "os/cmdline")), "console=ttyS0 quiet panic=-1");
  assert.equal(textOf(child(x, "on_poweroff")), "destroy");
  assert.equal(textOf(child(x, "on_reboot")), "destroy");
  assert.equal(waitFromMetadata(x), 25);
  const disk = child(x, "devices/disk");
  assert.equal(child(disk, "source")?.attrs.file, "/vms/web/drive.qcow2");
  assert.equal(child(disk, "driver")?.attrs.type, "qcow2");
  assert.equal(child(disk, "target")?.attrs.bus, "virtio");
  assert.equal(child(disk, "backingStore/source")?.attrs.file, "/vms/.images/base.qcow2");
  const serial = child(x, "devices/serial");
  assert.deepEqual(child(serial, "source")?.attrs, { path: "/vms/web/guest.log", append: "on" });
  assert.equal(children(child(x, "devices"), "graphics").length, 0);
  assert.equal(child(x, "devices/interface")?.attrs.type, "user"); // QEMU's default NIC
  assert.match(
    d.xml,
    /<uuid>[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}<\/uuid>/,
  );
});

Deno.test("libvirt XML of a desktop VM: kvm, topology, q35 SATA CD, MACs, hostfwd ports, spice", async () => {
  const d = libvirtDomain(
    model({
      "templates/a": "-enable-kvm -m 4G -smp cores=2,threads=2 -cpu host -machine q35,smm=on\n" +
        '-drive file="./drive.qcow2",if=virtio,cache=none -cdrom seed.iso -boot order=dc\n' +
        "-nic user,model=virtio-net-pci,mac=52:54:00:AB:cd:01\n" +
        "-netdev bridge,br=br0,id=n1 -device e1000,netdev=n1,mac=52:54:00:00:00:02\n",
      "templates/b": "-serial unix:./supervise/console,server=on,wait=off\n" +
        "-chardev socket,path=./supervise/qga,server=on,wait=off,id=qga0 -device virtio-serial\n" +
        "-device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0\n" +
        "-spice port=5930,addr=127.0.0.1,disable-ticketing=on -vga qxl -device usb-tablet\n" +
        "-audiodev pa,id=snd0 -device intel-hda\n-fsdev local,id=fs0,path=./share,security_model=none\n",
    }, "tcp 127.0.0.1:2222 22\n"),
    "8b8c9a7e-1111-4222-8333-444455556666",
  );
  await validate(d.xml);
  const x = parseXml(d.xml);
  assert.equal(x.attrs.type, "kvm");
  assert.equal(x.attrs["xmlns:qemu"], "http://libvirt.org/schemas/domain/qemu/1.0");
  assert.equal(textOf(child(x, "vcpu")), "4");
  assert.deepEqual(child(x, "cpu/topology")?.attrs, { sockets: "1", cores: "2", threads: "2" });
  assert.equal(child(x, "cpu")?.attrs.mode, "host-passthrough");
  assert.equal(child(x, "os/type")?.attrs.machine, "q35");
  assert.deepEqual(children(child(x, "os"), "boot").map((b) => b.attrs.dev), ["cdrom", "hd"]);
  const disks = children(child(x, "devices"), "disk");
  assert.deepEqual(disks.map((e) => e.attrs.device), ["disk", "cdrom"]);
  assert.equal(child(disks[0], "driver")?.attrs.cache, "none");
  assert.deepEqual(child(disks[1], "target")?.attrs, { dev: "sdc", bus: "sata" });
  const nics = children(child(x, "devices"), "interface");
  // The user-mode NIC carries the ports: QEMU's hostfwd=, in <qemu:commandline> below.
  assert.deepEqual(nics.map((n) => [n.attrs.type, child(n, "mac")?.attrs.address]), [
    ["bridge", "52:54:00:00:00:02"],
  ]);
  assert.equal(child(x, "devices/serial")?.attrs.type, "pty");
  assert.equal(child(x, "devices/channel/target")?.attrs.name, "org.qemu.guest_agent.0");
  assert.equal(child(x, "devices/graphics")?.attrs.type, "spice");
  assert.equal(child(x, "devices/video/model")?.attrs.type, "qxl");
  // No XML form: in <qemu:commandline>, listed with template and line, paths made absolute.
  assert.deepEqual(d.commandline.map((g) => `${where(g)} ${shown(g)}`), [
    "templates/b:5 -audiodev pa,id=snd0",
    "templates/b:5 -device intel-hda",
    "templates/b:6 -fsdev local,id=fs0,path=/vms/web/share,security_model=none",
    "templates/a:1 -machine smm=on",
    "templates/a:3 -netdev user,id=vmnet,hostfwd=tcp:127.0.0.1:2222-:22",
    `templates/a:3 -device '{"driver":"virtio-net-pci","netdev":"vmnet","mac":"52:54:00:AB:cd:01"}'`,
  ]);
  const args = children(child(x, "qemu:commandline"), "qemu:arg").map((a) => a.attrs.value);
  assert.deepEqual(args, d.commandline.flatMap((g) => [g.word.value, g.value?.value ?? ""]));
});

Deno.test("libvirt XML: -nodefaults drops QEMU's default NIC, serial and VGA; a window becomes VNC", async () => {
  const d = libvirtDomain(
    model({ "templates/a": "-nodefaults -drive file=drive.qcow2\n" }),
    "8b8c9a7e-1111-4222-8333-444455556666",
  );
  await validate(d.xml);
  const x = parseXml(d.xml);
  const devs = child(x, "devices") as XmlElement;
  assert.deepEqual(children(devs, "interface"), []);
  assert.deepEqual(children(devs, "serial"), []);
  assert.equal(child(devs, "video/model")?.attrs.type, "none");
  assert.deepEqual(child(devs, "graphics")?.attrs, {
    type: "vnc",
    autoport: "yes",
    listen: "127.0.0.1",
  });
  assert.equal(child(devs, "disk/target")?.attrs.bus, "ide");
  assert.ok(d.notes.some((n) => /VNC/.test(n)));
});

Deno.test("libvirt XML: a seed.iso no template names is added as a CD-ROM", async () => {
  const m = { ...model({ "templates/a": "-drive file=drive.qcow2,if=virtio\n" }) };
  m.seed = { path: "/vms/web/seed.iso", sha256: "00" };
  const d = libvirtDomain(m, "8b8c9a7e-1111-4222-8333-444455556666");
  await validate(d.xml);
  const cd = children(child(parseXml(d.xml), "devices"), "disk")[1];
  assert.equal(cd?.attrs.device, "cdrom");
  assert.equal(child(cd, "source")?.attrs.file, "/vms/web/seed.iso");
  const again = libvirtDomain({ ...m, args: templateArgs("-cdrom ./seed.iso", "t", {}) }, "x");
  assert.equal((again.xml.match(/seed\.iso/g) ?? []).length, 1, "named once: not added twice");
});

Deno.test("libvirt XML: NICs on a bridge and on a private network (a libvirt network)", async () => {
  const m = model({ "templates/a": "-drive file=drive.qcow2,if=virtio\n" });
  m.attachments = [
    { kind: "bridge", bridge: "br0", mac: "52:54:00:00:00:01" },
    { kind: "net", network: "lan", mac: "52:54:00:00:00:02", ip: (10 << 24) + 5 },
  ];
  const d = libvirtDomain(m, "8b8c9a7e-1111-4222-8333-444455556666");
  await validate(d.xml);
  const nics = children(child(parseXml(d.xml), "devices"), "interface");
  assert.deepEqual(nics.map((n) => n.attrs.type), ["bridge", "network"]);
  assert.equal(child(nics[0], "source")?.attrs.bridge, "br0");
  assert.equal(child(nics[1], "source")?.attrs.network, "lan");
  assert.equal(child(nics[1], "mac")?.attrs.address, "52:54:00:00:00:02");
  assert.ok(d.notes.some((n) => n.includes('network "lan"')), d.notes.join("\n"));
});

Deno.test("XML reader: entities, CDATA, comments, self-closing, attribute quotes", () => {
  const x = parseXml(
    `<?xml version="1.0"?>\n<!-- c --><a k="1 &amp; 2" j='x'><b/><c>t &lt;&#65;&#x42;<![CDATA[<raw>]]></c></a>`,
  );
  assert.deepEqual(x.attrs, { k: "1 & 2", j: "x" });
  assert.equal(textOf(child(x, "c")), "t <AB<raw>");
  assert.throws(() => parseXml("<a><b></a>"), /closes/);
});

/** The texts of the shipped templates `names` (default/templates/). */
function shipped(...names: string[]): Record<string, string> {
  const dir = new URL("../../default/templates/", import.meta.url).pathname;
  return Object.fromEntries(
    names.map((n) => [`templates/${n}`, Deno.readTextFileSync(dir + n)]),
  );
}

Deno.test("libvirt XML of the default template sets: VNC on libvirt's socket, the seed an IDE CD", async () => {
  const plain = libvirtDomain(
    model(shipped("display-none", "drive", "kvm", "mem", "vnc")),
    "8b8c9a7e-1111-4222-8333-444455556666",
  );
  await validate(plain.xml);
  assert.deepEqual(plain.commandline, []);
  const x = parseXml(plain.xml);
  const graphics = child(x, "devices/graphics");
  assert.equal(graphics?.attrs.type, "vnc");
  assert.deepEqual(child(graphics, "listen")?.attrs, { type: "socket" });
  assert.ok(
    plain.notes.some((n) => /VNC socket "\.\/supervise\/vnc" became one libvirt makes/.test(n)),
  );

  // --image: drive-virtio, and the seed's template read last (templateOrder), as vm reads them.
  const image = model({
    ...shipped("display-none", "drive-virtio", "kvm", "mem", "vnc"),
    "templates/guest-agent": GUEST_AGENT_TEMPLATE,
    "templates/net-user-fwd": netTemplate("52:54:00:aa:bb:cc"),
    "templates/zz-seed": CLOUD_INIT_TEMPLATE,
  }, "tcp 127.0.0.1:2222 22\n");
  image.seed = { path: "/vms/web/seed.iso", sha256: "00" };
  const d = libvirtDomain(image, "8b8c9a7e-1111-4222-8333-444455556666");
  await validate(d.xml);
  const disks = children(child(parseXml(d.xml), "devices"), "disk");
  assert.deepEqual(disks.map((e) => [e.attrs.device, child(e, "target")?.attrs.bus]), [
    ["disk", "virtio"],
    ["cdrom", "ide"],
  ]);
  assert.equal(child(disks[0], "target")?.attrs.dev, "vda");
  assert.deepEqual(d.commandline.map((g) => `${where(g)} ${shown(g)}`), [
    "templates/net-user-fwd:1 -netdev user,id=vmnet,hostfwd=tcp:127.0.0.1:2222-:22",
    `templates/net-user-fwd:2 -device '{"driver":"virtio-net-pci","netdev":"vmnet","mac":"52:54:00:aa:bb:cc"}'`,
  ]);
  assert.doesNotMatch(d.xml, /'\.\//, "no relative path");
});

// `vm import libvirt`: what is kept, changed and removed of the QEMU command
// line libvirt 9.0 prints for a domain (virsh domxml-to-native qemu-argv),
// and what is refused.

import assert from "node:assert/strict";
import { importArgs, splitNativeArgv } from "../../lib/export/libvirt_import_args.ts";
import { copyNames, templateText } from "../../lib/export/libvirt_import.ts";
import { parseTemplate } from "../../lib/vm/templates.ts";
import { UsageError } from "../../lib/errors.ts";
import { interfaceBackends } from "../../lib/export/libvirt_import_net.ts";
import { parseXml } from "../../lib/export/xml.ts";

// As libvirt 9.0.0 (Debian 12) printed it for the exported test guest, with a CD-ROM and
// a guest agent channel added, and one path with a space.
const NATIVE = "LC_ALL=C PATH=/usr/local/sbin:/usr/bin HOME=/var/lib/libvirt/qemu/domain--1-g " +
  "XDG_CONFIG_HOME='/var/lib/libvirt/qemu/domain--1-g/.config' /usr/bin/qemu-system-x86_64 " +
  "-name guest=g,debug-threads=on -S " +
  `-object '{"qom-type":"secret","id":"masterKey0","format":"raw","file":"/var/lib/libvirt/qemu/domain--1-g/master-key.aes"}' ` +
  "-machine pc-i440fx-7.2,usb=off,dump-guest-core=off,memory-backend=pc.ram -accel tcg -cpu qemu64 -m 128 " +
  `-object '{"qom-type":"memory-backend-ram","id":"pc.ram","size":134217728}' ` +
  "-overcommit mem-lock=off -smp 1,sockets=1,cores=1,threads=1 -uuid f236ef6c-3951-4c97-a94e-9db054de7266 " +
  "-display none -no-user-config -nodefaults " +
  "-chardev socket,id=charmonitor,path=/var/lib/libvirt/qemu/domain--1-g/monitor.sock,server=on,wait=off " +
  "-mon chardev=charmonitor,id=monitor,mode=control -rtc base=utc -no-shutdown -boot strict=on " +
  "-kernel /g/bzImage -initrd /g/initrd -append 'console=ttyS0 quiet panic=-1' " +
  `-blockdev '{"driver":"file","filename":"/vms/my disks/g.qcow2","node-name":"libvirt-2-storage","auto-read-only":true,"discard":"unmap"}' ` +
  `-blockdev '{"node-name":"libvirt-2-format","read-only":false,"driver":"qcow2","file":"libvirt-2-storage","backing":"libvirt-3-format"}' ` +
  `-blockdev '{"driver":"file","filename":"/vms/base.qcow2","node-name":"libvirt-3-storage","auto-read-only":true,"discard":"unmap"}' ` +
  `-blockdev '{"node-name":"libvirt-3-format","read-only":true,"driver":"qcow2","file":"libvirt-3-storage","backing":null}' ` +
  `-device '{"driver":"virtio-blk-pci","bus":"pci.0","addr":"0x2","drive":"libvirt-2-format","id":"virtio-disk0","bootindex":1}' ` +
  `-blockdev '{"driver":"file","filename":"/isos/seed.iso","node-name":"libvirt-1-storage","auto-read-only":true,"discard":"unmap"}' ` +
  `-blockdev '{"node-name":"libvirt-1-format","read-only":true,"driver":"raw","file":"libvirt-1-storage"}' ` +
  `-device '{"driver":"ide-cd","bus":"ide.1","unit":0,"drive":"libvirt-1-format","id":"ide0-1-0"}' ` +
  "-chardev file,id=charserial0,path=/vms/g/guest.log,append=on " +
  `-device '{"driver":"isa-serial","chardev":"charserial0","id":"serial0","index":0}' ` +
  "-chardev socket,id=charchannel0,path=/var/lib/libvirt/qemu/channel/target/domain--1-g/org.qemu.guest_agent.0,server=on,wait=off " +
  `-device '{"driver":"virtserialport","bus":"virtio-serial0.0","nr":1,"chardev":"charchannel0","id":"channel0","name":"org.qemu.guest_agent.0"}' ` +
  "-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny -msg timestamp=on\n";

Deno.test("import libvirt: environment and binary skipped, quoting undone", () => {
  const argv = splitNativeArgv(NATIVE);
  assert.equal(argv[0], "-name");
  assert.ok(argv.includes("console=ttyS0 quiet panic=-1"));
  assert.ok(!argv.some((a) => a.startsWith("LC_ALL") || a.endsWith("qemu-system-x86_64")));
});

Deno.test("import libvirt: libvirt's own arguments removed, blockdev pairs become -drive", () => {
  const r = importArgs(splitNativeArgv(NATIVE));
  assert.deepEqual(r.dropped.map((d) => d.arg.split(" ")[0]), [
    "-name",
    "-S",
    "-object",
    "-no-user-config",
    "-chardev",
    "-mon",
    "-no-shutdown",
    "-msg",
  ]);
  assert.deepEqual(r.drives, [
    ["-drive", "file=/vms/my disks/g.qcow2,format=qcow2,if=none,id=libvirt-2-format,discard=unmap"],
    [
      "-drive",
      "file=/isos/seed.iso,format=raw,if=none,id=libvirt-1-format,readonly=on,media=cdrom,discard=unmap",
    ],
  ]);
  assert.deepEqual(r.disks, ["/vms/my disks/g.qcow2"]);
  const flat = r.rest.flat();
  assert.ok(!flat.some((a) => a.includes("/var/lib/libvirt")), flat.join(" "));
  assert.ok(!flat.includes("-blockdev"), "the backing chain's nodes are QEMU's to open again");
  const sandbox = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";
  for (const kept of ["-kernel", "/g/bzImage", "-nodefaults", "-uuid", "-sandbox", sandbox]) {
    assert.ok(flat.includes(kept), kept);
  }
  assert.ok(flat.includes(
    "socket,id=charchannel0,path=./supervise/org.qemu.guest_agent.0,server=on,wait=off",
  ));
  // Each device still finds its drive by the -drive id.
  assert.ok(flat.some((a) => a.includes('"drive":"libvirt-2-format"')));
});

Deno.test("import libvirt: --copy names, templates parse back to the same words", () => {
  const copies = copyNames(["/a/drive.qcow2", "/b/drive.qcow2", "/c/wait"]);
  assert.deepEqual([...copies.values()], ["./drive.qcow2", "./1-drive.qcow2", "./1-wait"]);
  const r = importArgs(splitNativeArgv(NATIVE), {
    copies: new Map([["/vms/my disks/g.qcow2", "./g.qcow2"]]),
  });
  assert.equal(
    r.drives[0]?.[1],
    "file=./g.qcow2,format=qcow2,if=none,id=libvirt-2-format,discard=unmap",
  );
  const text = templateText("imported", [...r.drives, ...r.rest]);
  assert.deepEqual(parseTemplate(text, "templates/libvirt", {}), [...r.drives, ...r.rest].flat());
});

Deno.test("import libvirt: file descriptors and libvirt's files are refused", () => {
  for (
    const bad of [
      "/usr/bin/qemu -netdev tap,fd=33,id=hostnet0",
      `/usr/bin/qemu -netdev '{"type":"tap","fd":"33","id":"hostnet0"}'`,
      "/usr/bin/qemu -add-fd set=0,fd=31",
      "/usr/bin/qemu -chardev file,id=s,path=/dev/fdset/0",
      "/usr/bin/qemu -chardev file,id=x,path=/var/lib/libvirt/qemu/domain-1-g/x.log",
    ]
  ) {
    assert.throws(() => importArgs(splitNativeArgv(bad)), UsageError, bad);
  }
});

Deno.test("import libvirt: network backends rebuilt from the domain's interfaces", () => {
  const dom = parseXml(`<domain><devices>
    <interface type='user'><mac address='52:54:00:11:22:33'/><backend type='passt'/>
      <portForward proto='tcp' address='127.0.0.1'><range start='2222' to='22'/></portForward>
    </interface>
    <interface type='bridge'><source bridge='br0'/></interface>
    <interface type='ethernet'><target dev='tap7' managed='no'/></interface>
    <interface type='network'><mac address='52:54:00:00:00:09'/><source network='default'/></interface>
  </devices></domain>`);
  const nets = interfaceBackends(dom);
  assert.deepEqual(nets.slice(0, 3), [
    { netdev: "user,id=hostnet0,hostfwd=tcp:127.0.0.1:2222-:22" },
    { netdev: "bridge,br=br0,id=hostnet1" },
    { netdev: "tap,ifname=tap7,script=no,downscript=no,id=hostnet2" },
  ]);
  const argv = [
    "-netdev",
    '{"type":"tap","fd":"28","id":"hostnet0"}',
    "-device",
    '{"driver":"virtio-net-pci","netdev":"hostnet0","id":"net0","mac":"52:54:00:11:22:33"}',
  ];
  const r = importArgs(argv, { nets });
  assert.deepEqual(r.rest[0], ["-netdev", "user,id=hostnet0,hostfwd=tcp:127.0.0.1:2222-:22"]);
  const net3 = ["-netdev", '{"type":"tap","fd":"30","id":"hostnet3"}'];
  assert.throws(
    () => importArgs(net3, { nets }),
    /52:54:00:00:00:09 uses libvirt network "default"/,
  );
});

Deno.test("import libvirt: the first serial pty becomes vm's console socket", () => {
  const argv = [
    "-chardev",
    "pty,id=charserial0",
    "-device",
    '{"driver":"isa-serial","chardev":"charserial0","id":"serial0","index":0}',
    "-chardev",
    "pty,id=charserial1",
    "-device",
    '{"driver":"isa-serial","chardev":"charserial1","id":"serial1","index":1}',
  ];
  const r = importArgs(argv);
  assert.deepEqual(r.rest[0], [
    "-chardev",
    "socket,id=charserial0,path=./supervise/console,server=on,wait=off",
  ]);
  assert.deepEqual(r.rest[2], ["-chardev", "pty,id=charserial1"]);
});

Deno.test("import libvirt: -plugin, -incoming, -sandbox off are listed and commented out unless trusted", () => {
  const argv = splitNativeArgv(
    "/usr/bin/qemu -m 128 -plugin file=/tmp/evil.so -incoming tcp:0.0.0.0:4447 " +
      "-sandbox off -monitor tcp:0.0.0.0:4444,server=on,wait=off " +
      "-netdev tap,id=n1,script=/tmp/up.sh -kernel /g/bzImage",
  );
  const r = importArgs(argv);
  assert.deepEqual(r.untrusted.map((u) => u.arg.split(" ")[0]), [
    "-plugin",
    "-incoming",
    "-sandbox",
    "-netdev",
  ]);
  assert.ok(r.dropped.some((d) => d.arg.startsWith("-monitor tcp:")), "vm adds its own monitor");
  assert.ok(r.untrusted.every((u) => u.disabled === "line commented out"));
  assert.match(r.untrusted[0]?.why ?? "", /shared library/);
  assert.match(r.untrusted[3]?.why ?? "", /run the program "\/tmp\/up\.sh"/);
  // Host paths stay: a libvirt domain's files are its administrator's (-kernel /g/bzImage).
  assert.deepEqual(r.rest, [["-m", "128"], ["-kernel", "/g/bzImage"]]);
  const text = templateText("imported", r.rest, r.disabled);
  assert.match(text, /^# untrusted: -plugin file=\/tmp\/evil\.so$/m);
  assert.deepEqual(parseTemplate(text, "templates/libvirt", {}), r.rest.flat(), "not run");
  const trusted = importArgs(argv, { trust: true });
  assert.equal(trusted.disabled.length, 0);
  assert.ok(trusted.untrusted.every((u) => u.disabled === undefined));
  assert.ok(trusted.rest.flat().includes("-plugin") && trusted.rest.flat().includes("-incoming"));
});

Deno.test("import libvirt: with a bridge interface the kept -sandbox lets QEMU spawn its helper", () => {
  const nets = [{ netdev: "bridge,br=br0,id=hostnet0" }];
  const argv = ["-netdev", '{"type":"tap","fd":"28","id":"hostnet0"}', "-sandbox", "on,spawn=deny"];
  const r = importArgs(argv, { nets });
  assert.deepEqual(r.rest[1], ["-sandbox", "on,spawn=allow"]);
  assert.ok(r.dropped.some((d) => d.arg === "spawn=deny of -sandbox"));
  assert.deepEqual(importArgs(["-sandbox", "on,spawn=deny"]).rest, [["-sandbox", "on,spawn=deny"]]);
});

Deno.test("import: libvirt's UEFI pflash nodes become the VM's two pflash drives; its TPM swtpm's socket", () => {
  const native = "/usr/bin/qemu-system-x86_64 -name guest=w,debug-threads=on " +
    `-blockdev '{"driver":"file","filename":"/usr/share/OVMF/OVMF_CODE_4M.ms.fd","node-name":"libvirt-pflash0-storage","auto-read-only":true,"discard":"unmap"}' ` +
    `-blockdev '{"node-name":"libvirt-pflash0-format","read-only":true,"driver":"raw","file":"libvirt-pflash0-storage"}' ` +
    `-blockdev '{"driver":"file","filename":"/var/lib/libvirt/qemu/nvram/w_VARS.fd","node-name":"libvirt-pflash1-storage","auto-read-only":true,"discard":"unmap"}' ` +
    `-blockdev '{"node-name":"libvirt-pflash1-format","read-only":false,"driver":"raw","file":"libvirt-pflash1-storage"}' ` +
    "-machine pc-q35-7.2,usb=off,smm=on,dump-guest-core=off,pflash0=libvirt-pflash0-format,pflash1=libvirt-pflash1-format " +
    "-accel tcg -global driver=cfi.pflash01,property=secure,value=on -m 4096 " +
    "-chardev socket,id=chrtpm,path=/run/libvirt/qemu/swtpm/1-w-swtpm.sock " +
    "-tpmdev emulator,id=tpm-tpm0,chardev=chrtpm " +
    `-device '{"driver":"tpm-crb","tpmdev":"tpm-tpm0","id":"tpm0"}'`;
  const r = importArgs(splitNativeArgv(native));
  assert.equal(r.nvram, "/var/lib/libvirt/qemu/nvram/w_VARS.fd");
  assert.equal(r.tpm, true);
  assert.deepEqual(r.drives, []);
  assert.deepEqual(r.disks, []);
  assert.deepEqual(r.rest, [
    ["-machine", "pc-q35-7.2,usb=off,smm=on,dump-guest-core=off"],
    ["-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.ms.fd"],
    ["-drive", "if=pflash,format=raw,unit=1,file=./efivars.fd"],
    ["-accel", "tcg"],
    ["-global", "driver=cfi.pflash01,property=secure,value=on"],
    ["-m", "4096"],
    ["-chardev", "socket,id=chrtpm,path=./supervise/tpm"],
    ["-tpmdev", "emulator,id=tpm-tpm0,chardev=chrtpm"],
    ["-device", '{"driver":"tpm-crb","tpmdev":"tpm-tpm0","id":"tpm0"}'],
  ]);
  // A domain without either: no vars to copy, no TPM.
  const plain = importArgs(splitNativeArgv("/usr/bin/qemu-system-x86_64 -m 128"));
  assert.equal(plain.nvram, undefined);
  assert.equal(plain.tpm, false);
});

// lib/export/import_trust.ts: what an archive's VM
// brings that reaches the host is found, listed and disabled (hooks renamed,
// template lines commented out, a template renamed when a line holds more),
// and kept with --trust.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  distrustTemplate,
  distrustTree,
  FIRMWARE_STAND_INS,
  hostReach,
  UNTRUSTED_HOOKS,
} from "../../lib/export/import_trust.ts";
import { groupOptions } from "../../lib/export/qemu_options.ts";
import { parseTemplate } from "../../lib/vm/templates.ts";
import { withTempDir } from "../support/temp_dir.ts";

const VM = "/v/web";
const ENV = { VM_DIR: VM, VM_NAME: "web" };

/** hostReach of the one option group `words` make, for an archive's VM in VM. */
function reach(...words: string[]): string | undefined {
  const groups = groupOptions(words.map((value) => ({ value, file: "t", line: 1 })));
  assert.equal(groups.length, 1);
  return hostReach(groups[0]!, VM);
}

Deno.test("hostReach: what acts on the host is found; the VM's own files and guest text are not", () => {
  assert.match(reach("-incoming", "tcp:0.0.0.0:4447") ?? "", /migration stream/);
  assert.match(reach("-plugin", "file=./p.so") ?? "", /shared library/);
  assert.match(reach("-sandbox", "off") ?? "", /sandbox off/);
  assert.match(reach("-monitor", "tcp::4444,server=on") ?? "", /monitor/);
  assert.match(reach("-netdev", "tap,id=n,script=./up.sh") ?? "", /program "\.\/up\.sh"/);
  assert.match(reach("-netdev", "bridge,br=br0,helper=/x/h") ?? "", /program "\/x\/h"/);
  assert.match(reach("-drive", "file=/etc/shadow,if=virtio") ?? "", /"\/etc\/shadow", a host file/);
  assert.match(reach("-serial", "file:/etc/passwd") ?? "", /"\/etc\/passwd"/);
  assert.match(reach("-drive", "file=./sub/../../other/drive.qcow2") ?? "", /other\/drive/);
  assert.match(reach("-initrd", "/boot/initrd.img") ?? "", /\/boot\/initrd\.img/);
  assert.match(
    reach("-object", '{"qom-type":"memory-backend-file","id":"m","mem-path":"/etc/passwd"}') ?? "",
    /\/etc\/passwd/,
  );
  for (
    const ok of [
      ["-drive", "file=./drive.qcow2,if=virtio,format=qcow2"],
      ["-drive", `file=${VM}/seed.iso,media=cdrom`],
      ["-append", "root=/dev/vda1 console=ttyS0"],
      ["-monitor", "unix:./supervise/monitor,server=on,wait=off"],
      ["-sandbox", "on,spawn=deny"],
      ["-netdev", "tap,ifname=t0,script=no,downscript=no"],
      ["-m", "1G"],
      ["-chardev", "socket,id=a,path=./supervise/agent,server=on,wait=off"],
    ]
  ) {
    assert.equal(reach(...ok), undefined, ok.join(" "));
  }
});

Deno.test("distrustTemplate: flagged lines commented out; a shared line disables the template", () => {
  const text = "-m 1G\n-drive file=/etc/shadow,if=virtio\n-drive file=$VM_DIR/drive.qcow2\n";
  const r = distrustTemplate(text, "templates/drive", ENV, VM);
  assert.deepEqual(r.found.map((f) => [f.at, f.arg]), [
    ["templates/drive:2", "-drive file=/etc/shadow,if=virtio"],
  ]);
  assert.ok(r.text !== undefined);
  assert.deepEqual(parseTemplate(r.text, "templates/drive", ENV), [
    "-m",
    "1G",
    "-drive",
    `file=${VM}/drive.qcow2`,
  ]);
  assert.match(r.text, /^# untrusted: -drive file=\/etc\/shadow,if=virtio$/m);
  const shared = distrustTemplate("-m 1G -plugin file=/x.so\n", "templates/t", ENV, VM);
  assert.equal(shared.text, undefined, "commenting the line out would take -m 1G with it");
  assert.equal(shared.found.length, 1);
  assert.deepEqual(distrustTemplate("-m 1G\n", "templates/mem", ENV, VM), { found: [] });
});

Deno.test("distrustTree: hooks renamed, templates disabled; with trust all kept and listed", () =>
  withTempDir((dir) => {
    const make = () => {
      for (const d of ["a", "b"]) {
        Deno.mkdirSync(join(dir, d, "templates"), { recursive: true });
        Deno.writeTextFileSync(join(dir, d, "hooks"), "pre_qemu() { id > /tmp/x; }\n");
        Deno.writeTextFileSync(join(dir, d, "templates", "evil"), "-m 1G -incoming defer\n");
        Deno.writeTextFileSync(join(dir, d, "templates", "ok"), "-smp 2\n");
      }
    };
    make();
    const a = join(dir, "a");
    const found = distrustTree(a, a, ENV, false);
    assert.deepEqual(found.map((f) => [f.at, f.disabled]), [
      ["hooks", "renamed hooks.untrusted"],
      ["templates/evil:1", "renamed .evil.untrusted"],
    ]);
    assert.deepEqual([...Deno.readDirSync(a)].map((e) => e.name).sort(), [
      UNTRUSTED_HOOKS,
      "templates",
    ]);
    assert.deepEqual(
      [...Deno.readDirSync(join(a, "templates"))].map((e) => e.name).sort(),
      [".evil.untrusted", "ok"],
    );
    const b = join(dir, "b");
    const kept = distrustTree(b, b, ENV, true);
    assert.equal(kept.length, 2);
    assert.ok(kept.every((f) => f.disabled === undefined));
    assert.ok(Deno.statSync(join(b, "hooks")).isFile);
    assert.equal(Deno.readTextFileSync(join(b, "templates", "evil")), "-m 1G -incoming defer\n");
  }));

Deno.test("firmware: the uefi templates pass; a writable pflash on the code, or a host file, does not", () => {
  const env = { ...ENV, ...FIRMWARE_STAND_INS };
  for (const name of ["uefi", "uefi-secure-boot"]) {
    const text = Deno.readTextFileSync(new URL(`../../default/templates/${name}`, import.meta.url));
    assert.deepEqual(distrustTemplate(text, `templates/${name}`, env, VM), { found: [] }, name);
  }
  const writable = distrustTemplate(
    '-drive if=pflash,format=raw,unit=1,file="$VM_UEFI_CODE"\n',
    "templates/x",
    env,
    VM,
  );
  assert.equal(writable.found.length, 1);
  const shadow = distrustTemplate(
    "-drive if=pflash,format=raw,unit=0,readonly=on,file=/etc/shadow\n",
    "templates/y",
    env,
    VM,
  );
  assert.match(shadow.found[0]?.why ?? "", /\/etc\/shadow/);
});

/**
 * Shared folders in exports (issue 26): a libvirt domain gets virtiofs
 * `<filesystem>` devices and shared memfd memory (valid by libvirt's schema,
 * virt-xml-validate); a Nomad job is refused in one line; an imported
 * `shares` file is disabled unless trusted.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { domainUuid, libvirtDomain } from "../../lib/export/libvirt_xml.ts";
import { templateArgs, type VmModel } from "../../lib/export/vm_model.ts";
import { buildNomadJob } from "../../lib/export/nomad.ts";
import { distrustTree, UNTRUSTED_SHARES } from "../../lib/export/import_trust.ts";
import { child, children, parseXml } from "../../lib/export/xml.ts";
import { UsageError } from "../../lib/errors.ts";
import { withTempDir } from "../support/temp_dir.ts";

const TEMPLATES: Record<string, string> = {
  "templates/drive": "-drive file=./drive.qcow2,if=virtio,format=qcow2\n",
  "templates/mem": "-m 256M\n",
};

function model(): VmModel {
  return {
    name: "web",
    dir: "/vms/web",
    arch: "x86_64",
    args: Object.keys(TEMPLATES).sort().flatMap((f) => templateArgs(TEMPLATES[f] ?? "", f, {})),
    wait: 10,
    disks: [{ path: "/vms/web/drive.qcow2", format: "qcow2", virtualSize: 2 ** 30, chain: [] }],
    ports: [],
    attachments: [],
    shares: [
      { tag: "src", path: "/home/u/src", readonly: false },
      { tag: "data", path: "/srv/my data", readonly: true, guestPath: "/data" },
    ],
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

Deno.test("libvirt export: virtiofs filesystems and shared memfd memory, schema-valid", async () => {
  const d = libvirtDomain(model(), await domainUuid("vm:/vms/web"));
  await validate(d.xml);
  const x = parseXml(d.xml);
  const mb = child(x, "memoryBacking");
  assert.ok(mb !== undefined, d.xml);
  assert.equal(child(mb, "source")?.attrs.type, "memfd");
  assert.equal(child(mb, "access")?.attrs.mode, "shared");
  const devices = child(x, "devices");
  assert.ok(devices !== undefined);
  const fs = children(devices, "filesystem");
  assert.equal(fs.length, 2);
  assert.deepEqual(fs[0]?.attrs, { type: "mount", accessmode: "passthrough" });
  assert.equal(child(fs[0]!, "driver")?.attrs.type, "virtiofs");
  assert.equal(child(fs[1]!, "source")?.attrs.dir, "/srv/my data");
  assert.equal(child(fs[1]!, "target")?.attrs.dir, "data");
  assert.ok(child(fs[1]!, "readonly") !== undefined);
  assert.equal(child(fs[0]!, "readonly"), undefined);
  assert.deepEqual(d.commandline, []);
  assert.ok(d.notes.some((n) => /share "data" is read-only/.test(n)));
  // Without shares: no memoryBacking.
  const plain = libvirtDomain({ ...model(), shares: [] }, await domainUuid("vm:/vms/web"));
  assert.doesNotMatch(plain.xml, /memoryBacking|filesystem/);
});

Deno.test("nomad export: a VM with shares is refused in one line", () => {
  assert.throws(
    () => buildNomadJob(model(), { datacenter: "dc1", lookup: () => undefined }),
    (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, /shares folders \(src, data\), and Nomad's qemu driver mounts no/);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    },
  );
});

Deno.test("import: a shares file is disabled unless --trust", async () => {
  await withTempDir((dir) => {
    Deno.mkdirSync(join(dir, "templates"));
    Deno.writeTextFileSync(join(dir, "shares"), "etc rw /etc\n");
    const kept = distrustTree(dir, dir, {}, true);
    assert.equal(kept[0]?.at, "shares");
    assert.equal(kept[0]?.disabled, undefined);
    const found = distrustTree(dir, dir, {}, false);
    assert.equal(found[0]?.disabled, `renamed ${UNTRUSTED_SHARES}`);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      "shares.untrusted",
      "templates",
    ]);
  });
});

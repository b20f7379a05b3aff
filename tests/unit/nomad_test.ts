// `vm export nomad` against Nomad's documented schema (no Nomad binary here):
// the JSON payload's keys and types, the HCL read back by a small HCL reader
// and converted as jobspec2 would, and the refusals naming template:line.

import assert from "node:assert/strict";
import { buildNomadJob, type ImageLookup, nomadPayload } from "../../lib/export/nomad.ts";
import { hclString, nomadHcl } from "../../lib/export/nomad_hcl.ts";
import { templateArgs, type VmModel } from "../../lib/export/vm_model.ts";
import { parsePorts } from "../../lib/vm/ports.ts";
import { type HclBody, type HclValue, parseHcl } from "../support/hcl_reader.ts";
import { UsageError } from "../../lib/errors.ts";

const BASE = "/vms/.images/debian-12-genericcloud-amd64.qcow2";
const URL_ =
  "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2";
const SUM = "sha512:" + "ab".repeat(64);
const SEED_SUM = "cd".repeat(32);

const TEMPLATES: Record<string, string> = {
  "templates/cpu": "-cpu host\n",
  "templates/drive": '-drive file="./drive.qcow2",if=virtio,format=qcow2\n',
  "templates/guest-agent": "-chardev socket,path=./supervise/qga,server=on,wait=off,id=qga0\n" +
    "-device virtio-serial\n-device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0\n",
  "templates/kvm": "-enable-kvm\n",
  "templates/mem": "# memory\n-m 1G\n",
  "templates/net": "-nic user,model=virtio-net-pci,mac=52:54:00:12:34:56\n",
  "templates/seed": "-drive file=./seed.iso,media=cdrom,readonly=on\n",
  "templates/smp": "-smp 2\n",
};

const lookup: ImageLookup = (p) => p === BASE ? { url: URL_, checksum: SUM } : undefined;

function model(extra: Record<string, string> = {}): VmModel {
  const all = { ...TEMPLATES, ...extra };
  return {
    name: "web",
    dir: "/vms/web",
    arch: "x86_64",
    args: Object.keys(all).sort().flatMap((f) => templateArgs(all[f] ?? "", f, {})),
    wait: 10,
    disks: [{
      path: "/vms/web/drive.qcow2",
      format: "qcow2",
      virtualSize: 2 ** 31,
      chain: [{ path: BASE, format: "qcow2" }],
    }],
    seed: { path: "/vms/web/seed.iso", sha256: SEED_SUM },
    ports: parsePorts("tcp 127.0.0.1:2222 22\ntcp 127.0.0.1:8080 80\n", "ports"),
    attachments: [],
  };
}

const OPTS = { datacenter: "dc1", seedUrl: "https://files.example/web/seed.iso", lookup };

function typesOf(o: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(o).map(([k, v]) => [k, Array.isArray(v) ? "array" : typeof v]),
  );
}

Deno.test("nomad JSON payload: Nomad's field names and types, every mapping", () => {
  const p = nomadPayload(buildNomadJob(model(), OPTS).job);
  const job = p.Job as Record<string, unknown>;
  assert.deepEqual(typesOf(job), {
    ID: "string",
    Name: "string",
    Type: "string",
    Datacenters: "array",
    TaskGroups: "array",
  });
  assert.deepEqual(job.Datacenters, ["dc1"]);
  const group = (job.TaskGroups as Record<string, unknown>[])[0] ?? {};
  assert.deepEqual(typesOf(group), {
    Name: "string",
    Count: "number",
    Tasks: "array",
    Networks: "array",
  });
  assert.deepEqual(group.Networks, [{
    ReservedPorts: [{ Label: "tcp_22", Value: 2222 }, { Label: "tcp_80", Value: 8080 }],
  }]);
  const task = (group.Tasks as Record<string, unknown>[])[0] ?? {};
  assert.deepEqual(typesOf(task), {
    Name: "string",
    Driver: "string",
    Config: "object",
    KillTimeout: "number",
    Resources: "object",
    Artifacts: "array",
  });
  assert.equal(task.Driver, "qemu");
  assert.equal(task.KillTimeout, 15_000_000_000); // wait 10 s + 5 s, in nanoseconds
  assert.deepEqual(task.Resources, { MemoryMB: 1024, Cores: 2 });
  assert.deepEqual(task.Artifacts, [
    {
      GetterSource: URL_,
      GetterMode: "file",
      RelativeDest: "local/debian-12-genericcloud-amd64.qcow2",
      GetterOptions: { checksum: SUM },
    },
    {
      GetterSource: OPTS.seedUrl,
      GetterMode: "file",
      RelativeDest: "local/seed.iso",
      GetterOptions: { checksum: `sha256:${SEED_SUM}` },
    },
  ]);
  const config = task.Config as Record<string, unknown>;
  assert.deepEqual(typesOf(config), {
    image_path: "string",
    accelerator: "string",
    graceful_shutdown: "boolean",
    guest_agent: "boolean",
    args: "array",
    drive_interface: "string",
    port_map: "array",
  });
  assert.deepEqual(config, {
    image_path: "local/debian-12-genericcloud-amd64.qcow2",
    accelerator: "kvm",
    graceful_shutdown: true,
    guest_agent: true,
    drive_interface: "virtio",
    // -m, -enable-kvm, the disk, the guest agent's three and the user NIC are the driver's.
    args: ["-cpu", "host", "-drive", "file=local/seed.iso,media=cdrom,readonly=on", "-smp", "2"],
    port_map: [{ tcp_22: 22, tcp_80: 80 }],
  });
});

/** What jobspec2 makes of the HCL job, in the API's field names (the subset we write). */
function jobFromHcl(root: HclBody): { Job: Record<string, unknown> } {
  const one = (b: HclBody, type: string) => b.blocks.filter((x) => x.type === type);
  const [job] = one(root, "job");
  const [group] = one(job?.body ?? root, "group");
  const [task] = one(group?.body ?? root, "task");
  assert.ok(job && group && task);
  const cfg = one(task.body, "config")[0]?.body ?? { attrs: {}, blocks: [] };
  const portMap = one(cfg, "port_map").map((b) => b.body.attrs);
  const res = one(task.body, "resources")[0]?.body.attrs ?? {};
  const ports = one(group.body, "network").flatMap((n) => one(n.body, "port"));
  const secs = /^([0-9]+)s$/.exec(String(task.body.attrs.kill_timeout))?.[1];
  const config: Record<string, HclValue | Record<string, HclValue>[]> = { ...cfg.attrs };
  if (portMap.length > 0) config.port_map = portMap;
  const t = {
    Name: task.labels[0],
    Driver: task.body.attrs.driver,
    Config: config,
    KillTimeout: Number(secs) * 1e9,
    Resources: { MemoryMB: res.memory, Cores: res.cores },
    Artifacts: one(task.body, "artifact").map((a) => ({
      GetterSource: a.body.attrs.source,
      GetterMode: a.body.attrs.mode,
      RelativeDest: a.body.attrs.destination,
      ...Object.fromEntries(one(a.body, "options").map((o) => ["GetterOptions", o.body.attrs])),
    })),
  };
  const g: Record<string, unknown> = { Name: group.labels[0], Count: group.body.attrs.count };
  g.Tasks = [t];
  if (ports.length > 0) {
    g.Networks = [{
      ReservedPorts: ports.map((p) => ({ Label: p.labels[0], Value: p.body.attrs.static })),
    }];
  }
  const a = job.body.attrs;
  return {
    Job: {
      ID: job.labels[0],
      Name: job.labels[0],
      Type: a.type,
      Datacenters: a.datacenters,
      TaskGroups: [g],
    },
  };
}

Deno.test("nomad HCL parses back to the same job as the JSON payload", () => {
  for (const m of [model(), { ...model({ "templates/seed": "" }), ports: [], seed: undefined }]) {
    const { job } = buildNomadJob(m, OPTS);
    const hcl = nomadHcl(job);
    assert.ok(hcl.startsWith(`job "web" {\n  datacenters = ["dc1"]\n`), hcl);
    assert.deepEqual(jobFromHcl(parseHcl(hcl)), nomadPayload(job));
  }
});

Deno.test("nomad HCL escapes quotes, backslashes and template sequences", () => {
  const s = 'a"b\\c ${X} %{if} \n';
  assert.equal(hclString(s), '"a\\"b\\\\c $${X} %%{if} \\n"');
  const body = parseHcl(`x = ${hclString(s)}\n`);
  assert.equal(body.attrs.x, s);
});

Deno.test("nomad refuses, naming template and line, what cannot work under Nomad", () => {
  const cases: [Record<string, string>, RegExp][] = [
    [
      { "templates/serial-console": "-serial unix:./supervise/console,server=on,wait=off\n" },
      /^templates\/serial-console:1: .*socket in "supervise\/"/,
    ],
    [{ "templates/tap": "\n\n-netdev tap,id=t0,ifname=tap0\n" }, /^templates\/tap:3: .*tap/],
    [{ "templates/boot": "-kernel /boot/vmlinuz\n" }, /^templates\/boot:1: .*outside Nomad's task/],
    [{ "templates/ui": "-display gtk\n" }, /^templates\/ui:1: .*display/],
    [{ "templates/vnc": "-vnc unix:/tmp/vnc.sock\n" }, /^templates\/vnc:1: .*use -vnc on a port/],
  ];
  for (const [extra, re] of cases) {
    assert.throws(() => buildNomadJob(model(extra), OPTS), (e) => {
      assert.ok(e instanceof UsageError); // bad input: exit 100, not 1
      assert.equal(e.exitCode, 100);
      assert.match(e.message, re);
      return true;
    });
  }
});

Deno.test("nomad: the vnc template's socket in supervise/ is removed, said; -vnc on a port kept", () => {
  const { job, mappings } = buildNomadJob(
    model({ "templates/vnc": "-vnc unix:./supervise/vnc\n" }),
    OPTS,
  );
  assert.ok(!job.config.args.includes("-vnc"), job.config.args.join(" "));
  const m = mappings.find((x) => x.at === "templates/vnc:1");
  assert.equal(m?.arg, "-vnc unix:./supervise/vnc");
  assert.match(m?.to ?? "", /^removed: its socket in "supervise\/" does not exist under Nomad/);
  const port = buildNomadJob(model({ "templates/vnc": "-vnc 127.0.0.1:1\n" }), OPTS);
  assert.deepEqual(port.job.config.args.slice(-2), ["-vnc", "127.0.0.1:1"]);
});

Deno.test("nomad disk URL: catalog for an overlay, else --image-url, else refused", () => {
  const plain = { ...model(), disks: [{ ...model().disks[0]!, chain: [] }] };
  assert.throws(() => buildNomadJob(plain, OPTS), /publish it and give --image-url URL/);
  const unknown = {
    ...model(),
    disks: [{ ...model().disks[0]!, chain: [{ path: "/x.qcow2", format: "qcow2" }] }],
  };
  assert.throws(() => buildNomadJob(unknown, OPTS), /in no image catalog/);
  const { job } = buildNomadJob(plain, { ...OPTS, imageUrl: "https://f.example/web.qcow2?x=1" });
  assert.deepEqual(job.artifacts[0], {
    source: "https://f.example/web.qcow2?x=1",
    destination: "local/web.qcow2",
  });
  assert.throws(() => buildNomadJob(model(), { ...OPTS, seedUrl: undefined }), /--seed-url URL/);
  const small = model({ "templates/mem": "-m 64M\n" });
  assert.throws(() => buildNomadJob(small, OPTS), /64 MiB.*128 to 4000000 MB/);
});

Deno.test("nomad: a seed no template names is added as a CD-ROM; no ports, no network", () => {
  const m = model({ "templates/seed": "" });
  m.ports = [];
  const { job, mappings } = buildNomadJob(m, OPTS);
  assert.deepEqual(job.config.args.slice(-2), [
    "-drive",
    "file=local/seed.iso,format=raw,media=cdrom,readonly=on",
  ]);
  assert.ok(mappings.some((x) => /added: the seed/.test(x.to)));
  // Without ports the VM's own user-mode NIC is kept.
  assert.ok(job.config.args.includes("user,model=virtio-net-pci,mac=52:54:00:12:34:56"));
  const g = (nomadPayload(job).Job.TaskGroups as Record<string, unknown>[])[0];
  assert.equal(g?.Networks, undefined);
});

Deno.test("Nomad: a NIC on a private network or a bridge is refused in one line", () => {
  const m = model();
  m.attachments = [{ kind: "net", network: "lan", mac: "52:54:00:00:00:02", ip: 1 }];
  assert.throws(
    () => buildNomadJob(m, OPTS),
    /^UsageError: VM "web" has a NIC on private network "lan"; Nomad's qemu driver has only user-mode port maps: detach it/,
  );
});

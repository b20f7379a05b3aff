/**
 * First boot to SSH with a real Debian cloud-init guest (tests/support/
 * cloud_guest.ts, the variant without dbus, which ignores the ACPI power
 * button), ONE boot under runsvdir. The image is served over HTTP on
 * 127.0.0.1 and `vm image pull` fetches it; `vm make --image --ssh-key`
 * makes the overlay and the cloud-init seed (our ISO writer, vm's client key
 * and the user's, the host key handed over in user-data, ports → hostfwd,
 * the guest-agent template); then:
 * `vm start --ssh` → `vm ssh web -- hostname` prints web → `vm exec web --
 * id -un` prints root → `vm ip` lists 10.0.2.15 → a live `vm port add` to
 * a listener started in the guest, and `rm` → `vm ssh-config` and `vm cp`
 * → a replaced known_hosts line makes ssh fail with its host-key error →
 * `vm backup` says it froze the guest, whose agent then says "thawed" →
 * an ACPI press the guest ignores → `vm stop` powers the guest off through
 * the agent after min(wait/2, 10 s).
 * The same VM, made with the default `drive` template, has it as
 * `drive-virtio`, read before the seed's template: the guest's root is
 * /dev/vda. Used, it then moves by README's `vm export tar web - | ssh host
 * vm import tar - web` (a local shell for ssh) into another VMDIR, where
 * vm's SSH key does not exist yet and the VM's SSH port is taken: the import
 * makes that VMDIR's key, authorises it in the seed with a new instance-id
 * and moves the forward; `vm start web2 --ssh` and `vm ssh` work (a second
 * boot). Then that VMDIR's key is made anew and `vm cloud-init web2
 * regenerate --new-instance-id` authorises it in the seed's sources.
 * A second test boots the variant with dbus, which obeys ACPI, without the
 * guest-agent template: `vm stop` is the plain ACPI power-off there.
 * Each takes about 3-4 minutes (boot to SSH ~2 minutes under TCG on 2 busy
 * cores; the dbus variant's first build about 2 minutes more).
 * Slow (a minute or more): left out of test:quick.
 */

import assert from "node:assert/strict";
import { newKeyFiles } from "../../lib/ssh/keys.ts";
import { CLOUD_TEMPLATES } from "../../lib/layout.ts";
import { GuestAgent } from "../../lib/qemu/guest_agent.ts";
import { type CloudVm, freePort, withPulledCloudVm } from "../support/cloud_vm.ts";
import { readOr, run, sleep, TestEnv, withEnv } from "../support/harness.ts";

/** The VM's wait: the agent is asked after min(wait/2, 10 s) = 10 s; the guest then has 50 s. */
const WAIT_S = 60;

/** The end of the guest's console log, without systemd's progress spinner lines. */
function consoleTail(dir: string): string {
  const lines = readOr(`${dir}/guest.log`).split("\n");
  return lines.filter((l) => !/\] Job .* running \(/.test(l)).slice(-40).join("\n");
}

/** The body of http://127.0.0.1:port/, retried for `ms` while the listener comes up. */
async function httpGet(port: number, ms: number): Promise<string | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) });
      return await res.text();
    } catch (e) {
      if (Date.now() > end) return `failed: ${e}`;
      await sleep(500);
    }
  }
}

async function checkAccess(t: TestEnv) {
  const ssh = await t.vm(["ssh", "web", "--", "hostname"]);
  assert.equal(ssh.code, 0, ssh.stderr);
  assert.equal(ssh.stdout, "web\n");
  const exec = await t.vm(["exec", "web", "--", "id", "-un"]);
  assert.equal(exec.code, 0, exec.stderr);
  assert.equal(exec.stdout, "root\n");
  const fail = await t.vm([
    "exec",
    "web",
    "--",
    "sh",
    "-c",
    "echo out; echo err >&2; exit 7",
  ]);
  assert.deepEqual([fail.code, fail.stdout, fail.stderr], [7, "out\n", "err\n"]);
  const ip = await t.vm(["ip", "web", "--json"]);
  assert.equal(ip.code, 0, ip.stderr);
  const addrs = (JSON.parse(ip.stdout) as { addresses: { address: string }[] }[]).flatMap((i) =>
    i.addresses
  );
  assert.ok(addrs.some((a) => a.address === "10.0.2.15"), ip.stdout);
  assert.match((await t.vm(["ip", "web"])).stdout, /^en\w+ 10\.0\.2\.15\/24/m);
}

async function checkLivePort(t: TestEnv) {
  const start = await t.vm([
    "exec",
    "web",
    "--",
    "sh",
    "-c",
    "cd /tmp && echo hello-from-the-guest > index.html && (python3 -m http.server 80 >/dev/null 2>&1 &)",
  ]);
  assert.equal(start.code, 0, start.stderr);
  const hp = freePort();
  const add = await t.vm(["port", "web", "add", String(hp), "80"]);
  assert.equal(add.code, 0, add.stderr);
  assert.match(add.stdout, /now and at every start/);
  assert.equal(await httpGet(hp, 30_000), "hello-from-the-guest\n");
  const rm = await t.vm(["port", "web", "rm", String(hp)]);
  assert.equal(rm.code, 0, rm.stderr);
  assert.match(rm.stdout, /also from the running VM/);
  await assert.rejects(() =>
    fetch(`http://127.0.0.1:${hp}/`, { signal: AbortSignal.timeout(5000) })
  );
}

async function checkConfigAndCp(t: TestEnv) {
  const conf = await t.vm(["ssh-config", "web"]);
  Deno.writeTextFileSync(`${t.root}/ssh_config`, conf.stdout);
  const viaConfig = await run("ssh", [
    "-F",
    `${t.root}/ssh_config`,
    "-o",
    "BatchMode=yes",
    "web",
    "hostname",
  ]);
  assert.equal(viaConfig.stdout, "web\n", viaConfig.stderr);
  const down = await t.vm(["cp", "web:/etc/hostname", `${t.root}/hostname`]);
  assert.equal(down.code, 0, down.stderr);
  assert.equal(Deno.readTextFileSync(`${t.root}/hostname`), "web\n");
  Deno.writeTextFileSync(`${t.root}/up`, "up and over\n");
  const up = await t.vm(["cp", `${t.root}/up`, "web:/tmp/up"]);
  assert.equal(up.code, 0, up.stderr);
  assert.equal((await t.vm(["ssh", "web", "--", "cat", "/tmp/up"])).stdout, "up and over\n");
}

/**
 * `vm backup` of the running guest, whose agent answers: it says it froze the file systems for
 * the backup point, and the agent's `guest-fsfreeze-status` is "thawed" afterwards (the guest
 * writes again). The backup is removed.
 */
async function checkFrozenBackup(t: TestEnv, dir: string) {
  const store = `${t.root}/backups`;
  const b = await t.vm(["backup", "web", "--to", store]);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stderr, /Backup \S+ of "web".*full, live, frozen/);
  assert.doesNotMatch(b.stderr, /not frozen|may still be frozen/);
  const agent = await GuestAgent.connect(dir, "web", 10_000);
  try {
    assert.equal(await agent.execute("guest-fsfreeze-status"), "thawed");
  } finally {
    agent.close();
  }
  assert.equal((await t.vm(["ssh", "web", "--", "touch", "/var/tmp/after-backup"])).code, 0);
  Deno.removeSync(store, { recursive: true });
}

async function checkPinning(t: TestEnv, dir: string, port: number) {
  const kh = `${dir}/ssh/known_hosts`;
  const good = Deno.readTextFileSync(kh);
  const other = (await newKeyFiles("impostor")).public.split(" ").slice(0, 2).join(" ");
  Deno.writeTextFileSync(kh, `[127.0.0.1]:${port} ${other}\n`);
  const ssh = await t.vm(["ssh", "web", "--", "true"]);
  assert.equal(ssh.code, 255);
  assert.match(ssh.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  const wait = await t.vm(["start", "web", "--ssh"]);
  assert.equal(wait.code, 1);
  assert.match(wait.stderr, /answers SSH with a host key that is not the one pinned/);
  Deno.writeTextFileSync(kh, good);
}

/**
 * A test on VM "web", made from the pulled cloud guest (the `dbus` variant
 * or not) with the tester's own key besides vm's; `walk` gets the VM.
 */
function cloudTest(
  name: string,
  opts: { dbus: boolean; defaults?: string },
  walk: (t: TestEnv, vm: CloudVm) => Promise<void>,
) {
  Deno.test({
    name,
    sanitizeResources: false,
    fn: () =>
      withEnv({}, async (t) => {
        // The user's own key (--ssh-key), besides vm's, may log in too.
        const mine = await newKeyFiles("tester");
        Deno.writeTextFileSync(`${t.root}/id_tester`, mine.private, { mode: 0o600 });
        Deno.writeTextFileSync(`${t.root}/id_tester.pub`, mine.public);
        const make = { ...opts, wait: WAIT_S, sshKey: `${t.root}/id_tester.pub` };
        await withPulledCloudVm(t, "web", make, (vm) => walk(t, vm));
      }),
  });
}

/** Starts runsvdir, then `vm start <name> --ssh`, which must succeed. */
async function startWeb(t: TestEnv, dir: string, name = "web"): Promise<void> {
  t.startRunsvdir();
  const t0 = performance.now();
  const start = await t.vm(["start", name, "--ssh", "--timeout", "420"]);
  const bootS = (performance.now() - t0) / 1000;
  assert.equal(start.code, 0, `${start.stderr}\n${consoleTail(dir)}`);
  assert.match(
    start.stdout,
    new RegExp(
      `^${name}: booted \\(QEMU up in [\\d.]+ s\\); SSH answered with the pinned host key`,
    ),
  );
  console.log(`boot to SSH: ${bootS.toFixed(1)} s`);
}

/** `vm stop <name>`, which must end with the guest powered off; the seconds it took. */
async function stopWeb(t: TestEnv, dir: string, name = "web"): Promise<number> {
  const s0 = performance.now();
  const stop = await t.vm(["stop", name]);
  const stopS = (performance.now() - s0) / 1000;
  console.log(`stop: ${stopS.toFixed(1)} s (${stop.stdout.trim()})`);
  assert.equal(stop.code, 0, stop.stderr);
  assert.match(stop.stdout, /guest powered off/, consoleTail(dir));
  return stopS;
}

cloudTest(
  "start --ssh, ssh, exec, ip, live port, ssh-config, cp, pinning, agent shutdown, root on /dev/vda; moved by export|import tar, reached by vm ssh",
  { dbus: false, defaults: "display-none drive" },
  async (t, vm) => {
    await checkDiskOrder(t, vm.dir);
    await startWeb(t, vm.dir);
    assert.equal(
      (await t.vm(["ssh", "web", "--", "findmnt", "-no", "SOURCE", "/"])).stdout,
      "/dev/vda\n",
    );
    await checkAccess(t);
    await checkOwnKey(t, vm.dir, vm.sshPort);
    await checkLivePort(t);
    await checkConfigAndCp(t);
    await checkPinning(t, vm.dir, vm.sshPort);
    await checkFrozenBackup(t, vm.dir);
    // This guest ignores the ACPI power button: still up well after a press.
    assert.equal((await t.vm(["qmp", "web", "system_powerdown"])).code, 0);
    await sleep(30_000);
    assert.equal((await t.vm(["ssh", "web", "--", "true"])).code, 0);
    const stopS = await stopWeb(t, vm.dir);
    // ACPI is ignored by this guest: it went down only after __stop turned to the agent.
    assert.ok(stopS >= 10 && stopS < WAIT_S, `${stopS} s`);
    assert.match(readOr(`${vm.dir}/log/main/current`), /asked through the guest agent/);
    await moveAndReach(t, vm.sshPort);
  },
);

cloudTest(
  "the dbus guest without an agent: vm stop is the ACPI power-off alone",
  { dbus: true },
  async (t, vm) => {
    // No agent: a power-off can only come from the ACPI request.
    Deno.removeSync(`${vm.dir}/templates/${CLOUD_TEMPLATES.agent}`);
    await startWeb(t, vm.dir);
    assert.equal((await t.vm(["ssh", "web", "--", "hostname"])).stdout, "web\n");
    const stopS = await stopWeb(t, vm.dir);
    assert.ok(stopS < WAIT_S, `${stopS} s`);
    const log = readOr(`${vm.dir}/log/main/current`);
    assert.match(log, /stop: the guest powered off in [\d.]+ s\n/);
    assert.doesNotMatch(log, /guest agent/);
  },
);

/** The key given with --ssh-key logs in with plain ssh, the host key pinned by the VM's known_hosts. */
async function checkOwnKey(t: TestEnv, dir: string, port: number) {
  const r = await run("ssh", [
    "-i",
    `${t.root}/id_tester`,
    "-p",
    String(port),
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile=${dir}/ssh/known_hosts`,
    "vm@127.0.0.1",
    "hostname",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "web\n");
}

/** `--image` made the default `drive` template `drive-virtio`, attached before the seed. */
async function checkDiskOrder(t: TestEnv, dir: string) {
  const templates = [...Deno.readDirSync(`${dir}/templates`)].map((e) => e.name);
  assert.ok(templates.includes("drive-virtio") && !templates.includes("drive"), `${templates}`);
  const args = (await t.vm(["args", "web"])).stdout;
  assert.ok(args.indexOf("file=./drive.qcow2") < args.indexOf("file=./seed.iso"), args);
}

/** The used VM "web" of `a` moved into `b` as "web2" through a pipe, its SSH port held. */
async function moveByPipe(a: TestEnv, b: TestEnv, sshPort: number): Promise<string> {
  const held = Deno.listen({ hostname: "127.0.0.1", port: sshPort });
  try {
    // --trust: the test guest boots a kernel of this host's test cache (-kernel <path>), which an
    // import disables unless trusted; README's recipe needs none for a VM booting its own disk.
    const pipe =
      `VMDIR=${a.vmdir} vm export tar web - | VMDIR=${b.vmdir} vm import tar --trust - web2`;
    const r = await new Deno.Command("sh", {
      args: ["-c", pipe],
      env: a.env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    assert.equal(r.code, 0, dec.decode(r.stdout) + dec.decode(r.stderr));
    return dec.decode(r.stdout);
  } finally {
    held.close();
  }
}

/**
 * The stopped, used VM "web" of `a` moves into a new VMDIR with no vm key yet, its SSH port
 * taken there: the import authorises that VMDIR's key with a new instance-id and moves the
 * forward; the guest is reached by vm ssh. Then the key is made anew and regenerate
 * --new-instance-id authorises it in the seed's sources.
 */
async function moveAndReach(a: TestEnv, port: number) {
  const b = TestEnv.create();
  try {
    const out = await moveByPipe(a, b, port);
    const lines = out.trimEnd().split("\n");
    assert.equal(lines[0], `VM "web2" imported into "${b.dir("web2")}" (down)`);
    assert.match(
      lines[1] ?? "",
      new RegExp(
        `^web2: vm's SSH key \\(of "${b.vmdir}"\\) authorised in its seed, with a new ` +
          `instance-id \\(iid-[0-9a-f]{16}\\): cloud-init adds it at the next boot$`,
      ),
    );
    assert.match(lines[2] ?? "", new RegExp(`^web2: SSH forward moved from port ${port} `));
    assert.equal(lines[3], `Start it with "vm start web2 --ssh"`);
    await startWeb(b, b.dir("web2"), "web2");
    assert.equal((await b.vm(["ssh", "web2", "--", "hostname"])).stdout, "web\n");
    await stopWeb(b, b.dir("web2"), "web2");

    // VMDIR b's key made anew: regenerate --new-instance-id authorises it in user-data.
    Deno.removeSync(`${b.vmdir}/.default/ssh`, { recursive: true });
    const before = Deno.readTextFileSync(`${b.dir("web2")}/cloud-init/meta-data`);
    const regen = await b.vm(["cloud-init", "web2", "regenerate", "--new-instance-id"]);
    assert.equal(regen.code, 0, regen.stderr);
    assert.match(regen.stdout, /^web2: vm's SSH key \(of ".*"\) added to cloud-init\/user-data$/m);
    assert.match(regen.stdout, /instance-id iid-[0-9a-f]{16} \(new: /);
    const key = Deno.readTextFileSync(`${b.vmdir}/.default/ssh/id_ed25519.pub`).split(" ")[1] ?? "";
    assert.ok(Deno.readTextFileSync(`${b.dir("web2")}/cloud-init/user-data`).includes(key));
    assert.notEqual(Deno.readTextFileSync(`${b.dir("web2")}/cloud-init/meta-data`), before);
  } finally {
    await b.close();
  }
}

// Benchmark of boot to SSH ready: the cached cloud-init guest (the variant
// with dbus) started by `vm start --ssh` (lib/actions/start_ssh.ts: runsv,
// vm __run becoming QEMU, our seed.iso, then ssh with the pinned host key
// until it logs in), against the same guest booted by a bare
// qemu-system-x86_64 command line with a seed made by cloud-localds from the
// same user-data and meta-data, waited for with the same ssh loop and key.
// Each boot is a first boot on a fresh overlay, with the same devices
// (virtio disk, seed, NIC, agent channel, -smp 1 under TCG). The two boot
// side by side, one core each: the machine's other load (2 shared cores)
// then slows both alike, which one after the other it does not. The ratio
// vm / bare (median over runs) should be at most 1.05.
// Run: deno run -A bench/boot_ssh.ts [runs, default 1]

import { join } from "node:path";
import { startWithSsh } from "../lib/actions/start_ssh.ts";
import { sshTarget } from "../lib/ssh/ssh_args.ts";
import { waitForSsh } from "../lib/ssh/ssh_ready.ts";
import { knownHostsLine } from "../lib/ssh/key_files.ts";
import { SEED_FILES, SSH_FILES } from "../lib/layout.ts";
import { freePort, makeCloudVm, overlay } from "../tests/support/cloud_vm.ts";
import { type CloudGuest, cloudGuestArgs } from "../tests/support/cloud_guest.ts";
import { run, TestEnv } from "../tests/support/harness.ts";

const RUNS = Number(Deno.args[0] ?? 1);
const SSH_TIMEOUT_MS = 600_000;

/** Overlay, cloud-localds seed and known_hosts of a bare boot in `bare` from VM dir `dir`'s sources. */
async function prepareBare(guest: CloudGuest, dir: string, bare: string, port: number) {
  Deno.mkdirSync(bare);
  await overlay(guest, join(bare, "disk.qcow2"));
  const seed = await run("cloud-localds", [
    join(bare, "seed.iso"),
    join(dir, SEED_FILES.userData),
    join(dir, SEED_FILES.metaData),
  ]);
  if (seed.code !== 0) throw new Error(`cloud-localds failed: ${seed.stderr}`);
  const pub = Deno.readTextFileSync(join(dir, SSH_FILES.hostKeyPub));
  Deno.writeTextFileSync(join(bare, "known_hosts"), knownHostsLine(port, pub));
}

/** The bare command line: the guest's, the seed, a NIC with the SSH forward, the agent channel. */
function bareArgs(guest: CloudGuest, bare: string, port: number): string[] {
  return [
    ...cloudGuestArgs(guest, join(bare, "disk.qcow2")),
    "-drive",
    `file=${join(bare, "seed.iso")},if=virtio,format=raw,media=cdrom,readonly=on`,
    "-netdev",
    `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:22`,
    "-device",
    "virtio-net-pci,netdev=n0",
    "-chardev",
    `socket,id=qga,path=${join(bare, "agent")},server=on,wait=off`,
    "-device",
    "virtio-serial-pci,id=qga-serial",
    "-device",
    "virtserialport,bus=qga-serial.0,chardev=qga,name=org.qemu.guest_agent.0",
    "-serial",
    `file:${join(bare, "serial.log")}`,
  ];
}

/** Boots the bare QEMU; ms from spawning it until SSH logs in. Kills it after. */
async function bareBoot(t: TestEnv, guest: CloudGuest, dir: string, i: number): Promise<number> {
  const bare = join(t.root, `bare-${i}`);
  const port = freePort();
  await prepareBare(guest, dir, bare, port);
  const target = {
    ...sshTarget(t.vmdir, `web${i}`, dir),
    port,
    knownHosts: join(bare, "known_hosts"),
  };
  const t0 = performance.now();
  const qemu = new Deno.Command("qemu-system-x86_64", {
    args: bareArgs(guest, bare, port),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitForSsh(target, SSH_TIMEOUT_MS);
    return performance.now() - t0;
  } finally {
    qemu.kill("SIGKILL");
    await qemu.status;
  }
}

/** Boots VM `web<i>` (made, never started) through `vm start --ssh`'s function; ms to SSH. */
async function vmBoot(t: TestEnv, i: number): Promise<number> {
  const name = `web${i}`;
  const r = await startWithSsh(t.vmdir, name, t.dir(name), { timeoutS: SSH_TIMEOUT_MS / 1000 });
  return r.sshSeconds * 1000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const t = TestEnv.create();
try {
  // Made before runsvdir runs: with a vmd, "vm make" starts a new VM once at once.
  const guests: CloudGuest[] = [];
  for (let i = 0; i < RUNS; i++) {
    guests.push((await makeCloudVm(t, `web${i}`, { dbus: true, wait: 60 })).guest);
  }
  t.startRunsvdir();
  const ratios: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const [v, b] = await Promise.all([vmBoot(t, i), bareBoot(t, guests[i]!, t.dir(`web${i}`), i)]);
    ratios.push(v / b);
    const stop = await t.vm(["stop", `web${i}`]);
    console.log(
      `  run ${i + 1}: vm start --ssh ${s(v)}, bare QEMU ${s(b)}; vm stop: ${stop.stdout.trim()}`,
    );
  }
  const ratio = median(ratios);
  console.log(
    `boot_ssh: boot to SSH ready side by side, ${RUNS} run(s): vm start --ssh / bare ` +
      `qemu-system-x86_64 + cloud-localds, median ratio ${ratio.toFixed(3)} (target <= 1.05)`,
  );
  if (ratio > 1.05) Deno.exitCode = 1;
} finally {
  await t.close();
}

// Benchmark of boot to SSH ready: the cached cloud-init guest (the variant
// with dbus) started by `vm start --ssh` (lib/actions/start_ssh.ts: runsv,
// vm __run becoming QEMU, our seed.iso, then ssh with the pinned host key
// until it logs in), against the same guest booted by a bare
// qemu-system-x86_64 command line with a seed made by cloud-localds from the
// same user-data, waited for with the same ssh loop. Each boot is a first
// boot on a fresh overlay, with the same devices (virtio disk, seed, NIC,
// agent channel). Runs alternate (vm, bare, vm, bare…) so load drifts hit
// both; the ratio of the medians should be at most 1.05.
// Run: deno run -A bench/boot_ssh.ts [runs per side, default 1]

import { join } from "node:path";
import { SEED_FILES } from "../lib/cloud_init/seed_file.ts";
import { startWithSsh } from "../lib/actions/start_ssh.ts";
import { sshTarget } from "../lib/ssh/ssh_args.ts";
import { waitForSsh } from "../lib/ssh/ssh_ready.ts";
import { writeKnownHosts } from "../lib/ssh/key_files.ts";
import { freePort, makeCloudVm, overlay } from "../tests/support/cloud_vm.ts";
import { cloudGuest, cloudGuestArgs } from "../tests/support/cloud_guest.ts";
import { run, TestEnv } from "../tests/support/harness.ts";

const RUNS = Number(Deno.args[0] ?? 1);
const SSH_TIMEOUT_MS = 420_000;

/**
 * One bare boot of the guest with the seed sources of VM dir `dir` (made
 * into an ISO by cloud-localds), waited for with its key and pinned host
 * key; ms from spawning QEMU to SSH.
 */
async function bareBoot(t: TestEnv, dir: string, i: number): Promise<number> {
  const bare = join(t.root, `bare-${i}`);
  Deno.mkdirSync(bare);
  const guest = await cloudGuest({ dbus: true });
  await overlay(guest, join(bare, "disk.qcow2"));
  const seed = await run("cloud-localds", [
    join(bare, "seed.iso"),
    join(dir, SEED_FILES.userData),
    join(dir, SEED_FILES.metaData),
  ]);
  if (seed.code !== 0) throw new Error(`cloud-localds failed: ${seed.stderr}`);
  const port = freePort();
  writeKnownHosts(dir, port); // the same pinned key, for the bare boot's port
  const target = { ...sshTarget(t.vmdir, "web", dir), port };
  const t0 = performance.now();
  const qemu = new Deno.Command("qemu-system-x86_64", {
    args: [
      ...cloudGuestArgs(guest, join(bare, "disk.qcow2")),
      "-drive",
      `file=${join(bare, "seed.iso")},if=virtio,format=raw,media=cdrom,readonly=on`,
      "-netdev",
      `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:22`,
      "-device",
      "virtio-net-pci,netdev=n0",
      // The same agent channel as the guest-agent template: the same guest work.
      "-chardev",
      `socket,id=qga,path=${join(bare, "agent")},server=on,wait=off`,
      "-device",
      "virtio-serial-pci,id=qga-serial",
      "-device",
      "virtserialport,bus=qga-serial.0,chardev=qga,name=org.qemu.guest_agent.0",
      "-serial",
      `file:${join(bare, "serial.log")}`,
    ],
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

/** One boot through vm of VM `web<i>` (made, never started), `vm start --ssh`'s function; ms to SSH. Stops it after. */
async function vmBoot(t: TestEnv, i: number): Promise<{ ms: number; dir: string }> {
  const name = `web${i}`;
  const dir = t.dir(name);
  const r = await startWithSsh(t.vmdir, name, dir, { sshTimeoutS: SSH_TIMEOUT_MS / 1000 });
  const stop = await t.vm(["stop", name]);
  console.log(`  vm stop ${name}: ${stop.stdout.trim()}`);
  return { ms: r.sshSeconds * 1000, dir };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

const t = TestEnv.create();
try {
  // Made before runsvdir runs: with a vmd, "vm make" starts a new VM once at once.
  for (let i = 0; i < RUNS; i++) await makeCloudVm(t, `web${i}`, { dbus: true, wait: 60 });
  t.startRunsvdir();
  const bare: number[] = [];
  const viaVm: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    // The first vm run makes the VM directory whose sources the bare boot uses.
    const v = await vmBoot(t, i);
    viaVm.push(v.ms);
    bare.push(await bareBoot(t, v.dir, i));
    console.log(
      `  run ${i + 1}: vm start --ssh ${(v.ms / 1000).toFixed(1)} s, bare QEMU ${
        (bare[i]! / 1000).toFixed(1)
      } s`,
    );
  }
  const ratio = median(viaVm) / median(bare);
  console.log(
    `boot_ssh: boot to SSH ready, median of ${RUNS}: vm start --ssh ${
      (median(viaVm) / 1000).toFixed(1)
    } s, ` +
      `bare qemu-system-x86_64 + cloud-localds ${(median(bare) / 1000).toFixed(1)} s; ratio ${
        ratio.toFixed(3)
      } ` +
      `(target <= 1.05)`,
  );
  if (ratio > 1.05) Deno.exitCode = 1;
} finally {
  await t.close();
}

// Benchmark of a shared folder (issue 26): a sequential write of 256 MiB from
// the guest (busybox dd, 1 MiB blocks, conv=fsync) into a virtiofs share and
// into the guest's own virtio disk (a raw image in the VM directory), in the
// same boot of the test guest under `vm start` (so through vm's virtiofsd
// companion), alternated over ROUNDS rounds; the best of each is compared.
// Times are the guest's (/proc/uptime, 10 ms). Target: the share at least
// 0.5x the disk's throughput. TCG here: both are bound by the emulated CPU;
// the ratio is what matters. The machine may be shared: run it a few times.
// Run: deno run -A bench/share_write.ts [rounds, default 2]

import { join } from "node:path";
import { guestArgs, testGuest } from "../tests/support/guest.ts";
import { readOr, TestEnv, waitFor } from "../tests/support/harness.ts";
import { quoteWords } from "../lib/text/shell_words.ts";
import { findVirtiofsd } from "../lib/qemu/virtiofs.ts";

const ROUNDS = Number(Deno.args[0] ?? 2);
const MIB = 256;
/** Issue 26: the share's throughput at least this share of the disk's. */
const TARGET = 0.5;

if (findVirtiofsd(Deno.uid() === 0) === undefined) {
  console.log("skipped: no virtiofsd that can run here (the C one needs root; no Rust one)");
  Deno.exit(0);
}

/** One timed dd in the guest: prints `BENCH <what> <t0> <t1>`. */
function timed(what: string, of: string): string {
  return `t0=$(cut -d' ' -f1 /proc/uptime); dd if=/dev/zero of=${of} bs=1M count=${MIB} ` +
    `conv=fsync 2>/dev/null || echo BENCH-FAILED ${what}; t1=$(cut -d' ' -f1 /proc/uptime); ` +
    `echo BENCH ${what} $t0 $t1`;
}

const script = [
  "mkdir -p /s && mount -t virtiofs bench /s || echo BENCH-FAILED mount",
  ...Array.from({ length: ROUNDS }, () => [timed("disk", "/dev/vda"), timed("share", "/s/f")])
    .flat(),
  "echo BENCH-DONE",
].join("\n");

const t = TestEnv.create();
try {
  const guest = await testGuest();
  const dir = await t.makeGuestVm("bench");
  const disk = join(dir, "bench.raw");
  Deno.writeFileSync(disk, new Uint8Array(0), { mode: 0o600 });
  Deno.truncateSync(disk, (MIB + 16) * 2 ** 20);
  Deno.writeTextFileSync(
    join(dir, "templates", "guest"),
    quoteWords([
      ...guestArgs(guest, { mem: "256M", run: script }),
      "-drive",
      "file=./bench.raw,if=virtio,format=raw",
      "-chardev",
      "file,id=ser0,path=guest.log,append=on",
      "-serial",
      "chardev:ser0",
    ]) + "\n",
  );
  const folder = join(t.root, "share");
  Deno.mkdirSync(folder);
  let r = await t.vm(["share", "add", "bench", folder, "--tag", "bench"]);
  if (r.code !== 0) throw new Error(r.stderr);
  t.startRunsvdir();
  r = await t.vm(["start", "bench"]);
  if (r.code !== 0) throw new Error(r.stdout + r.stderr);
  const log = join(dir, "guest.log");
  const done = await waitFor(() => readOr(log).includes("BENCH-DONE"), 600_000);
  const out = readOr(log);
  if (!done || out.includes("BENCH-FAILED")) throw new Error(`the guest's run failed:\n${out}`);
  const best = (what: string) =>
    Math.min(
      ...[...out.matchAll(new RegExp(`BENCH ${what} ([0-9.]+) ([0-9.]+)`, "g"))]
        .map((m) => Number(m[2]) - Number(m[1])),
    );
  const diskS = best("disk");
  const shareS = best("share");
  const rate = (s: number) => `${(MIB / s).toFixed(1)} MiB/s`;
  const ratio = diskS / shareS;
  console.log(`${MIB} MiB sequential write in the guest, best of ${ROUNDS} (TCG):`);
  console.log(`  virtio disk:     ${diskS.toFixed(2)} s  ${rate(diskS)}`);
  console.log(`  virtiofs share:  ${shareS.toFixed(2)} s  ${rate(shareS)}`);
  console.log(`  share/disk throughput: ${ratio.toFixed(2)}x (target >= ${TARGET}x)`);
  await t.vm(["stop", "bench"]);
  if (ratio < TARGET) Deno.exitCode = 1;
} finally {
  await t.close();
}

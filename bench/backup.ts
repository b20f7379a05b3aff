// Benchmark of `vm backup` on a 2 GiB qcow2 disk full of data, the busybox
// test guest running (TCG): a full live backup (`vm backup web`, the whole
// command as a user runs it), then 4 MiB written to the running disk (HMP
// `qemu-io`, through QEMU's block layer as a guest write goes: the dirty
// bitmap sees it), then an incremental live backup. Targets: the
// incremental's bytes < 2% of the full one's, its time < 10%. Before the VM
// starts, the same disk is copied by `qemu-img convert -O qcow2`: the full
// live backup's throughput should be at least 0.8× that copy's. The machine
// is shared (2 cores, other QEMUs, the page cache): each of the copy and the
// full backup is done twice, and the faster one counts; the
// backups are timed once the guest has booted (its TCG boot takes a core). Both
// sides flush what they wrote: the backup's target is closed (flushed) before
// `vm backup` ends. To see where the time goes, the job alone (the same QMP
// calls, the target made, filled, closed) is timed between the backups, and
// a `vm backup list` (Deno's start and little else). Before each timed step
// 2 GiB are written and removed (freeBlocks): each side then writes over
// blocks just freed (on this machine's thin disk new blocks cost ~2.5x). The
// copy is `qemu-img convert -t writeback`, which flushes its output to the
// disk at the end as a backup does (its default, `-t unsafe`, leaves the
// data in the page cache: that time is printed too, for reference).
// Run: deno run -A bench/backup.ts [runs, default 1]

import { join } from "node:path";
import { F } from "../lib/layout.ts";
import { QmpClient } from "../lib/qemu/qmp.ts";
import { createImage } from "../lib/qemu/img.ts";
import {
  addTarget,
  blockNodes,
  dismissJobs,
  onConnection,
  removeTarget,
  startJobs,
  waitJobs,
} from "../lib/qemu/block_backup.ts";
import { quoteWords } from "../lib/text/shell_words.ts";
import { run, TestEnv } from "../tests/support/harness.ts";
import { guestArgs, testGuest, waitForText } from "../tests/support/guest.ts";

const RUNS = Number(Deno.args[0] ?? 1);
const MIB = 2 ** 20;
const SIZE_MIB = 2048;

async function must(cmd: string, args: string[], env?: TestEnv): Promise<string> {
  const r = env === undefined ? await run(cmd, args) : await env.vm(args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
}

/** Seconds `work` takes. */
async function timed(work: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await work();
  return (performance.now() - t0) / 1000;
}

/**
 * Seconds of a full backup job of `disk` (the running VM in `dir`) into a new `target`, made,
 * started, waited for and closed by the functions vm backup uses (its flush at the close).
 */
async function jobAlone(dir: string, disk: string, target: string): Promise<number> {
  const qmp = await QmpClient.connect(join(dir, F.qmp));
  try {
    const node = (await blockNodes(qmp, dir)).find((n) => n.file === disk);
    if (node === undefined) throw new Error(`${disk} is not open in QEMU`);
    return await timed(async () => {
      await createImage(target, String(node.size));
      await addTarget(qmp, "bench-t0", target);
      const jobs = [{ id: "bench-0", node: node.node, target: "bench-t0" }];
      await startJobs(qmp, jobs);
      const errors = await waitJobs(onConnection(qmp), ["bench-0"]);
      if (errors.length > 0) throw new Error(errors.join("; "));
      await dismissJobs(qmp, ["bench-0"]);
      await removeTarget(qmp, "bench-t0");
    });
  } finally {
    qmp.close();
    Deno.removeSync(target);
  }
}

/**
 * Makes sure the next 2 GiB written land on blocks the file system had in use: writes them to
 * a file, then removes it (and syncs). On this machine's thin disk a write to blocks never used
 * costs ~2.5x one over blocks freed: without this the copy (removed each time) ran on freed
 * blocks and the backups (kept) on new ones.
 */
async function freeBlocks(root: string): Promise<void> {
  const ballast = join(root, "ballast");
  await must("sh", ["-c", `head -c ${SIZE_MIB + 64}M /dev/zero > ${ballast} && sync`]);
  Deno.removeSync(ballast);
  await must("sync", []);
}

interface Listed {
  kind: string;
  bytes: number;
}

interface Run {
  full: number;
  incr: number;
  fullB: number;
  incrB: number;
  copy: number;
  unsafe: number;
  job: number;
  start: number;
}

async function one(): Promise<Run> {
  const t = TestEnv.create();
  try {
    const dir = await t.makeGuestVm("web", { log: false });
    const disk = join(dir, F.drive);
    await must("qemu-img", ["resize", "-q", disk, `${SIZE_MIB}M`]);
    const data = join(t.root, "data.raw");
    await must("sh", ["-c", `head -c ${SIZE_MIB * MIB} /dev/urandom > ${data}`]);
    await must("qemu-img", ["convert", "-n", "-f", "raw", "-O", "qcow2", data, disk]);
    Deno.removeSync(data);
    const args = [
      ...guestArgs(await testGuest(), { mem: "128M", run: "echo BENCH-READY" }),
      "-chardev",
      "file,id=ser0,path=guest.log,append=on",
      "-serial",
      "chardev:ser0",
      "-drive",
      "file=./drive.qcow2,if=virtio,format=qcow2,id=d0",
    ];
    Deno.writeTextFileSync(join(dir, "templates", "guest"), quoteWords(args) + "\n");
    let copy = Infinity;
    let unsafe = Infinity;
    for (let i = 0; i < 2; i++) {
      for (const mode of ["writeback", "unsafe"]) {
        await must("sync", []);
        const copyTo = join(t.root, "copy.qcow2");
        const convert = ["convert", "-t", mode, "-O", "qcow2", disk, copyTo];
        await freeBlocks(t.root);
        const s = await timed(() => must("qemu-img", convert));
        if (mode === "writeback") copy = Math.min(copy, s);
        else unsafe = Math.min(unsafe, s);
        Deno.removeSync(copyTo);
      }
    }
    t.startRunsvdir();
    await must("vm", ["start", "web"], t);
    // Timed once the guest has booted (TCG: its boot takes a core for seconds) and is idle.
    if (!await waitForText(join(dir, "guest.log"), "BENCH-READY", 120_000)) {
      throw new Error("the guest did not boot");
    }
    // Where the command's time goes: the job alone (lib's calls on the VM's QMP, as vm
    // backup makes them, without the rest), interleaved with the command, and a vm command
    // that does nothing much.
    let full = Infinity;
    let job = Infinity;
    for (let i = 0; i < 2; i++) {
      await freeBlocks(t.root);
      full = Math.min(full, await timed(() => must("vm", ["backup", "web", "--full"], t)));
      await freeBlocks(t.root);
      job = Math.min(job, await jobAlone(dir, disk, join(t.root, "job.qcow2")));
    }
    const start = await timed(() => must("vm", ["backup", "list", "web", "--json"], t));
    const qmp = await QmpClient.connect(join(dir, F.qmp));
    try {
      await qmp.execute("human-monitor-command", {
        "command-line": `qemu-io d0 "write -P 0x5a 1000M 4M"`,
      });
    } finally {
      qmp.close();
    }
    await freeBlocks(t.root);
    const incr = await timed(() => must("vm", ["backup", "web"], t));
    const list = JSON.parse(await must("vm", ["backup", "list", "web", "--json"], t)) as Listed[];
    const [f, i] = list.slice(-2);
    if (f?.kind !== "full" || i?.kind !== "incremental") {
      throw new Error(`unexpected kinds: ${JSON.stringify(list)}`);
    }
    await must("vm", ["stop", "web"], t);
    return { full, incr, fullB: f.bytes, incrB: i.bytes, copy, unsafe, job, start };
  } finally {
    await t.close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const results = [];
for (let i = 0; i < RUNS; i++) {
  const r = await one();
  results.push(r);
  console.log(
    `run ${i + 1}: full ${r.full.toFixed(2)} s (${(r.fullB / MIB).toFixed(1)} MiB), ` +
      `incremental ${r.incr.toFixed(2)} s (${(r.incrB / MIB).toFixed(1)} MiB), ` +
      `qemu-img convert of the stopped disk ${r.copy.toFixed(2)} s ` +
      `(-t unsafe, not flushed: ${r.unsafe.toFixed(2)} s); the job alone ${r.job.toFixed(2)} s, ` +
      `"vm backup list" ${r.start.toFixed(2)} s`,
  );
}
const bytes = median(results.map((r) => r.incrB / r.fullB));
const time = median(results.map((r) => r.incr / r.full));
const speed = median(results.map((r) => r.copy / r.full));
console.log(`incremental/full bytes: ${(bytes * 100).toFixed(2)}% (target < 2%)`);
console.log(`incremental/full time: ${(time * 100).toFixed(1)}% (target < 10%)`);
console.log(`full live throughput / qemu-img convert: ${speed.toFixed(2)}x (target >= 0.8)`);
const alone = median(results.map((r) => r.copy / r.job));
console.log(`the job alone / qemu-img convert: ${alone.toFixed(2)}x`);

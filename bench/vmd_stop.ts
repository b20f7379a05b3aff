// Benchmark of vm daemon's stop: 20 VMs (real TCG guests, small memory) under
// one vm daemon; after TERM to vm daemon, the time until it exits with every
// VM down, next to the slowest single guest's own power-off time measured in
// the same run (the stop each VM's log says and `supervise/stop` records: the
// time from its first ACPI power button press to QEMU's exit), and next to
// one VM stopped alone through runit's path (sv down: runsv, control/t = vm
// __stop, finish), also in the same run. vmd stops its VMs itself, all at
// once over QMP, and their control/t and finish start no Deno process; the
// target is all-down within 1.5x the slowest guest's own power-off (one VM
// after another would be about 20x). The machine may be shared: run it a few
// times.
// Run: deno run -A bench/vmd_stop.ts [number of VMs, default 20]

import { join } from "node:path";
import { readStatus } from "../lib/runit/status.ts";
import { parseStopRecord } from "../lib/vm/stop_record.ts";
import { testGuest } from "../tests/support/guest.ts";
import { readOr, TestEnv } from "../tests/support/harness.ts";
import {
  allReady,
  killHard,
  leftovers,
  LOAD_MEM,
  makeAutostart,
  startDaemon,
} from "../tests/support/daemon.ts";

const VMS = Number(Deno.args[0] ?? 20);
const WAIT_S = 120;
/** Issue 23: all down within this many times the slowest guest's own power-off. */
const TARGET = 1.5;

/** `sv <cmd> <dir>`, without waiting. */
async function sv(cmd: string, dir: string): Promise<void> {
  const out = await new Deno.Command("sv", { args: [cmd, dir], stdin: "null" }).output();
  if (!out.success) throw new Error(`sv ${cmd} ${dir} failed`);
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

const t = TestEnv.create();
let daemonPid: number | undefined;
try {
  const names = Array.from({ length: VMS }, (_, i) => `b${String(i + 1).padStart(2, "0")}`);
  const dirs = await makeAutostart(t, names.map((name) => ({ name, mem: LOAD_MEM, wait: WAIT_S })));
  // One more VM, not started with vmd: the baseline of one VM stopped alone.
  const solo = await t.makeGuestVm("solo", await testGuest(), { mem: LOAD_MEM, wait: WAIT_S });
  const d = startDaemon(t);
  daemonPid = d.pid;
  const tBoot = performance.now();
  await allReady(dirs, 600_000);
  const bootMs = performance.now() - tBoot;
  // Let the guests settle (the shells on their consoles start).
  await new Promise((r) => setTimeout(r, 3000));

  // Baseline, same run: one VM alone through the same path (runsv TERMs it
  // through control/t = vm __stop, then finish = vm __finish) until down.
  await sv("up", solo);
  await allReady([solo], 120_000);
  await new Promise((r) => setTimeout(r, 2000));
  const s0 = performance.now();
  await sv("down", solo);
  while (readStatus(solo)?.state !== "down") await new Promise((r) => setTimeout(r, 10));
  const soloMs = performance.now() - s0;

  const t0 = performance.now();
  const termAt = Date.now();
  Deno.kill(d.pid, "SIGTERM");
  const st = await d.status;
  const allDownMs = performance.now() - t0;
  if (st.code !== 0) throw new Error(`vm daemon exited ${st.code}: ${d.log()}`);
  const left = leftovers(t.vmdir);
  if (left.length > 0) throw new Error(`processes left: ${left.join(", ")}`);

  // Each guest's own power-off, in ms as the stop recorded it (the log line rounds to 0.1 s).
  const own: number[] = [];
  const pressAt: number[] = []; // ms after TERM: each guest's first ACPI press, and its QEMU's exit
  const exitAt: number[] = [];
  for (const dir of dirs) {
    const log = Deno.readTextFileSync(join(dir, "log/main/current"));
    if (!/the guest powered off in [0-9.]+ s/.test(log)) {
      throw new Error(`${dir}: no graceful power-off in its log:\n${log}`);
    }
    const rec = parseStopRecord(readOr(join(dir, "supervise/stop")));
    if (rec?.how !== "poweroff") throw new Error(`${dir}: no power-off recorded`);
    own.push(rec.ms);
    pressAt.push(rec.at - rec.ms - termAt);
    exitAt.push(rec.at - termAt);
  }
  own.sort((a, b) => a - b);
  const slowest = own.at(-1) ?? NaN;
  console.log(`vmd_stop: ${VMS} VMs (TCG, -m ${LOAD_MEM}) under one vm daemon`);
  console.log(`  all ${VMS} guests booted in ${secs(bootMs)}`);
  console.log(`  TERM to vm daemon -> exit 0, all ${VMS} down: ${secs(allDownMs)}`);
  console.log(
    `  slowest single guest's own power-off (first ACPI press -> QEMU exit): ${secs(slowest)}` +
      ` (median ${secs(own[Math.floor(own.length / 2)] ?? NaN)}, fastest ${secs(own[0] ?? NaN)})`,
  );
  const downAt = [...d.log().matchAll(/VM "[^"]+" is down \(([0-9.]+) s\)/g)].map((m) =>
    Number(m[1])
  );
  console.log(
    `  vm daemon saw the first VM down after ${Math.min(...downAt).toFixed(1)} s, ` +
      `the last after ${Math.max(...downAt).toFixed(1)} s (${downAt.length} VMs)`,
  );
  console.log(
    `  after TERM: the last first ACPI press at ${secs(Math.max(...pressAt))}, ` +
      `the last QEMU exit at ${secs(Math.max(...exitAt))}, vm daemon's exit at ${secs(allDownMs)}`,
  );
  console.log(`  one VM stopped alone, same path (sv down -> runsv reports down): ${secs(soloMs)}`);
  const ratio = allDownMs / slowest;
  console.log(
    `  ratio all-down / slowest single guest's power-off: ${ratio.toFixed(2)}x ` +
      `(target <= ${TARGET}x: ${ratio <= TARGET ? "met" : "NOT met"}); ` +
      `all-down / one VM alone: ${(allDownMs / soloMs).toFixed(2)}x ` +
      `(one after another would be about ${VMS}x)`,
  );
} finally {
  if (daemonPid !== undefined) killHard(daemonPid);
  await t.close();
}

// Benchmark of the run-time contract, on the real test guest under TCG, with
// baselines measured in the same run:
// - stop: `sv down` to QEMU gone, vs. the guest's own power-off time (QMP
//   POWERDOWN event to QEMU's exit, bare QEMU without runit). Target: <= +0.3 s.
// - start: `sv up` to QEMU exec'd (the supervised PID is QEMU), vs. a bare
//   `deno run` of an empty script. Target: <= bare Deno start + 30 ms.
// - resident memory of processes under runsv besides QEMU (and svlogd). Target: 0.
// Run: deno run -A bench/runtime.ts

import { join } from "node:path";
import { readStatus } from "../lib/runit/status.ts";
import { QmpClient } from "../lib/qemu/qmp.ts";
import { GUEST_READY, guestArgs, testGuest, waitForText } from "../tests/support/guest.ts";
import {
  alive,
  descendants,
  exeOf,
  ppidOf,
  sleep,
  TestEnv,
  waitFor,
} from "../tests/support/harness.ts";
import { control } from "../lib/runit/control.ts";

const ROUNDS = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

function ms(x: number): string {
  return `${x.toFixed(0)} ms`;
}

/** Polls `pred` as fast as it can (for timing); returns performance.now() when it held. */
async function until(pred: () => boolean, timeoutMs: number): Promise<number> {
  const end = performance.now() + timeoutMs;
  while (!pred()) {
    if (performance.now() > end) throw new Error("timed out");
    await sleep(1);
  }
  return performance.now();
}

/** The guest's own power-off time: bare QEMU, QMP POWERDOWN event to QEMU's exit. */
async function guestPoweroff(): Promise<number> {
  const guest = await testGuest();
  const dir = Deno.makeTempDirSync({ prefix: "vm-bench-" });
  const qemu = new Deno.Command("qemu-system-x86_64", {
    args: [
      ...guestArgs(guest),
      "-serial",
      `file:${dir}/serial`,
      "-qmp",
      `unix:${dir}/qmp,server=on,wait=off`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    if (!await waitForText(join(dir, "serial"), GUEST_READY, 60_000)) {
      throw new Error("guest did not boot");
    }
    const q = await QmpClient.connect(join(dir, "qmp"));
    try {
      await q.send("system_powerdown");
      const ev = await q.waitForEvent("POWERDOWN", 5000);
      if (ev === undefined) throw new Error("no POWERDOWN event");
      await q.waitClosed(15_000);
      await qemu.status;
      return performance.now() - ev.receivedAt;
    } finally {
      q.close();
    }
  } finally {
    try {
      qemu.kill("SIGKILL");
    } catch { /* exited */ }
    await qemu.status;
    Deno.removeSync(dir, { recursive: true });
  }
}

/** A bare `deno run` of an empty script, spawn to exit. */
async function bareDeno(): Promise<number> {
  const dir = Deno.makeTempDirSync({ prefix: "vm-bench-" });
  try {
    Deno.writeTextFileSync(join(dir, "empty.ts"), "");
    const t0 = performance.now();
    await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", join(dir, "empty.ts")],
    }).output();
    return performance.now() - t0;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

function rssKb(pid: number): number {
  try {
    const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/^VmRSS:\s+(\d+) kB/m);
    return Number(m?.[1] ?? 0);
  } catch {
    return 0;
  }
}

async function main(): Promise<void> {
  const guest = await testGuest();
  const poweroff: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    poweroff.push(await guestPoweroff());
    bare.push(await bareDeno());
  }

  const t = TestEnv.create();
  const stops: number[] = [];
  const starts: number[] = [];
  let extraKb = 0;
  let extraProcs = 0;
  try {
    const dir = await t.makeGuestVm("bench", guest, { wait: 10 });
    t.startRunsvdir();
    if (!await waitFor(() => readStatus(dir) !== undefined, 10_000)) {
      throw new Error("runsv did not start");
    }
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = performance.now();
      control(dir, "u");
      let pid = 0;
      const t1 = await until(() => {
        const st = readStatus(dir);
        pid = st?.state === "run" ? st.pid : 0;
        return pid !== 0 && (exeOf(pid) ?? "").includes("qemu-system");
      }, 10_000);
      starts.push(t1 - t0);
      if (!await waitForText(join(dir, "guest.log"), GUEST_READY, 60_000)) {
        throw new Error("no boot");
      }
      // Everything under runsv besides QEMU and the log's svlogd.
      const runsv = ppidOf(pid) ?? 0;
      for (const p of descendants(runsv)) {
        if (p === pid || (exeOf(p) ?? "").endsWith("/svlogd")) continue;
        extraProcs++;
        extraKb += rssKb(p);
      }
      Deno.writeTextFileSync(join(dir, "guest.log"), "");
      const t2 = performance.now();
      control(dir, "d");
      const t3 = await until(() => !alive(pid), 20_000);
      stops.push(t3 - t2);
      await waitFor(() => readStatus(dir)?.state === "down", 10_000);
    }
  } finally {
    await t.close();
  }

  const p = median(poweroff);
  const s = median(stops);
  const b = median(bare);
  const u = median(starts);
  console.log(`runtime benchmark (median of ${ROUNDS}, real guest under TCG)`);
  console.log(
    `stop:  sv down -> QEMU gone ${ms(s)}; guest's own power-off ${ms(p)}; ` +
      `ratio ${(s / p).toFixed(2)}, overhead ${ms(s - p)} (target <= 300 ms)`,
  );
  console.log(
    `start: sv up -> QEMU exec'd ${ms(u)}; bare deno start ${ms(b)}; ` +
      `ratio ${(u / b).toFixed(2)}, overhead ${ms(u - b)} (target <= 30 ms)`,
  );
  console.log(
    `memory beyond QEMU under runsv: ${extraProcs / ROUNDS} process(es), ${
      extraKb / ROUNDS
    } kB (target 0)`,
  );
}

if (import.meta.main) await main();

// A QEMU whose runsv was killed (kill -9) is not lost to
// vm: list/status/info show it as `orphan` with its PID, qmp, monitor and
// console reach it, doctor names it, `vm stop` powers the guest off through
// its sockets within its wait and ends the svlogd the dead runsv left, and
// the next `vm start` brings exactly one QEMU whose log lines appear.
// Slow (ten seconds or more of guests): left out of test:quick.

import assert from "node:assert/strict";
import { join } from "node:path";
import { qemuPidsIn } from "../../lib/qemu/processes.ts";
import { procStat } from "../../lib/os/proc.ts";
import { isSupervised, readStatus } from "../../lib/runit/status.ts";
import {
  alive,
  ppidOf,
  processesIn,
  readOr,
  test,
  type TestEnv,
  waitFor,
} from "../support/harness.ts";

const BOOT_MS = 90_000;

/** The svlogd processes logging in `dir`'s log/ whose runsv is gone (their parent is not one). */
function strayLoggers(dir: string): number[] {
  return processesIn(join(dir, "log")).filter((pid) =>
    procStat(pid)?.comm === "svlogd" && procStat(procStat(pid)?.ppid ?? 0)?.comm !== "runsv"
  );
}

/** Types into the guest's console until its shell answers; returns whether it did. */
async function guestAnswers(t: TestEnv, vm: string, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const r = await t.vm(["console", "--idle", "2", vm], { stdin: "echo ready-$((6*7))\n" });
    if (/^ready-42\r?$/m.test(r.stdout)) return true;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return false;
}

test("a QEMU whose runsv was killed is an orphan vm can reach, stop and restart", async (t) => {
  const dir = await t.makeGuestVm("o", { console: "socket", log: true, wait: 30 });
  Deno.writeTextFileSync(join(dir, "hooks"), 'pre_qemu() { echo "pre_qemu ran for $VM_NAME"; }\n', {
    mode: 0o600,
  });
  t.startRunsvdir();
  assert.ok(await waitFor(() => isSupervised(dir), 10_000), "no runsv");
  const start = await t.vm(["start", "o"]);
  assert.equal(start.code, 0, start.stderr);
  assert.ok(await guestAnswers(t, "o", BOOT_MS), "the guest's shell did not answer");
  const qemu = readStatus(dir)?.pid ?? 0;
  const runsv = ppidOf(qemu) ?? 0;
  Deno.kill(runsv, "SIGKILL");
  // runsvdir starts a new runsv (the VM has autostart off: it stays down).
  assert.ok(await waitFor(() => !alive(runsv) && isSupervised(dir), 15_000), "no new runsv");
  assert.ok(alive(qemu));

  const [state] = JSON.parse((await t.vm(["list", "--json"])).stdout);
  assert.equal(state.state, "orphan");
  assert.equal(state.pid, qemu);
  const status = await t.vm(["status", "o"]);
  assert.equal(status.code, 1);
  assert.match(status.stdout, /state: +orphan\n\s+pid: +(\d+)/);
  assert.match((await t.vm(["info", "o"])).stdout, new RegExp(`state: +orphan \\(PID ${qemu}`));
  const qmp = await t.vm(["qmp", "o", "query-status"]);
  assert.equal(qmp.code, 0, qmp.stderr);
  assert.equal(JSON.parse(qmp.stdout).running, true);
  const monitor = await t.vm(["monitor", "o"], { stdin: "info status\n" });
  assert.match(monitor.stdout, /VM status: running/);
  const console = await t.vm(["console", "o"], { stdin: "echo orphan-$((6*7))\n" });
  assert.match(console.stdout, /^orphan-42\r?$/m);
  const doctor = await t.vm(["doctor"]);
  assert.equal(doctor.code, 1);
  assert.ok(
    doctor.stdout.includes(
      `VM "o": QEMU (PID ${qemu}) runs without its runsv (was it killed?); fix: vm stop o\n`,
    ),
    doctor.stdout,
  );
  assert.ok(strayLoggers(dir).length > 0, "the dead runsv's svlogd still runs");

  const stop = await t.vm(["stop", "o"]);
  assert.equal(stop.code, 0, stop.stderr);
  const m =
    /^Stopped "o" in ([0-9.]+) s \(guest powered off; QEMU \(PID (\d+)\) ran without its runsv\)\n$/
      .exec(stop.stdout);
  assert.ok(m !== null, stop.stdout);
  assert.ok(Number(m[1]) < 30, "within its wait");
  assert.equal(Number(m[2]), qemu);
  assert.ok(!alive(qemu));
  assert.deepEqual(strayLoggers(dir), []);

  const again = await t.vm(["start", "o"]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(qemuPidsIn(dir).length, 1, "exactly one QEMU");
  const log = join(dir, "log", "main", "current");
  const twice = () => (readOr(log).match(/pre_qemu ran for o/g) ?? []).length >= 2;
  assert.ok(await waitFor(twice, 10_000), `the new start's line is not logged: ${readOr(log)}`);
  const [after] = JSON.parse((await t.vm(["list", "--json"])).stdout);
  assert.equal(after.state, "run");
});

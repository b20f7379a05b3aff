// vm daemon (vmd) with a real runsvdir, real QEMU and real guests under TCG:
// graceful stop of every VM on TERM, one daemon per VMDIR, adoption after
// kill -9 (runsvdir surviving or not), crash-loop backoff.
// Slow (half a minute or more): left out of test:quick.

import assert from "node:assert/strict";
import { join } from "node:path";
import { readStatus } from "../../lib/runit/status.ts";
import { procStat } from "../../lib/os/proc.ts";
import { GUEST_POWERDOWN, GUEST_READY, waitForText } from "../support/guest.ts";
import { alive, readOr, run, sleep, test, type TestEnv, waitFor } from "../support/harness.ts";
import {
  allReady,
  BOOT_MS,
  leftovers,
  makeAutostart,
  qemusIn,
  startDaemon,
} from "../support/daemon.ts";
import { findRunsvdir } from "../../lib/qemu/processes.ts";

/** Counts the QEMU processes of each VM dir, after `settleMs` (longer than runsvdir's 5 s rescan). */
async function qemuCounts(dirs: string[], settleMs: number): Promise<number[]> {
  await sleep(settleMs);
  return dirs.map((d) => qemusIn(d).length);
}

test("vm daemon: TERM stops 3 obeying guests and 1 ACPI-deaf guest (wait 3) gracefully, exit 0 within wait + 3 s", async (t) => {
  const dirs = await makeAutostart(t, [
    { name: "ob1" },
    { name: "ob2" },
    { name: "ob3" },
    { name: "deaf", wait: 3, deaf: true },
  ]);
  const d = startDaemon(t);
  await allReady(dirs);
  for (const dir of dirs) assert.equal(qemusIn(dir).length, 1, dir);
  const rsd = findRunsvdir(t.vmdir);
  assert.equal(rsd.length, 1);
  // runsvdir runs in its own session: a terminal's Ctrl-C would not reach it.
  assert.notEqual(procStat(rsd[0] ?? 0)?.session, procStat(d.pid)?.session);

  const t0 = performance.now();
  Deno.kill(d.pid, "SIGTERM");
  const st = await d.status;
  const secs = (performance.now() - t0) / 1000;
  assert.equal(st.code, 0, d.log());
  assert.ok(secs < 3 + 3, `vm daemon took ${secs.toFixed(1)} s to exit: ${d.log()}`);
  assert.deepEqual(leftovers(t.vmdir), [], d.log());
  for (const dir of dirs.slice(0, 3)) {
    assert.ok(readOr(join(dir, "guest.log")).includes(GUEST_POWERDOWN), dir);
    assert.match(readOr(join(dir, "log/main/current")), /the guest powered off in/);
  }
  assert.ok(!readOr(join(dirs[3] ?? "", "guest.log")).includes(GUEST_POWERDOWN));
  assert.match(readOr(join(dirs[3] ?? "", "log/main/current")), /did not power off within 3 s/);
  for (const dir of dirs) assert.equal(readStatus(dir)?.state, "down", dir);
  assert.match(d.log(), /stopping 4 VM\(s\) in parallel/);
  assert.match(d.log(), /every VM is down/);
});

test("vm daemon: a second daemon, or a runsvdir not started by vm daemon, is refused", async (t) => {
  const d = startDaemon(t);
  assert.ok(await waitFor(() => findRunsvdir(t.vmdir).length === 1, 10_000), d.log());
  const second = await t.vm(["daemon"]);
  assert.equal(second.code, 1);
  assert.match(
    second.stderr,
    new RegExp(`^vm: fatal: Another "vm daemon" \\(PID ${d.pid}\\) already supervises`),
  );
  assert.equal(findRunsvdir(t.vmdir).length, 1, "the second daemon started no runsvdir");
  Deno.kill(d.pid, "SIGTERM");
  assert.equal((await d.status).code, 0, d.log());
  assert.deepEqual(findRunsvdir(t.vmdir), []);

  // The seed's vmd: a plain runsvdir on VMDIR.
  t.startRunsvdir();
  assert.ok(await waitFor(() => findRunsvdir(t.vmdir).length === 1, 10_000));
  const third = await t.vm(["daemon"]);
  assert.equal(third.code, 1);
  assert.match(
    third.stderr,
    /^vm: fatal: runsvdir PID \d+ already supervises .* not started by "vm daemon"/,
  );
});

/**
 * kill -9 of vm daemon (and of its runsvdir too when `killRunsvdir`), then
 * a new vm daemon: each VM that was up is up exactly once (the same QEMU),
 * the one that was down stays down, and `stopWith` (INT, as from Ctrl-C, or
 * HUP) stops them gracefully, as TERM does.
 */
async function killNineAndRestart(
  t: TestEnv,
  killRunsvdir: boolean,
  stopWith: Deno.Signal,
): Promise<void> {
  const dirs = await makeAutostart(t, [{ name: "up1" }, { name: "up2" }]);
  const downDir = await t.makeGuestVm("off"); // has `down`: stays down
  const d1 = startDaemon(t);
  await allReady(dirs);
  const before = dirs.map((d) => qemusIn(d));
  assert.deepEqual(before.map((p) => p.length), [1, 1]);
  const [rsd] = findRunsvdir(t.vmdir);
  assert.ok(rsd !== undefined);

  Deno.kill(d1.pid, "SIGKILL");
  await d1.status;
  if (killRunsvdir) Deno.kill(rsd, "SIGKILL");
  await sleep(500);
  assert.equal(alive(rsd), !killRunsvdir);

  const d2 = startDaemon(t);
  const adopted = killRunsvdir ? /VM "up1": adopted runsv PID \d+/ : /adopted runsvdir PID \d+/;
  assert.ok(await waitFor(() => adopted.test(d2.log()), 10_000), d2.log());
  // Longer than runsvdir's 5 s rescan: a second QEMU would have started by now.
  assert.deepEqual(await qemuCounts([...dirs, downDir], 7000), [1, 1, 0], d2.log());
  assert.deepEqual(dirs.map((d) => qemusIn(d)), before, "the same QEMUs, not restarted");
  if (killRunsvdir) {
    // The new runsvdir's own runsv cannot take the lock while the adopted one lives.
    assert.match(d2.log(), /unable to lock supervise\/lock/);
    assert.equal(findRunsvdir(t.vmdir).length, 1);
  } else {
    assert.deepEqual(findRunsvdir(t.vmdir), [rsd], "the left-over runsvdir was adopted");
  }
  const listed = await t.vm(["list", "--json"]);
  assert.equal(listed.code, 0, listed.stderr);
  const states = JSON.parse(listed.stdout) as { name: string; state: string }[];
  assert.deepEqual(states.map((s) => [s.name, s.state]), [
    ["off", "down"],
    ["up1", "run"],
    ["up2", "run"],
  ]);

  const t0 = performance.now();
  Deno.kill(d2.pid, stopWith);
  const st = await d2.status;
  assert.equal(st.code, 0, d2.log());
  assert.ok((performance.now() - t0) / 1000 < 10 + 3, d2.log());
  assert.deepEqual(leftovers(t.vmdir), [], d2.log());
  assert.match(d2.log(), /stopping 2 VM\(s\) in parallel.*: "up1", "up2"\n/);
  for (const dir of dirs) {
    assert.ok(readOr(join(dir, "guest.log")).includes(GUEST_POWERDOWN), dir);
  }
}

test("vm daemon: after kill -9 of vm daemon (runsvdir survives), a new daemon adopts it: each VM up once, then stops gracefully", async (t) => {
  await killNineAndRestart(t, false, "SIGINT");
});

test("vm daemon: after kill -9 of vm daemon and its runsvdir, a new daemon adopts the runsv: each VM up once, then stops gracefully", async (t) => {
  await killNineAndRestart(t, true, "SIGHUP");
});

/** CPU seconds (own and waited-for children) of `pid`, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const f = readOr(`/proc/${pid}/stat`).split(") ")[1]?.split(" ") ?? [];
  // utime(14) stime(15) cutime(16) cstime(17), counted from the state field (3).
  const ticks = [11, 12, 13, 14].reduce((s, i) => s + Number(f[i] ?? 0), 0);
  return ticks / 100;
}

test("vm daemon: a VM whose QEMU exits at once backs off 1, 2, 4 s…, shows backoff in vm list, stays cheap, recovers once fixed", async (t) => {
  const [dir = ""] = await makeAutostart(t, [{ name: "broken" }]);
  const guestTemplate = join(dir, "templates", "guest");
  const good = Deno.readTextFileSync(guestTemplate);
  Deno.writeTextFileSync(guestTemplate, good + "-frobnicate\n");
  const d = startDaemon(t);
  const log = join(dir, "log/main/current");
  const delays = () => [...readOr(log).matchAll(/next start in (\d+) s/g)].map((m) => Number(m[1]));
  assert.ok(await waitFor(() => delays().length >= 1, 30_000), readOr(log));
  const runsv = procStat(Number(readOr(join(dir, "supervise/pid")) || 0))?.ppid ?? 0;
  assert.ok(runsv > 0);
  const cpu0 = cpuSeconds(runsv);
  const wall0 = performance.now();
  assert.ok(await waitFor(() => delays().length >= 4, 60_000), readOr(log));
  assert.deepEqual(delays().slice(0, 4), [1, 2, 4, 8], readOr(log));
  assert.match(readOr(log), /-frobnicate/, "QEMU's own complaint is in the log");
  assert.match(readOr(log), /QEMU ended after \d+\.\d s \(exit 1\); next start in 8 s/);
  // `vm list` shows the backoff with the seconds left.
  const listed = await t.vm(["list", "--json"]);
  const [s] = JSON.parse(listed.stdout) as { state: string; backoff_s: number | null }[];
  assert.equal(s?.state, "backoff", listed.stdout);
  assert.ok(s.backoff_s !== null && s.backoff_s >= 1 && s.backoff_s <= 8, listed.stdout);
  const table = await t.vm(["list"]);
  assert.match(table.stdout, /broken\s+backoff \d+s/);
  // Cheap: every start and finish under the runsv (its children, waited for) over the window;
  // a busy-waiting backoff would use a whole CPU (measured here: about 5 %).
  const cpu = cpuSeconds(runsv) - cpu0;
  const wall = (performance.now() - wall0) / 1000;
  assert.ok(cpu / wall < 0.25, `${cpu.toFixed(2)} CPU s in ${wall.toFixed(1)} s`);

  // Fixed: it starts by itself at the next attempt and boots.
  Deno.writeTextFileSync(guestTemplate, good);
  assert.ok(await waitForText(join(dir, "guest.log"), GUEST_READY, 8_000 + BOOT_MS));
  assert.equal(readStatus(dir)?.state, "run");
  const again = JSON.parse((await t.vm(["list", "--json"])).stdout) as { state: string }[];
  assert.equal(again[0]?.state, "run");

  Deno.kill(d.pid, "SIGTERM");
  assert.equal((await d.status).code, 0, d.log());
  assert.ok(readOr(join(dir, "guest.log")).includes(GUEST_POWERDOWN));
});

test("vm daemon: sv down and a daemon stop end a backoff at once; sv once does not back off", async (t) => {
  const [dir = ""] = await makeAutostart(t, [{ name: "broken", wait: 10 }]);
  Deno.writeTextFileSync(join(dir, "templates", "broken"), "-frobnicate\n");
  const d = startDaemon(t);
  const log = join(dir, "log/main/current");
  const inBackoff = (n: number) => () =>
    readStatus(dir)?.state === "finish" && readOr(log).includes(`next start in ${n} s`);
  assert.ok(await waitFor(inBackoff(4), 40_000), readOr(log));
  let t0 = performance.now();
  const down = await run("sv", ["down", dir]);
  assert.equal(down.code, 0, down.stdout + down.stderr);
  assert.ok(await waitFor(() => readStatus(dir)?.state === "down", 2_000), readOr(log));
  assert.ok(performance.now() - t0 < 2_000);
  const listed = JSON.parse((await t.vm(["list", "--json"])).stdout) as { state: string }[];
  assert.equal(listed[0]?.state, "down");

  // sv once: one start, no restart, so no backoff either (runit's semantics).
  const onceMark = readOr(log).length;
  assert.equal((await run("sv", ["once", dir])).code, 0);
  assert.ok(
    await waitFor(() => /invalid option/.test(readOr(log).slice(onceMark)), 10_000),
    readOr(log),
  );
  assert.ok(await waitFor(() => readStatus(dir)?.state === "down", 5_000), readOr(log));
  await sleep(2000);
  assert.equal(readStatus(dir)?.state, "down");
  assert.doesNotMatch(readOr(log).slice(onceMark), /next start in/);

  // Up again: it backs off again, from 1 s (the user intervened).
  const mark = readOr(log).length;
  assert.equal((await run("sv", ["up", dir])).code, 0);
  const fresh = () =>
    [...readOr(log).slice(mark).matchAll(/next start in (\d+) s/g)].map((m) => Number(m[1]));
  assert.ok(await waitFor(() => fresh().length >= 1, 20_000), readOr(log));
  assert.equal(fresh()[0], 1, readOr(log));

  // The daemon's stop does not wait for the backoff to end.
  assert.ok(await waitFor(() => readStatus(dir)?.state === "finish", 20_000));
  t0 = performance.now();
  Deno.kill(d.pid, "SIGTERM");
  assert.equal((await d.status).code, 0, d.log());
  assert.ok(performance.now() - t0 < 5_000, `${performance.now() - t0} ms: ${d.log()}`);
  assert.deepEqual(leftovers(t.vmdir), []);
});

test("vm daemon: when runsvdir dies under it, it starts a new one and keeps the VMs (one QEMU each)", async (t) => {
  const dirs = await makeAutostart(t, [{ name: "v1" }]);
  const [dir = ""] = dirs;
  const d = startDaemon(t);
  await allReady(dirs);
  const qemu = qemusIn(dir);
  const [rsd] = findRunsvdir(t.vmdir);
  assert.ok(rsd !== undefined && qemu.length === 1);
  Deno.kill(rsd, "SIGKILL");
  assert.ok(
    await waitFor(
      () => /runsvdir PID \d+ was killed by SIGKILL unexpectedly/.test(d.log()),
      5_000,
    ),
    d.log(),
  );
  assert.ok(
    await waitFor(() => findRunsvdir(t.vmdir).some((p) => p !== rsd), 10_000),
    d.log(),
  );
  assert.match(d.log(), /VM "v1": adopted runsv PID \d+/);
  await sleep(6000);
  assert.deepEqual(qemusIn(dir), qemu, "the same QEMU, still alone");
  Deno.kill(d.pid, "SIGTERM");
  assert.equal((await d.status).code, 0, d.log());
  assert.deepEqual(leftovers(t.vmdir), []);
  assert.ok(readOr(join(dir, "guest.log")).includes(GUEST_POWERDOWN));
});

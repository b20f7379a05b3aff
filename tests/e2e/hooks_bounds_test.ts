// No hook outlives its bound or the VM. Each hook hangs in
// turn — pre_qemu under `vm args` and under runsv (ended by `vm stop`, which
// says QEMU never ran), post_qemu past QEMU's exit, cleanup past its bound —
// and afterwards no process works in the VM directory but runit's own.
// QEMU runs without a guest (`-machine none`): nothing here needs one.
// Slow (half a minute or more): left out of test:quick.

import assert from "node:assert/strict";
import { join } from "node:path";
import { cmdlineOf, procStat, signal } from "../../lib/os/proc.ts";
import { isSupervised } from "../../lib/runit/status.ts";
import { processesIn, qemuUp, readOr, test, type TestEnv, waitFor } from "../support/harness.ts";
import { spawnPiped } from "../support/piped.ts";

/** Makes VM `name` whose QEMU needs no guest, with `hooks`; returns its directory. */
async function hookVm(t: TestEnv, name: string, hooks: string, wait: number, log = false) {
  const r = await t.vm(
    ["make", name, "--disk", "1M", "--wait", String(wait), log ? "--log" : "--no-log", "-y"],
    { env: { VMCONF_DEFAULT_TEMPLATES: "display-none" } },
  );
  assert.equal(r.code, 0, r.stderr);
  const dir = t.dir(name);
  Deno.writeTextFileSync(join(dir, "templates", "none"), "-machine none -nodefaults\n");
  Deno.writeTextFileSync(join(dir, "hooks"), hooks, { mode: 0o600 });
  return dir;
}

/** Processes working in `dir` other than runit's own (runsv, svlogd), with their argv. */
function strays(dir: string): string[] {
  return processesIn(dir)
    .filter((pid) => !["runsv", "svlogd"].includes(procStat(pid)?.comm ?? ""))
    .map((pid) => `${pid}: ${(cmdlineOf(pid) ?? []).join(" ")}`);
}

/** Waits until a process runs `sleep <arg>` in `dir`. */
function sleeping(dir: string, arg: string, ms: number): Promise<boolean> {
  return waitFor(() => strays(dir).some((p) => p.endsWith(`sleep ${arg}`)), ms);
}

/** Starts runsvdir and waits until the VM in `dir` is supervised. */
async function supervise(t: TestEnv, dir: string): Promise<void> {
  t.startRunsvdir();
  assert.ok(await waitFor(() => isSupervised(dir), 10_000), "no runsv");
}

test("vm args with a hanging pre_qemu ends it after the bound; nothing is left", async (t) => {
  // One child ignores TERM: the group gets KILL 2 s later.
  const hooks = "pre_qemu() { (trap '' TERM; sleep 100001) & sleep 100000; }\n";
  const dir = await hookVm(t, "h", hooks, 0);
  const child = spawnPiped(t.vmExe, ["args", "h"], t.env);
  await child.stdin.close();
  const t0 = performance.now();
  const output = child.output();
  let hung = false;
  const guard = setTimeout(() => {
    // Unbounded: end vm and the hook by PID (they hold the pipes), so the test can fail.
    hung = true;
    child.kill("SIGKILL");
    for (const pid of processesIn(dir)) signal(pid, "SIGKILL");
  }, 25_000);
  const out = await output;
  clearTimeout(guard);
  assert.ok(!hung, "vm args still ran after 25 s: pre_qemu was not bounded");
  const s = (performance.now() - t0) / 1000;
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 111, `after ${s.toFixed(1)} s: ${stderr}`);
  assert.match(stderr, /pre_qemu did not finish within 10 s \(the VM's wait, at least 10 s\)/);
  assert.ok(s > 11.5 && s < 18, `${s} s: TERM after 10 s, KILL 2 s later`);
  assert.ok(await waitFor(() => strays(dir).length === 0, 3000), strays(dir).join("\n"));
});

test("vm stop during a hanging pre_qemu ends the hook's group; QEMU never ran", async (t) => {
  const dir = await hookVm(t, "h", "pre_qemu() { sleep 100001 & sleep 100000; }\n", 30);
  await supervise(t, dir);
  const up = await t.vm(["sv", "up", "h"]);
  assert.equal(up.code, 0, up.stdout + up.stderr);
  assert.ok(await sleeping(dir, "100000", 10_000), "pre_qemu did not start");
  const t0 = performance.now();
  const stop = await t.vm(["stop", "h"]);
  const s = (performance.now() - t0) / 1000;
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal(stop.stdout, `"h" was not running; stopped its restart\n`);
  assert.ok(s < 10, `${s} s`);
  assert.ok(await waitFor(() => strays(dir).length === 0, 3000), strays(dir).join("\n"));
});

test("a post_qemu that never ends is ended with its children when QEMU stops", async (t) => {
  const dir = await hookVm(t, "h", "post_qemu() { sleep 100001 & sleep 100000; }\n", 1);
  await supervise(t, dir);
  await t.vm(["sv", "up", "h"]);
  await qemuUp(dir);
  assert.ok(await sleeping(dir, "100000", 10_000), "post_qemu did not start");
  assert.ok(await sleeping(dir, "100001", 1000), "post_qemu's child did not start");
  const stop = await t.vm(["stop", "h"]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.ok(await waitFor(() => strays(dir).length === 0, 5000), strays(dir).join("\n"));
});

test("a cleanup that never ends is ended after its bound; the VM goes down", async (t) => {
  const dir = await hookVm(t, "h", "cleanup() { sleep 100001 & sleep 100000; }\n", 0, true);
  await supervise(t, dir);
  await t.vm(["sv", "up", "h"]);
  await qemuUp(dir);
  // runit's own stop (not vm stop, which ends a hanging finish itself after 3 s).
  const down = await t.vm(["sv", "down", "h"]);
  assert.equal(down.code, 0, down.stdout + down.stderr);
  assert.ok(await sleeping(dir, "100000", 10_000), "cleanup did not start");
  const t0 = performance.now();
  const log = join(dir, "log", "main", "current");
  const ended = () => readOr(log).includes("h: cleanup did not finish within 10 s");
  assert.ok(await waitFor(ended, 16_000), `not ended: ${readOr(log)}`);
  assert.ok((performance.now() - t0) / 1000 < 16);
  const isDown = async () => (await t.vm(["status", "h"])).stdout.includes("state:     down");
  assert.ok(await waitFor(isDown, 5000), "not down");
  assert.ok(await waitFor(() => strays(dir).length === 0, 3000), strays(dir).join("\n"));
});

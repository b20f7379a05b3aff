// State and lifecycle commands: `vm list`, `vm status`, `vm start`, `vm stop`,
// `vm restart`, `vm kill`, `vm autostart`. The messages are unit-tested
// (tests/unit/start_stop_test.ts); here the commands run as the real CLI
// against a real runsvdir and real QEMU guests.
// Slow (half a minute or more): left out of test:quick.

import assert from "node:assert/strict";
import { join } from "node:path";
import { readStatus } from "../../lib/runit/status.ts";
import { humanDuration } from "../../cli/core/format.ts";
import { GUEST_POWERDOWN, GUEST_READY, waitForText } from "../support/guest.ts";
import {
  alive,
  exeOf,
  JSON_LIST_FIELDS,
  ppidOf,
  qemuUp,
  readOr,
  run,
  test,
  type TestEnv,
  type VmRun,
  waitFor,
  withEnv,
} from "../support/harness.ts";

const BOOT_MS = 60_000;

// ---------------------------------------------------------------- with runsvdir and QEMU

/** Seconds since boot: /proc/uptime (to 1/100 s; /proc/stat's btime is whole seconds). */
function sinceBoot(): number {
  return Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]);
}

/** Seconds since boot when a process started: /proc/<pid>/stat field 22, in USER_HZ (100). */
function startedAt(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]) / 100;
}

/** Runs `vm <args>`, returns its result and how long it took (ms). */
async function timed(t: TestEnv, args: string[]): Promise<VmRun & { ms: number }> {
  const t0 = performance.now();
  const r = await t.vm(args);
  return { ...r, ms: performance.now() - t0 };
}

function show(r: VmRun): string {
  return `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

interface JsonState {
  name: string;
  state: string;
  pid: number | null;
  uptime_s: number | null;
  autostart: boolean;
  wait_s: number;
  want: string | null;
  paused: boolean | null;
  backoff_s: number | null;
}

test("vm list/status/autostart: a running, a stopped, an autostart and an unsupervised VM", async (t) => {
  const runDir = await t.makeGuestVm("running", { wait: 15 });
  const downDir = await t.makeGuestVm("stopped");
  const autoDir = await t.makeGuestVm("auto");
  const unsupDir = await t.makeGuestVm("unsup");
  // autostart on: vmd starts it by itself.
  let r = await t.vm(["autostart", "auto", "on"]);
  assert.equal(r.code, 0, show(r));
  assert.equal(r.stdout, "auto: autostart on (starts with vmd)\n");
  assert.throws(() => Deno.statSync(join(autoDir, "down")), Deno.errors.NotFound);

  // No runsvdir yet: nothing is supervised; starting says how to start vmd (111).
  r = await t.vm(["start", "running"]);
  assert.equal(r.code, 111, show(r));
  assert.match(
    r.stderr,
    /^vm: fatal: VM "running" is not supervised \(no runsv runs for it\); start vmd with "vm daemon"/,
  );
  assert.equal(r.stdout, "");

  const rsd = t.startRunsvdir();
  const autoPid = await qemuUp(autoDir, 0, 30_000);
  assert.ok(await waitFor(() => readStatus(downDir) !== undefined, 8000));
  r = await t.vm(["start", "running", "unsup"]);
  assert.equal(r.code, 0, show(r));
  const runPid = await qemuUp(runDir, 0, 30_000);
  const unsupPid = await qemuUp(unsupDir, 0, 30_000);
  assert.match(
    r.stdout,
    new RegExp(`^Started "running" in \\d+\\.\\d s \\(pid ${runPid}\\)$`, "m"),
  );
  assert.match(
    r.stdout,
    new RegExp(`^Started "unsup" in \\d+\\.\\d s \\(pid ${unsupPid}\\)$`, "m"),
  );
  // unsup: runsvdir is killed (its runsvs live on), then unsup's runsv, leaving
  // a status file that says "run" with a live QEMU: stale, as no runsv reads it;
  // that QEMU is an orphan, shown with its PID.
  const unsupRunsv = ppidOf(unsupPid) ?? 0;
  rsd.kill("SIGKILL");
  await rsd.status;
  Deno.kill(unsupRunsv, "SIGKILL");
  assert.ok(await waitFor(() => !alive(unsupRunsv), 5000));
  assert.equal(readStatus(unsupDir)?.state, "run");

  const t0 = sinceBoot();
  r = await t.vm(["list", "--json"]);
  const t1 = sinceBoot();
  assert.equal(r.code, 0, show(r));
  assert.equal(r.stderr, "");
  const states = JSON.parse(r.stdout) as JsonState[];
  assert.deepEqual(states.map((s) => s.name), ["auto", "running", "stopped", "unsup"]);
  const [auto, running, stopped, unsup] = states as [JsonState, JsonState, JsonState, JsonState];
  for (const s of states) {
    assert.deepEqual(Object.keys(s), JSON_LIST_FIELDS);
  }
  // Running VMs: QEMU's pid, uptime within 1 s of the process's own start time.
  for (const [s, pid] of [[running, runPid], [auto, autoPid]] as const) {
    assert.equal(s.state, "run");
    assert.equal(s.pid, pid);
    assert.match(exeOf(pid) ?? "", /qemu-system-x86_64$/);
    const start = startedAt(pid);
    assert.ok(
      s.uptime_s !== null && s.uptime_s >= t0 - start - 1 && s.uptime_s <= t1 - start + 1,
      `uptime ${s.uptime_s} vs process age ${t0 - start}..${t1 - start}`,
    );
    assert.equal(s.want, "up");
    assert.equal(s.paused, false);
    assert.equal(s.backoff_s, null);
  }
  assert.equal(running.autostart, false);
  assert.equal(running.wait_s, 15);
  assert.equal(auto.autostart, true);
  assert.equal(auto.wait_s, 10);
  assert.deepEqual(stopped, {
    name: "stopped",
    state: "down",
    pid: null,
    uptime_s: null,
    autostart: false,
    wait_s: 10,
    want: "down",
    paused: false,
    backoff_s: null,
    linked_clones: [],
    problem: null,
    agent: false,
    ssh_port: null,
    arch: "x86_64",
    firmware: "bios",
    tpm: false,
  });
  assert.deepEqual(unsup, {
    name: "unsup",
    state: "orphan",
    pid: unsupPid,
    uptime_s: null,
    autostart: false,
    wait_s: 10,
    want: null,
    paused: null,
    backoff_s: null,
    linked_clones: [],
    problem: `QEMU (PID ${unsupPid}) runs without its runsv; "vm stop unsup" powers it off`,
    agent: false,
    ssh_port: null,
    arch: "x86_64",
    firmware: "bios",
    tpm: false,
  });

  // The human table shows the same (plain: not a TTY, NO_COLOR).
  r = await t.vm(["list"]);
  assert.equal(r.code, 0, show(r));
  assert.ok(!r.stdout.includes("\x1b"), "no colour codes");
  const rows = r.stdout.trimEnd().split("\n").map((l) => l.split(/\s{2,}/));
  assert.deepEqual(rows[0], ["NAME", "STATE", "PID", "UPTIME", "AUTOSTART", "WAIT"]);
  assert.equal(rows.length, 5);
  for (const [i, s] of states.entries()) {
    const row = rows[i + 1] ?? [];
    assert.equal(row[0], s.name);
    assert.equal(row[1], s.state);
    assert.equal(row[2], s.pid === null ? "-" : String(s.pid));
    if (s.uptime_s === null) assert.equal(row[3], "-");
    else {assert.match(
        row[3] ?? "",
        /^\d+(s|m)$/,
        `uptime ${row[3]} ~ ${humanDuration(s.uptime_s)}`,
      );}
    assert.equal(row[4], s.autostart ? "on" : "off");
    assert.equal(row[5], `${s.wait_s}s`);
  }
  // Column starts line up.
  const header = r.stdout.split("\n")[0] ?? "";
  for (const [i, line] of r.stdout.trimEnd().split("\n").entries()) {
    const cells = rows[i] ?? [];
    assert.equal(line.indexOf(cells[1] ?? "", (cells[0] ?? "").length), header.indexOf("STATE"));
    assert.equal(line.lastIndexOf(cells[5] ?? ""), header.indexOf("WAIT"));
  }
  r = await t.vm(["list", "-q"]);
  assert.equal(r.stdout, "auto\nrunning\nstopped\nunsup\n");

  // vm status: one block per VM, exit 1 unless all run (like sv check).
  r = await t.vm(["status", "running", "auto"]);
  assert.equal(r.code, 0, show(r));
  const blocks = r.stdout.trimEnd().split("\n\n");
  assert.equal(blocks.length, 2);
  assert.match(blocks[0] ?? "", new RegExp(`^running\n {2}state: +run\n  pid: +${runPid}\n`));
  assert.match(blocks[1] ?? "", /^auto\n {2}state: +run\n/);
  r = await t.vm(["status", "running", "stopped"]);
  assert.equal(r.code, 1, show(r));
  assert.match(
    r.stdout,
    /^stopped\n {2}state: +down\n {2}pid: +-\n {2}uptime: +-\n {2}autostart: +off/m,
  );
  r = await t.vm(["status", "unsup"]);
  assert.equal(r.code, 1, show(r));
  assert.match(r.stdout, new RegExp(`^unsup\n {2}state: +orphan\n {2}pid: +${unsupPid}\n`));
  r = await t.vm(["status", "--json", "stopped"]);
  assert.equal(r.code, 1);
  assert.deepEqual(JSON.parse(r.stdout), [stopped]);
  r = await t.vm(["status", "nosuch"]);
  assert.equal(r.code, 100, show(r));
  assert.match(r.stderr, /^vm: fatal: No VM "nosuch" in /);

  // Acting on the unsupervised VM is a system problem (111), and nothing is done;
  // but vm stop and vm kill reach its orphan QEMU.
  r = await t.vm(["restart", "running", "unsup"]);
  assert.equal(r.code, 111, show(r));
  assert.match(r.stderr, /VM "unsup" is not supervised .*"vm daemon"/);
  assert.ok(alive(runPid), "running was not touched");
  r = await t.vm(["kill", "unsup"]);
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, /^Killed "unsup" in .*; it ran without its runsv\)\n$/);
  assert.ok(!alive(unsupPid));

  // autostart off/on: the down file, and what list reports.
  r = await t.vm(["autostart", "running", "on"]);
  assert.equal(r.stdout, "running: autostart on (starts with vmd)\n");
  r = await t.vm(["autostart", "auto", "off"]);
  assert.equal(r.code, 0, show(r));
  assert.equal(r.stdout, 'auto: autostart off (vmd leaves it down; "vm start auto" starts it)\n');
  assert.ok(Deno.statSync(join(autoDir, "down")).isFile);
  r = await t.vm(["autostart", "auto"]);
  assert.equal(r.stdout, 'auto: autostart off (vmd leaves it down; "vm start auto" starts it)\n');
  const after = JSON.parse((await t.vm(["list", "--json"])).stdout) as JsonState[];
  assert.deepEqual(after.map((s) => s.autostart), [false, true, false, false]);
  assert.equal(after[0]?.state, "run", "autostart off does not stop a running VM");
  r = await t.vm(["autostart", "auto", "maybe"]);
  assert.equal(r.code, 100, show(r));
  assert.match(r.stderr, /^vm: fatal: Say "on" or "off", not "maybe"; usage: vm autostart/);
});

test("vm stop: an obeying guest is down in under 3 s (wait 10), the time is reported; start and restart bring it back", async (t) => {
  const dir = await t.makeGuestVm("g", { wait: 10 });
  t.startRunsvdir();
  let r = await t.vm(["start", "g"]);
  assert.equal(r.code, 0, show(r));
  const pid = await qemuUp(dir, 0, 30_000);
  assert.equal(r.stdout, r.stdout.match(/^Started "g" in \d+\.\d s \(pid \d+\)\n$/)?.[0]);
  assert.ok(r.stdout.includes(`(pid ${pid})`), r.stdout);
  r = await t.vm(["start", "g"]);
  assert.equal(r.stdout, `"g" is already running (pid ${pid})\n`);
  assert.ok(await waitForText(join(dir, "guest.log"), GUEST_READY, BOOT_MS));

  const s = await timed(t, ["stop", "g"]);
  assert.equal(s.code, 0, show(s));
  assert.ok(s.ms < 3000, `vm stop took ${s.ms} ms`);
  const m = /^Stopped "g" in (\d+\.\d) s \(the guest powered off in \d+\.\d s\)\n$/.exec(s.stdout);
  assert.ok(m, s.stdout);
  assert.ok(Number(m[1]) * 1000 <= s.ms, "the reported time is the stop's");
  assert.ok(!alive(pid), "QEMU is gone");
  assert.equal(readStatus(dir)?.state, "down");
  assert.equal(readStatus(dir)?.want, "down");
  assert.ok(readOr(join(dir, "guest.log")).includes(GUEST_POWERDOWN));

  r = await t.vm(["stop", "g"]);
  assert.equal(r.code, 0, show(r));
  assert.equal(r.stdout, '"g" is already down\n');

  // restart of a VM that is down: just a start.
  r = await t.vm(["restart", "g"]);
  assert.equal(r.code, 0, show(r));
  const pid2 = await qemuUp(dir, pid, 30_000);
  assert.equal(
    r.stdout,
    r.stdout.match(
      new RegExp(`^Restarted "g" \\(it was down; started in \\d+\\.\\d s, pid ${pid2}\\)\n$`),
    )?.[0],
  );
  assert.ok(
    await waitFor(() => readOr(join(dir, "guest.log")).split(GUEST_READY).length === 3, BOOT_MS),
  );
  // restart of a running VM: graceful stop, then a new QEMU.
  r = await t.vm(["restart", "g"]);
  assert.equal(r.code, 0, show(r));
  const pid3 = await qemuUp(dir, pid2, 30_000);
  assert.ok(!alive(pid2));
  assert.match(
    r.stdout,
    new RegExp(
      `^Restarted "g" \\(stopped in \\d+\\.\\d s, the guest powered off in \\d+\\.\\d s; started in \\d+\\.\\d s, pid ${pid3}\\)\n$`,
    ),
  );
  assert.equal(readStatus(dir)?.state, "run");

  // A cleanup hook that hangs: with --timeout the finish is ended, the VM left down.
  assert.ok(
    await waitFor(() => readOr(join(dir, "guest.log")).split(GUEST_READY).length === 4, BOOT_MS),
  );
  Deno.writeTextFileSync(join(dir, "hooks"), "cleanup() { sleep 4321; }\n");
  const h = await timed(t, ["stop", "g", "--timeout", "2"]);
  assert.equal(h.code, 0, show(h));
  assert.match(
    h.stdout,
    /^Stopped "g" in \d+\.\d s \(not down within --timeout 2 s; QEMU had exited; its hanging finish was ended\)\n$/,
  );
  assert.ok(h.ms < 12_000, `took ${h.ms} ms`);
  assert.ok(!alive(pid3));
  assert.equal(readStatus(dir)?.state, "down");
  assert.equal((await run("pgrep", ["-f", "sleep 4321"])).stdout, "", "the hook's sleep is gone");
  Deno.removeSync(join(dir, "hooks"));
  r = await t.vm(["start", "g"]);
  assert.equal(r.code, 0, show(r));
  await qemuUp(dir, pid3, 30_000);
});

test("vm stop --timeout 2 on an ACPI-deaf guest: 2-5 s, QEMU gone, the VM down (not in finish); --force", async (t) => {
  const dir = await t.makeGuestVm("deaf", { wait: 10, deaf: true });
  t.startRunsvdir();
  let r = await t.vm(["start", "deaf"]);
  assert.equal(r.code, 0, show(r));
  const pid = await qemuUp(dir, 0, 30_000);
  assert.ok(await waitForText(join(dir, "guest.log"), GUEST_READY, BOOT_MS));

  const s = await timed(t, ["stop", "deaf", "--timeout", "2"]);
  assert.equal(s.code, 0, show(s));
  assert.ok(s.ms >= 2000 && s.ms <= 5000, `vm stop took ${s.ms} ms`);
  assert.match(
    s.stdout,
    /^Stopped "deaf" in \d+\.\d s \(not graceful, not down within --timeout 2 s: QEMU quit through its monitor\)\n$/,
  );
  assert.ok(!alive(pid), "QEMU is gone");
  const st = readStatus(dir);
  assert.equal(st?.state, "down", "down, not finish");
  assert.equal(st?.want, "down");
  assert.ok(!readOr(join(dir, "guest.log")).includes(GUEST_POWERDOWN));
  r = await run("sv", ["status", dir]);
  assert.match(r.stdout, /^down: /);

  // vm start brings it back; --force ends it at once.
  r = await t.vm(["start", "deaf"]);
  assert.equal(r.code, 0, show(r));
  const pid2 = await qemuUp(dir, pid, 30_000);
  const f = await timed(t, ["stop", "--force", "deaf"]);
  assert.equal(f.code, 0, show(f));
  assert.ok(f.ms < 3000, `vm stop --force took ${f.ms} ms`);
  assert.match(
    f.stdout,
    /^Stopped "deaf" in \d+\.\d s \(not graceful, --force: QEMU quit through its monitor\)\n$/,
  );
  assert.ok(!alive(pid2));
  assert.equal(readStatus(dir)?.state, "down");

  r = await t.vm(["restart", "deaf"]);
  assert.equal(r.code, 0, show(r));
  await qemuUp(dir, pid2, 30_000);

  // Usage errors change nothing.
  for (
    const args of [
      ["stop", "deaf", "--timeout", "soon"],
      ["stop", "deaf", "--force", "--timeout", "1"],
      ["stop"],
      ["stop", "deaf", "--bogus"],
    ]
  ) {
    r = await t.vm(args);
    assert.equal(r.code, 100, `${args.join(" ")}: ${show(r)}`);
    assert.match(r.stderr, /^vm: fatal: /);
  }
  assert.equal(readStatus(dir)?.state, "run");
});

Deno.test("vm stop --force in a VMDIR whose path is too long for a socket address: QEMU quits through its monitor", async () => {
  await withEnv({ minPathLength: 150 }, async (t) => {
    const dir = await t.makeGuestVm("long");
    assert.ok(join(dir, "supervise/monitor").length > 108);
    t.startRunsvdir();
    let r = await t.vm(["start", "long"]);
    assert.equal(r.code, 0, show(r));
    const pid = await qemuUp(dir, 0, 30_000);
    r = await t.vm(["stop", "long", "--force"]);
    assert.equal(r.code, 0, show(r));
    assert.match(
      r.stdout,
      /^Stopped "long" in \d+\.\d s \(not graceful, --force: QEMU quit through its monitor\)\n$/,
    );
    assert.ok(!alive(pid));
    assert.equal(readStatus(dir)?.state, "down");
  });
});

test("several VMs at once: in parallel, the exit code counts failures; vm kill", async (t) => {
  const a = await t.makeGuestVm("a", { deaf: true });
  const b = await t.makeGuestVm("b", { deaf: true });
  const bad1 = await t.makeGuestVm("bad1");
  const bad2 = await t.makeGuestVm("bad2");
  Deno.writeTextFileSync(join(bad1, "templates", "evil"), "-name $(true)\n");
  Deno.writeTextFileSync(join(bad2, "templates", "evil"), "-name $(true)\n");
  t.startRunsvdir();

  // Unknown VM: usage error, nothing started.
  let r = await t.vm(["start", "a", "nosuch"]);
  assert.equal(r.code, 100, show(r));
  assert.equal(r.stdout, "");

  r = await t.vm(["start", "a", "b", "bad1"]);
  assert.equal(r.code, 1, show(r));
  const pa = await qemuUp(a, 0, 30_000);
  const pb = await qemuUp(b, 0, 30_000);
  assert.match(r.stdout, new RegExp(`^Started "a" in \\d+\\.\\d s \\(pid ${pa}\\)$`, "m"));
  assert.match(r.stdout, new RegExp(`^Started "b" in \\d+\\.\\d s \\(pid ${pb}\\)$`, "m"));
  assert.match(
    r.stderr,
    /^vm: fatal: VM "bad1" did not start: QEMU exited at once \(it is left down\); its log ends: bad1: fatal: templates\/evil:1: Command substitution/m,
  );
  r = await t.vm(["start", "bad1", "bad2"]);
  assert.equal(r.code, 2, show(r));
  assert.equal(r.stderr.trimEnd().split("\n").length, 2, r.stderr);
  assert.match(r.stderr, /VM "bad1" (did not start|keeps exiting at once)/);
  assert.match(r.stderr, /VM "bad2" did not start/);
  // Crash-looping VMs stop at once (the backoff sleep ends).
  r = await t.vm(["stop", "bad1", "bad2"]);
  assert.equal(r.code, 0, show(r));
  assert.equal(readStatus(bad1)?.state, "down");
  assert.equal(readStatus(bad2)?.state, "down");

  assert.ok(await waitForText(join(a, "guest.log"), GUEST_READY, BOOT_MS));
  assert.ok(await waitForText(join(b, "guest.log"), GUEST_READY, BOOT_MS));
  // Two deaf guests, --timeout 2, in parallel: together within one stop's bound.
  const s = await timed(t, ["stop", "a", "b", "--timeout", "2"]);
  assert.equal(s.code, 0, show(s));
  assert.ok(s.ms >= 2000 && s.ms <= 5000, `stopping both took ${s.ms} ms`);
  assert.equal(s.stdout.trimEnd().split("\n").length, 2);
  assert.ok(!alive(pa) && !alive(pb));
  assert.equal(readStatus(a)?.state, "down");
  assert.equal(readStatus(b)?.state, "down");

  // vm kill: immediate, says it was not graceful, leaves the VM down.
  r = await t.vm(["start", "a"]);
  assert.equal(r.code, 0, show(r));
  const pa2 = await qemuUp(a, pa, 30_000);
  const k = await timed(t, ["kill", "a"]);
  assert.equal(k.code, 0, show(k));
  assert.match(
    k.stdout,
    /^Killed "a" in \d+\.\d s \(not graceful: QEMU got SIGKILL, the guest did not shut down\)\n$/,
  );
  assert.ok(!alive(pa2));
  assert.equal(readStatus(a)?.state, "down");
  assert.equal(readStatus(a)?.want, "down");
  assert.ok(k.ms < 8000, `vm kill took ${k.ms} ms`);
  r = await t.vm(["kill", "a"]);
  assert.equal(r.stdout, '"a" is already down\n');
});

test("--help of every state and lifecycle command; an empty VMDIR; colour only on a terminal", async (t) => {
  for (const c of ["list", "status", "start", "stop", "restart", "kill", "autostart"]) {
    const r = await t.vm([c, "--help"]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, new RegExp(`^usage: vm ${c}`));
  }
  const r = await t.vm(["list"]);
  assert.equal(r.stdout, "NAME  STATE  PID  UPTIME  AUTOSTART  WAIT\n");
  assert.equal((await t.vm(["list", "--json"])).stdout, "[]\n");
  assert.equal((await t.vm(["list", "-q"])).stdout, "");

  // On a terminal the STATE is coloured, unless NO_COLOR is set (non-empty).
  const m = await t.vm(["make", "x", "--disk", "16M", "--yes"]);
  assert.equal(m.code, 0, show(m));
  const onTty = async (noColor: string) => {
    const out = await new Deno.Command("script", {
      args: ["-qec", `${t.vmExe} list`, "/dev/null"],
      env: { ...t.env, NO_COLOR: noColor },
      clearEnv: true,
      stdin: "null",
    }).output();
    assert.equal(out.code, 0);
    return new TextDecoder().decode(out.stdout);
  };
  const colored = await onTty("");
  assert.ok(colored.includes("\x1b[31munsupervised"), JSON.stringify(colored));
  const plain = await onTty("1");
  assert.ok(plain.includes("unsupervised") && !plain.includes("\x1b"), JSON.stringify(plain));
});

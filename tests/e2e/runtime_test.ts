// The run-time contract with a real runsvdir, real QEMU under TCG and a real
// Linux guest: vm __run becomes QEMU, sockets, once, hooks, graceful stop,
// crash restart, errors in the log, a long VMDIR.
// Slow (half a minute or more): left out of test:quick.

import assert from "node:assert/strict";
import { join } from "node:path";
import { QmpClient } from "../../lib/qemu/qmp.ts";
import { readStatus } from "../../lib/runit/status.ts";
import { GUEST_POWERDOWN, GUEST_READY, waitForText } from "../support/guest.ts";
import {
  alive,
  cmdlineOf,
  descendants,
  exeOf,
  ppidOf,
  processesIn,
  qemuUp,
  readOr,
  run,
  sleep,
  sv,
  svDown,
  test,
  type TestEnv,
  waitFor,
  withEnv,
} from "../support/harness.ts";

const BOOT_MS = 60_000;

/** Runs `fn` with the cwd set to `dir` only for the connect (relative socket paths). */
async function inDir<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const old = Deno.cwd();
  Deno.chdir(dir);
  try {
    return await fn();
  } finally {
    Deno.chdir(old);
  }
}

/** One HMP command on `<dir>/supervise/monitor`; returns what the monitor printed. */
async function hmp(dir: string, command: string): Promise<string> {
  const conn = await inDir(
    dir,
    () => Deno.connect({ transport: "unix", path: "supervise/monitor" }),
  );
  try {
    const dec = new TextDecoder();
    let text = "";
    const buf = new Uint8Array(4096);
    const readUntil = async (needle: string, from: number) => {
      const end = Date.now() + 5000;
      while (text.indexOf(needle, from) < 0 && Date.now() < end) {
        const n = await conn.read(buf);
        if (n === null) break;
        text += dec.decode(buf.subarray(0, n));
      }
    };
    await readUntil("(qemu)", 0);
    const mark = text.length;
    await conn.write(new TextEncoder().encode(command + "\n"));
    await readUntil("(qemu)", mark);
    return text.slice(mark);
  } finally {
    conn.close();
  }
}

async function qmpStatus(dir: string): Promise<{ status: string; running: boolean }> {
  const q = await inDir(dir, () => QmpClient.connect("supervise/qmp", { timeoutMs: 5000 }));
  try {
    return await q.execute("query-status") as { status: string; running: boolean };
  } finally {
    q.close();
  }
}

/**
 * Starts runsvdir, waits (8 s) until runsv wrote the status of `dir`, then
 * `sv up` and waits for its QEMU; returns QEMU's PID.
 */
async function superviseAndUp(t: TestEnv, dir: string): Promise<number> {
  t.startRunsvdir();
  assert.ok(await waitFor(() => readStatus(dir) !== undefined, 8000));
  await sv("up", dir);
  return await qemuUp(dir);
}

/** Waits (BOOT_MS) until the guest of `dir` printed its ready marker. */
async function guestReady(dir: string): Promise<void> {
  const log = join(dir, "guest.log");
  assert.ok(await waitForText(log, GUEST_READY, BOOT_MS), readOr(log));
}

test("sv up: the supervised PID is QEMU itself, the guest boots, sockets are private and answer", async (t) => {
  const dir = await t.makeGuestVm("g1");
  Deno.writeTextFileSync(join(dir, "templates", "name"), `-name "x y"\n`);
  Deno.writeTextFileSync(join(dir, "templates", "once"), `-smbios 'type=1,serial=once only'\n`);
  const pid = await superviseAndUp(t, dir);
  assert.equal(Deno.readTextFileSync(join(dir, "supervise", "pid")).trim(), String(pid));
  assert.match(exeOf(pid) ?? "", /\/qemu-system-x86_64$/);
  // No Deno process stays anywhere under runsv.
  const runsv = Number(readOr(`/proc/${pid}/stat`).split(") ")[1]?.split(" ")[1]);
  for (const p of [runsv, ...descendants(runsv)]) {
    assert.doesNotMatch(exeOf(p) ?? "", /deno/, `process ${p} under runsv is Deno`);
  }
  const argv = cmdlineOf(pid);
  assert.ok(argv.includes("x y"), `-name "x y" is one argument: ${argv.join("|")}`);
  assert.ok(argv.includes("type=1,serial=once only"));
  await guestReady(dir);
  // once was used for this start and is gone.
  assert.throws(() => Deno.statSync(join(dir, "templates", "once")), Deno.errors.NotFound);
  // Sockets: owner only (the socket's mode or its 0700 directory).
  for (const s of ["monitor", "qmp"]) {
    const st = Deno.statSync(join(dir, "supervise", s));
    assert.ok(st.isSocket, s);
    const dirMode = Deno.statSync(join(dir, "supervise")).mode! & 0o777;
    assert.ok((st.mode! & 0o077) === 0 || dirMode === 0o700, `${s} mode ${st.mode?.toString(8)}`);
  }
  assert.match(await hmp(dir, "info status"), /VM status: running/);
  const status = await qmpStatus(dir);
  assert.equal(status.status, "running");
  assert.equal(status.running, true);

  // A crash: runsv starts a new QEMU, this time without the once arguments.
  Deno.kill(pid, "SIGKILL");
  const pid2 = await qemuUp(dir, pid);
  assert.notEqual(pid2, pid);
  assert.ok(!cmdlineOf(pid2).includes("type=1,serial=once only"));
  assert.ok(cmdlineOf(pid2).includes("x y"));
});

test("a killed runsv: runsvdir starts a new one, which does not start a second QEMU nor remove the sockets", async (t) => {
  const dir = await t.makeGuestVm("g9");
  const pid = await superviseAndUp(t, dir);
  const runsv = ppidOf(pid) ?? 0;
  assert.match(exeOf(runsv) ?? "", /runsv$/);
  Deno.removeSync(join(dir, "down")); // autostart: a new runsv starts it at once
  Deno.kill(runsv, "SIGKILL");
  // runsvdir notices within ~5 s and starts a new runsv, whose __run refuses
  // (its message waits in the log pipe: the old svlogd still holds log/main);
  // __finish then records the quick exit in the backoff file.
  assert.ok(await waitFor(() => readOr(join(dir, "backoff")) !== "", 20_000), "no __run ended");
  // What it said, as run by hand: one line, exit 111.
  const r = await t.vm(["__run", dir]);
  assert.equal(r.code, 111, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(`^g9: fatal: QEMU of "g9" already runs without runsv \\(PID ${pid};.*\n$`),
  );
  assert.ok(alive(pid), "the first QEMU keeps running");
  const qemus = processesIn(dir).filter((p) => (exeOf(p) ?? "").includes("qemu-system"));
  assert.deepEqual(qemus, [pid], "exactly one QEMU for the VM");
  // Its sockets are kept: it can still be powered off.
  assert.equal((await qmpStatus(dir)).status, "running");
});

test("graceful stop: an obeying guest powers off and the VM is down long before wait", async (t) => {
  const dir = await t.makeGuestVm("g2", { wait: 10 });
  const pid = await superviseAndUp(t, dir);
  await guestReady(dir);
  const ms = await svDown(dir, 9000);
  assert.ok(ms < 3000, `down after ${ms} ms`);
  assert.ok(!alive(pid), "QEMU is gone");
  assert.ok(
    readOr(join(dir, "guest.log")).includes(GUEST_POWERDOWN),
    "the guest powered itself off",
  );
  assert.match(
    readOr(join(dir, "log/main/current")),
    /g2: stop: the guest powered off in \d+\.\d s/,
  );
  // Our sockets are removed after the stop.
  assert.throws(() => Deno.lstatSync(join(dir, "supervise", "qmp")), Deno.errors.NotFound);
  assert.throws(() => Deno.lstatSync(join(dir, "supervise", "monitor")), Deno.errors.NotFound);
});

test("graceful stop: a guest that ignores ACPI is quit after wait (2 s), not before", async (t) => {
  const dir = await t.makeGuestVm("deaf", { wait: 2, deaf: true });
  const pid = await superviseAndUp(t, dir);
  await guestReady(dir);
  const ms = await svDown(dir, 8000);
  assert.ok(ms >= 2000 && ms <= 5000, `down after ${ms} ms`);
  assert.ok(!alive(pid), "QEMU is gone");
  assert.ok(!readOr(join(dir, "guest.log")).includes(GUEST_POWERDOWN));
  assert.match(readOr(join(dir, "log/main/current")), /did not power off within 2 s/);
  // control/t returned: no vm __stop left.
  assert.equal((await run("pgrep", ["-f", `__stop ${dir}`])).stdout, "");
});

test("hooks: pre_qemu exports reach templates, post_qemu runs once QEMU is up, cleanup once per exit", async (t) => {
  const dir = await t.makeGuestVm("hk", { wait: 10 });
  Deno.writeTextFileSync(join(dir, "templates", "zz-mem"), "-m $GUEST_MEM\n");
  Deno.writeTextFileSync(
    join(dir, "hooks"),
    `pre_qemu() { export GUEST_MEM=256M; echo "pre_qemu ran for $VM_NAME"; }
post_qemu() { if [ -S supervise/qmp ]; then echo up > post.ran; fi; echo "post_qemu ran"; }
cleanup() { echo "$1 $2" >> cleanup.log; }
`,
  );
  const pid = await superviseAndUp(t, dir);
  const argv = cmdlineOf(pid);
  assert.equal(argv[argv.lastIndexOf("-m") + 1], "256M", argv.join(" "));
  assert.ok(
    await waitFor(() => readOr(join(dir, "post.ran")) === "up\n", 10_000),
    "post_qemu ran with QMP up",
  );
  assert.equal(readOr(join(dir, "cleanup.log")), "");
  const log = readOr(join(dir, "log/main/current"));
  assert.match(log, /pre_qemu ran for hk/);
  await guestReady(dir);

  // A crash: cleanup sees it (exit code -1, signal 9), once.
  Deno.kill(pid, "SIGKILL");
  const pid2 = await qemuUp(dir, pid);
  assert.ok(await waitFor(() => readOr(join(dir, "cleanup.log")) !== "", 5000));
  assert.equal(readOr(join(dir, "cleanup.log")), "-1 9\n");
  assert.ok(
    await waitFor(() => readOr(join(dir, "guest.log")).split(GUEST_READY).length === 3, BOOT_MS),
    "the restarted guest boots",
  );

  // A graceful stop: cleanup sees exit 0.
  await svDown(dir, 12_000);
  assert.ok(!alive(pid2));
  assert.equal(readOr(join(dir, "cleanup.log")), "-1 9\n0 0\n");
  // No hook process outlives the VM.
  await sleep(500);
  assert.equal((await run("pgrep", ["-f", "vm-post-qemu"])).stdout, "");
});

test("errors before exec: one line naming file:line or the binary, QEMU never starts, once kept", async (t) => {
  const bad = await t.makeGuestVm("bad");
  Deno.writeTextFileSync(join(bad, "templates", "evil"), "-name ok\n-name $(touch pwned)\n");
  Deno.writeTextFileSync(join(bad, "templates", "once"), "-name once\n");
  const noq = await t.makeGuestVm("noqemu");
  Deno.writeTextFileSync(t.conf, "VMCONF_QEMU=/nonexistent\n");
  t.startRunsvdir();
  assert.ok(
    await waitFor(() => readStatus(bad) !== undefined && readStatus(noq) !== undefined, 8000),
  );
  await sv("up", bad);
  await sv("up", noq);
  const badLog = join(bad, "log/main/current");
  const noqLog = join(noq, "log/main/current");
  assert.ok(await waitForText(badLog, "templates/evil:2", 10_000), readOr(badLog));
  assert.ok(await waitForText(noqLog, "/nonexistent", 10_000), readOr(noqLog));
  await sleep(1500);
  assert.match(
    readOr(badLog).split("\n")[0] ?? "",
    /^\S+ bad: fatal: templates\/evil:2: Command substitution "\$\(…\)" is not allowed; write the value itself$/,
  );
  assert.match(
    readOr(noqLog).split("\n")[0] ?? "",
    /^\S+ noqemu: fatal: QEMU binary "\/nonexistent" does not exist or is not executable; fix VMCONF_QEMU$/,
  );
  assert.equal(Deno.readTextFileSync(join(bad, "templates", "once")), "-name once\n");
  for (const d of [bad, noq]) {
    const st = readStatus(d);
    assert.ok(
      st === undefined || st.pid === 0 || !(exeOf(st.pid) ?? "").includes("qemu"),
      "QEMU never started",
    );
    assert.equal(readOr(join(d, "guest.log")), "");
  }
  assert.throws(() => Deno.statSync(join(bad, "pwned")), Deno.errors.NotFound);
});

Deno.test("a VMDIR whose path is 150 bytes long works end to end", async () => {
  await withEnv({ minPathLength: 150 }, async (t) => {
    assert.ok(t.vmdir.length >= 150, t.vmdir);
    const dir = await t.makeGuestVm("long", { wait: 10 });
    assert.ok(join(dir, "supervise/qmp").length > 108);
    const pid = await superviseAndUp(t, dir);
    await guestReady(dir);
    assert.equal((await qmpStatus(dir)).status, "running");
    const ms = await svDown(dir, 9000);
    assert.ok(ms < 3000, `down after ${ms} ms`);
    assert.ok(!alive(pid));
    assert.ok(readOr(join(dir, "guest.log")).includes(GUEST_POWERDOWN));
  });
});

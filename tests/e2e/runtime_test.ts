// The run-time contract with a real runsvdir, real QEMU under TCG and a real
// Linux guest: vm __run becomes QEMU, sockets, once, hooks, graceful stop,
// crash restart, errors in the log, a long VMDIR.

import assert from "node:assert/strict";
import { join } from "node:path";
import { QmpClient } from "../../lib/qemu/qmp.ts";
import { readStatus } from "../../lib/runit/status.ts";
import { GUEST_POWERDOWN, GUEST_READY, testGuest, waitForText } from "../support/guest.ts";
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
  TestEnv,
  waitFor,
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

/** Waits until runsv reports the service down (finish done); returns the ms it took. */
async function downWithin(dir: string, ms: number): Promise<number> {
  const t0 = performance.now();
  const ok = await waitFor(() => readStatus(dir)?.state === "down", ms);
  assert.ok(ok, `not down within ${ms} ms: ${readOr(join(dir, "log/main/current"))}`);
  return performance.now() - t0;
}

Deno.test("sv up: the supervised PID is QEMU itself, the guest boots, sockets are private and answer", async () => {
  const guest = await testGuest();
  const t = TestEnv.create();
  try {
    const dir = await t.makeGuestVm("g1", guest);
    Deno.writeTextFileSync(join(dir, "templates", "name"), `-name "x y"\n`);
    Deno.writeTextFileSync(join(dir, "templates", "once"), `-smbios 'type=1,serial=once only'\n`);
    t.startRunsvdir();
    assert.ok(await waitFor(() => readStatus(dir) !== undefined, 8000));
    await sv("up", dir);
    const pid = await qemuUp(dir);
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
    assert.ok(
      await waitForText(join(dir, "guest.log"), GUEST_READY, BOOT_MS),
      readOr(join(dir, "guest.log")),
    );
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
  } finally {
    await t.close();
  }
});

Deno.test("a killed runsv: runsvdir starts a new one, which does not start a second QEMU nor remove the sockets", async () => {
  const guest = await testGuest();
  const t = TestEnv.create();
  try {
    const dir = await t.makeGuestVm("g9", guest);
    t.startRunsvdir();
    assert.ok(await waitFor(() => readStatus(dir) !== undefined, 8000));
    await sv("up", dir);
    const pid = await qemuUp(dir);
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
      new RegExp(`^vm: fatal: QEMU of "g9" already runs without runsv \\(PID ${pid};.*\n$`),
    );
    assert.ok(alive(pid), "the first QEMU keeps running");
    const qemus = processesIn(dir).filter((p) => (exeOf(p) ?? "").includes("qemu-system"));
    assert.deepEqual(qemus, [pid], "exactly one QEMU for the VM");
    // Its sockets are kept: it can still be powered off.
    assert.equal((await qmpStatus(dir)).status, "running");
  } finally {
    await t.close();
  }
});

Deno.test("graceful stop: an obeying guest powers off and the VM is down long before wait", async () => {
  const guest = await testGuest();
  const t = TestEnv.create();
  try {
    const dir = await t.makeGuestVm("g2", guest, { wait: 10 });
    t.startRunsvdir();
    assert.ok(await waitFor(() => readStatus(dir) !== undefined, 8000));
    await sv("up", dir);
    const pid = await qemuUp(dir);
    assert.ok(await waitForText(join(dir, "guest.log"), GUEST_READY, BOOT_MS));
    await sv("down", dir);
    const ms = await downWithin(dir, 9000);
    assert.ok(ms < 3000, `down after ${ms} ms`);
    assert.ok(!alive(pid), "QEMU is gone");
    assert.ok(
      readOr(join(dir, "guest.log")).includes(GUEST_POWERDOWN),
      "the guest powered itself off",
    );
    assert.match(
      readOr(join(dir, "log/main/current")),
      /vm: stop: the guest powered off in \d+\.\d s/,
    );
    // Our sockets are removed after the stop.
    assert.throws(() => Deno.lstatSync(join(dir, "supervise", "qmp")), Deno.errors.NotFound);
    assert.throws(() => Deno.lstatSync(join(dir, "supervise", "monitor")), Deno.errors.NotFound);
  } finally {
    await t.close();
  }
});

Deno.test("graceful stop: a guest that ignores ACPI is quit after wait (2 s), not before", async () => {
  const guest = await testGuest();
  const t = TestEnv.create();
  try {
    const dir = await t.makeGuestVm("deaf", guest, { wait: 2, deaf: true });
    t.startRunsvdir();
    assert.ok(await waitFor(() => readStatus(dir) !== undefined, 8000));
    await sv("up", dir);
    const pid = await qemuUp(dir);
    assert.ok(await waitForText(join(dir, "guest.log"), GUEST_READY, BOOT_MS));
    await sv("down", dir);
    const ms = await downWithin(dir, 8000);
    assert.ok(ms >= 2000 && ms <= 5000, `down after ${ms} ms`);
    assert.ok(!alive(pid), "QEMU is gone");
    assert.ok(!readOr(join(dir, "guest.log")).includes(GUEST_POWERDOWN));
    assert.match(readOr(join(dir, "log/main/current")), /did not power off within 2 s/);
    // control/t returned: no vm __stop left.
    assert.equal((await run("pgrep", ["-f", `__stop ${dir}`])).stdout, "");
  } finally {
    await t.close();
  }
});

Deno.test("hooks: pre_qemu exports reach templates, post_qemu runs once QEMU is up, cleanup once per exit", async () => {
  const guest = await testGuest();
  const t = TestEnv.create();
  try {
    const dir = await t.makeGuestVm("hk", guest, { wait: 10 });
    Deno.writeTextFileSync(join(dir, "templates", "zz-mem"), "-m $GUEST_MEM\n");
    Deno.writeTextFileSync(
      join(dir, "hooks"),
      `pre_qemu() { export GUEST_MEM=256M; echo "pre_qemu ran for $VM_NAME"; }
post_qemu() { if [ -S supervise/qmp ]; then echo up > post.ran; fi; echo "post_qemu ran"; }
cleanup() { echo "$1 $2" >> cleanup.log; }
`,
    );
    t.startRunsvdir();
    assert.ok(await waitFor(() => readStatus(dir) !== undefined, 8000));
    await sv("up", dir);
    const pid = await qemuUp(dir);
    const argv = cmdlineOf(pid);
    assert.equal(argv[argv.lastIndexOf("-m") + 1], "256M", argv.join(" "));
    assert.ok(
      await waitFor(() => readOr(join(dir, "post.ran")) === "up\n", 10_000),
      "post_qemu ran with QMP up",
    );
    assert.equal(readOr(join(dir, "cleanup.log")), "");
    const log = readOr(join(dir, "log/main/current"));
    assert.match(log, /pre_qemu ran for hk/);
    assert.ok(await waitForText(join(dir, "guest.log"), GUEST_READY, BOOT_MS));

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
    await sv("down", dir);
    await downWithin(dir, 12_000);
    assert.ok(!alive(pid2));
    assert.equal(readOr(join(dir, "cleanup.log")), "-1 9\n0 0\n");
    // No hook process outlives the VM.
    await sleep(500);
    assert.equal((await run("pgrep", ["-f", "vm-post-qemu"])).stdout, "");
  } finally {
    await t.close();
  }
});

Deno.test("errors before exec: one line naming file:line or the binary, QEMU never starts, once kept", async () => {
  const guest = await testGuest();
  const t = TestEnv.create();
  try {
    const bad = await t.makeGuestVm("bad", guest);
    Deno.writeTextFileSync(join(bad, "templates", "evil"), "-name ok\n-name $(touch pwned)\n");
    Deno.writeTextFileSync(join(bad, "templates", "once"), "-name once\n");
    const noq = await t.makeGuestVm("noqemu", guest);
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
      /^\S+ vm: fatal: templates\/evil:2: Command substitution "\$\(…\)" is not allowed; write the value itself$/,
    );
    assert.match(
      readOr(noqLog).split("\n")[0] ?? "",
      /^\S+ vm: fatal: QEMU binary "\/nonexistent" does not exist or is not executable; fix VMCONF_QEMU$/,
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
  } finally {
    await t.close();
  }
});

Deno.test("a VMDIR whose path is 150 bytes long works end to end", async () => {
  const guest = await testGuest();
  const t = TestEnv.create({ minPathLength: 150 });
  try {
    assert.ok(t.vmdir.length >= 150, t.vmdir);
    const dir = await t.makeGuestVm("long", guest, { wait: 10 });
    assert.ok(join(dir, "supervise/qmp").length > 108);
    t.startRunsvdir();
    assert.ok(await waitFor(() => readStatus(dir) !== undefined, 8000));
    await sv("up", dir);
    const pid = await qemuUp(dir);
    assert.ok(await waitForText(join(dir, "guest.log"), GUEST_READY, BOOT_MS));
    assert.equal((await qmpStatus(dir)).status, "running");
    await sv("down", dir);
    const ms = await downWithin(dir, 9000);
    assert.ok(ms < 3000, `down after ${ms} ms`);
    assert.ok(!alive(pid));
    assert.ok(readOr(join(dir, "guest.log")).includes(GUEST_POWERDOWN));
  } finally {
    await t.close();
  }
});

// A busy host: processes come and go while vm scans /proc. A process may
// exit between the listing of /proc and the read of its files, and Deno then
// throws ESRCH as a plain Error: every scan must step over it.
// Thousands of short-lived processes run while `vm list` (whose VM has a QMP
// socket left, so it looks for a stray QEMU each time), `vm doctor` and a
// second `vm daemon` scan; none may print a stack trace or change its exit.
// Slow (thousands of processes): left out of test:quick.

import assert from "node:assert/strict";
import { join } from "node:path";
import { startDaemon } from "../support/daemon.ts";
import { test, type TestEnv, type VmRun, waitFor } from "../support/harness.ts";
import { findRunsvdir } from "../../lib/qemu/processes.ts";

/** Processes that each start and end a `true` until `stop` exists, counting them. */
function churn(t: TestEnv, n: number): { stop: () => Promise<number> } {
  const flag = join(t.root, "churn-stop");
  const kids = Array.from({ length: n }, (_, i) =>
    t.spawn("sh", {
      args: [
        "-c",
        `n=0; while [ ! -e "$1" ]; do /bin/true; n=$((n+1)); done; echo $n > "$2"`,
        "sh",
        flag,
        join(t.root, `churn-count-${i}`),
      ],
      cwd: t.root,
    }));
  return {
    async stop() {
      Deno.writeTextFileSync(flag, "");
      await Promise.all(kids.map((k) => k.status));
      return kids.reduce(
        (sum, _, i) => sum + Number(Deno.readTextFileSync(join(t.root, `churn-count-${i}`))),
        0,
      );
    },
  };
}

/** Asserts that `r` exited `code` and every line of its stderr is one of vm's (no stack trace). */
function assertClean(what: string, r: VmRun, code: number): void {
  assert.equal(r.code, code, `${what}: ${r.stdout}${r.stderr}`);
  for (const line of r.stderr.split("\n").filter((l) => l !== "")) {
    assert.match(line, /^vm: /, `${what} printed a line not of vm's:\n${r.stderr}`);
  }
  assert.doesNotMatch(r.stderr, /Uncaught|os error|^\s+at /m, `${what}:\n${r.stderr}`);
}

test("a busy host: 2,000+ short-lived processes while 40 vm list/doctor runs and a second vm daemon scan /proc", async (t) => {
  let r = await t.vm(["make", "a", "-y"]);
  assert.equal(r.code, 0, r.stderr);
  // A QMP socket left behind (as by a killed runsv): vm list and doctor look for its QEMU.
  Deno.mkdirSync(join(t.dir("a"), "supervise"), { mode: 0o700 });
  Deno.writeTextFileSync(join(t.dir("a"), "supervise/qmp"), "");
  const d = startDaemon(t);
  assert.ok(await waitFor(() => findRunsvdir(t.vmdir).length === 1, 15_000), d.log());
  const listCode = (await t.vm(["list"])).code;
  const doctorCode = (await t.vm(["doctor"])).code;
  assert.equal(listCode, 0);
  const c = churn(t, 3);
  let started = 0;
  try {
    for (let i = 0; i < 20; i++) {
      assertClean(`vm list #${i}`, await t.vm(["list"]), listCode);
      assertClean(`vm doctor #${i}`, await t.vm(["doctor"]), doctorCode);
      if (i % 5 === 0) {
        r = await t.vm(["daemon"]);
        assertClean(`second vm daemon #${i}`, r, 1);
        assert.match(r.stderr, /^vm: fatal: Another "vm daemon" \(PID \d+\) already supervises/);
      }
    }
  } finally {
    started = await c.stop();
  }
  assert.ok(started >= 2000, `only ${started} processes came and went`);
  Deno.kill(d.pid, "SIGTERM");
  assert.equal((await d.status).code, 0, d.log());
  assert.doesNotMatch(d.log(), /Uncaught|os error|^\s+at /m, d.log());
});

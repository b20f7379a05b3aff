// A VM's wait is whole seconds 0…86400 wherever it is
// given (`vm make --wait`, the answer, VMCONF_DEFAULT_WAIT: a usage error,
// nothing made) and wherever it is read at run time (an unusable `wait` file
// is logged and the default used, so a stop still ends); `--disk -1` is an
// invalid size, not an unknown option.
// Slow (a quarter of a minute or more of guests): left out of test:quick.

import assert from "node:assert/strict";
import { join } from "node:path";
import { isSupervised } from "../../lib/runit/status.ts";
import { qemuUp, readOr, test, type TestEnv, waitFor } from "../support/harness.ts";

const HUGE = "99999999999999999999";

function made(t: TestEnv): string[] {
  const names = [...Deno.readDirSync(t.vmdir)].map((e) => e.name);
  return names.filter((n) => n !== ".default").sort();
}

test("make refuses a wait out of 0…86400 and an invalid disk size; nothing is made", async (t) => {
  for (const wait of [HUGE, "86401", "-5"]) {
    const r = await t.vm(["make", "wt", "-y", "--wait", wait]);
    assert.equal(r.code, 100, `--wait ${wait}: ${r.stderr}`);
    assert.equal(
      r.stderr,
      `vm: fatal: Wait "${wait}" is not a number of seconds from 0 to 86400 (one day); ` +
        `give whole seconds, e.g. 10 (--wait 10)\n`,
    );
  }
  const disk = await t.vm(["make", "x", "--disk", "-1", "-y"]);
  assert.equal(disk.code, 100, disk.stderr);
  assert.match(disk.stderr, /^vm: fatal: Disk size "-1" is not a size/);
  Deno.writeTextFileSync(t.conf, `VMCONF_DEFAULT_WAIT=${HUGE}\n`);
  const conf = await t.vm(["make", "cw", "-y"]);
  assert.equal(conf.code, 100, conf.stderr);
  assert.match(
    conf.stderr,
    /Wait "99999999999999999999" is not a number of seconds from 0 to 86400/,
  );
  assert.deepEqual(made(t), []);
  Deno.writeTextFileSync(t.conf, "");
  const max = await t.vm(["make", "day", "--disk", "1M", "--wait", "86400", "-y"]);
  assert.equal(max.code, 0, max.stderr);
  assert.equal(Deno.readTextFileSync(join(t.dir("day"), "wait")), "86400\n");
});

test("an unusable wait file is logged at run time and the default bounds the stop", async (t) => {
  const r = await t.vm(["make", "wt", "--disk", "1M", "--wait", "1", "--log", "-y"], {
    env: { VMCONF_DEFAULT_TEMPLATES: "display-none" },
  });
  assert.equal(r.code, 0, r.stderr);
  const dir = t.dir("wt");
  // QEMU without a guest: deaf to the power button, so the stop takes the whole wait.
  Deno.writeTextFileSync(join(dir, "templates", "none"), "-machine none -nodefaults\n");
  Deno.writeTextFileSync(join(dir, "wait"), `${HUGE}\n`);
  const problem = `wt: "${dir}/wait" holds "${HUGE}", not whole seconds from 0 to 86400; ` +
    `10 s is used: write e.g. "echo 30 > ${dir}/wait"`;
  const [state] = JSON.parse((await t.vm(["list", "--json"])).stdout);
  assert.equal(state.wait_s, 10);
  t.startRunsvdir();
  assert.ok(await waitFor(() => isSupervised(dir), 10_000), "no runsv");
  await t.vm(["sv", "up", "wt"]);
  await qemuUp(dir);
  const log = join(dir, "log", "main", "current");
  assert.ok(await waitFor(() => readOr(log).includes(problem), 10_000), readOr(log));
  const t0 = performance.now();
  const stop = await t.vm(["stop", "wt"]);
  const s = (performance.now() - t0) / 1000;
  assert.equal(stop.code, 0, stop.stderr);
  assert.match(stop.stdout, /the guest did not power off within its wait of 10 s; QEMU was told/);
  assert.ok(s > 9 && s < 20, `${s} s`);
  assert.ok((readOr(log).match(/holds "99999999999999999999"/g) ?? []).length >= 2, "__stop too");
});

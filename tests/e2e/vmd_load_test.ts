// Load: 20 VMs started at once under one vm daemon (small TCG guests) all
// boot; TERM to vm daemon powers all 20 down gracefully, in parallel.
// (bench/vmd_stop.ts measures how long that takes.)
// Slow (half a minute or more): left out of test:quick.

import assert from "node:assert/strict";
import { join } from "node:path";
import { GUEST_POWERDOWN } from "../support/guest.ts";
import { readOr, TestEnv } from "../support/harness.ts";
import {
  allReady,
  type DaemonProc,
  killHard,
  leftovers,
  LOAD_MEM,
  makeAutostart,
  qemusIn,
  startDaemon,
} from "../support/daemon.ts";

const VMS = 20;
/** Generous: 20 TCG boots share 2 cores (and other tests' guests). */
const BOOT_ALL_MS = 600_000;
/** Each guest's wait: long enough that a slow power-off under load is still graceful. */
const WAIT_S = 120;

Deno.test(`load: ${VMS} VMs under one vm daemon all boot; TERM powers all ${VMS} down gracefully`, async () => {
  const t = TestEnv.create();
  let d: DaemonProc | undefined;
  try {
    const names = Array.from({ length: VMS }, (_, i) => `load${String(i + 1).padStart(2, "0")}`);
    const dirs = await makeAutostart(
      t,
      names.map((name) => ({ name, mem: LOAD_MEM, wait: WAIT_S })),
    );
    d = startDaemon(t);
    await allReady(dirs, BOOT_ALL_MS);
    assert.deepEqual(dirs.map((dir) => qemusIn(dir).length), dirs.map(() => 1));

    Deno.kill(d.pid, "SIGTERM");
    const st = await d.status;
    assert.equal(st.code, 0, d.log());
    assert.match(d.log(), new RegExp(`stopping ${VMS} VM\\(s\\) in parallel`));
    assert.deepEqual(leftovers(t.vmdir), [], d.log());
    for (const dir of dirs) {
      assert.ok(readOr(join(dir, "guest.log")).includes(GUEST_POWERDOWN), `${dir}: no power-down`);
      assert.match(readOr(join(dir, "log/main/current")), /the guest powered off in/, dir);
    }
  } finally {
    if (d !== undefined) killHard(d.pid);
    await t.close();
  }
});

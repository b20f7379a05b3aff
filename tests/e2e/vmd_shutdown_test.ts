// vm daemon's TERM (host shutdown) with real guests: vmd stops each VM
// itself over QMP (issue 23), so a plain VM's control/t and finish start no
// `vm` process (the launcher records every call), while what `vm __stop` and
// `vm __finish` did stays: the stop line in the VM's log, the stop record,
// the sockets removed, a VM's cleanup hook run, a crash-looping VM's backoff
// recorded and, at the stop, forgotten.
// Slow (half a minute or more): left out of test:quick.

import assert from "node:assert/strict";
import { join } from "node:path";
import { readStatus } from "../../lib/runit/status.ts";
import { F, SOCKETS } from "../../lib/layout.ts";
import { readStopRecord } from "../../lib/vm/stop_record.ts";
import { quoteWord } from "../../lib/text/shell_words.ts";
import { readOr, test, waitFor } from "../support/harness.ts";
import { allReady, leftovers, makeAutostart, startDaemon } from "../support/daemon.ts";

/** Whether something is at `path` (a socket, a dangling link: anything). */
function present(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

test("vm daemon: TERM stops VMs with no vm __stop or __finish for a plain VM; cleanup hook, stop record, sockets and backoff as before", async (t) => {
  // Every `vm` call: "<command> <VM name>" (runit's scripts name the VM's directory).
  const calls = join(t.root, "vm-calls");
  const launcher = Deno.readTextFileSync(t.vmExe);
  Deno.writeTextFileSync(
    t.vmExe,
    launcher.replace("#!/bin/sh\n", `#!/bin/sh\necho "$1 \${2##*/}" >>${quoteWord(calls)}\n`),
  );
  const [plain = "", hooked = "", broken = ""] = await makeAutostart(t, [
    { name: "plain" },
    { name: "hooked" },
    { name: "broken" },
  ]);
  Deno.writeTextFileSync(
    join(hooked, F.hooks),
    'cleanup() { echo "cleanup $1 $2" >cleanup.out; }\n',
    { mode: 0o600 },
  );
  Deno.writeTextFileSync(join(broken, "templates", "broken"), "-frobnicate\n");
  const d = startDaemon(t);
  await allReady([plain, hooked]);
  // The crash loop goes through vm __finish, which records the backoff.
  const brokenLog = join(broken, F.logCurrent);
  // In a backoff of 4 s or more: it lasts past the TERM.
  const inBackoff = () =>
    readStatus(broken)?.state === "finish" &&
    Number(readOr(join(broken, F.backoff)).split(" ")[0]) >= 4;
  assert.ok(await waitFor(inBackoff, 40_000), readOr(brokenLog));
  assert.match(readOr(brokenLog), /next start in 4 s/);
  assert.match(readOr(calls), /^__finish broken$/m);
  const qemu = readStatus(plain)?.pid ?? 0;

  const mark = readOr(calls).length;
  const t0 = Date.now();
  Deno.kill(d.pid, "SIGTERM");
  assert.equal((await d.status).code, 0, d.log());
  assert.deepEqual(leftovers(t.vmdir), [], d.log());
  // Only the VM with hooks started vm, for its cleanup.
  assert.deepEqual(readOr(calls).slice(mark).trim().split("\n"), ["__finish hooked"], d.log());
  assert.equal(readOr(join(hooked, "cleanup.out")), "cleanup 0 0\n");
  for (const [dir, name] of [[plain, "plain"], [hooked, "hooked"]] as const) {
    const log = readOr(join(dir, F.logCurrent));
    assert.match(log, new RegExp(`${name}: stop: the guest powered off in \\d+\\.\\d s\\n$`));
    assert.equal(log.split(" stop: ").length, 2, log); // said once
    assert.equal(readStatus(dir)?.state, "down");
    assert.deepEqual(SOCKETS.filter((s) => present(join(dir, s))), [], dir);
    assert.ok(!present(join(dir, F.vmdStop)), dir);
  }
  // vm stop's verdict comes from this record.
  assert.equal(readStopRecord(plain, qemu, t0)?.how, "poweroff");
  // The backoff ended at once and is forgotten.
  assert.equal(readStatus(broken)?.state, "down");
  assert.ok(!present(join(broken, F.backoff)));
});

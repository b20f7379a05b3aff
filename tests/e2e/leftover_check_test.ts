// The last test of the suite (files run in name order, in one process): no
// process may still work in a temp directory a test of this run made
// (tests/support/roots.ts records them). A process left there is named,
// killed by its PID, and fails the suite. First, the check is shown to see
// such a process.

import assert from "node:assert/strict";
import { pruneRecords, recordedRoots, rootsFile, stragglers } from "../support/roots.ts";
import { alive, TestEnv, waitFor } from "../support/harness.ts";
import { signal } from "../../lib/os/proc.ts";

Deno.test("the leftover check sees a process working in a test's temp dir", async () => {
  const t = TestEnv.create();
  const child = new Deno.Command("sleep", { args: ["600"], cwd: t.vmdir, stdin: "null" }).spawn();
  try {
    assert.ok(recordedRoots().includes(t.root), "TestEnv records its root");
    const found = stragglers([t.root]).map((s) => s.pid);
    assert.deepEqual(found, [child.pid]);
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await t.close();
  }
  assert.deepEqual(stragglers([t.root]), []);
});

Deno.test("after the suite, no process works in any test's temp dir", async () => {
  const roots = recordedRoots();
  const left = stragglers(roots);
  try {
    assert.deepEqual(
      left.map((s) => `PID ${s.pid} in ${s.cwd}: ${s.argv.join(" ")}`),
      [],
      "processes left by the tests (killed now)",
    );
  } finally {
    for (const s of left) signal(s.pid, "SIGKILL");
    await waitFor(() => left.every((s) => !alive(s.pid)), 5000);
    Deno.removeSync(rootsFile(), { recursive: true });
    pruneRecords();
  }
});
